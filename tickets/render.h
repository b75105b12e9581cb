/*
 * How a ticket reads, for people and for machines: one sentence a
 * technician can act on, and the JSON object every sink and the tickets
 * command share.  Internal to health/.
 */
#ifndef VIGIL_HEALTH_RENDER_H
#define VIGIL_HEALTH_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tickets/tickets.h"
#include "util/json.h"

/*
 * "Camera gate3 (Gate 3 inbound lane, Zone 1 bonded warehouse) down since
 * 14:02, 25 min", or for a resolved ticket "... was down from 14:02 to
 * 14:40 (38 min)".  Times are local; now_us gives the running duration.
 */
void health_ticket_text(const struct ticket *t, int64_t now_us, char *out, size_t size);

/* A short title for ticket systems: "vigil #12: camera gate3 down (Gate 3
 * inbound lane, Zone 1 bonded warehouse)". */
void health_ticket_title(const struct ticket *t, char *out, size_t size);

/*
 * The ticket as one JSON object: the keys of DESIGN.md (id, kind, level,
 * state, recorder, camera, site, opened, acknowledged, resolved,
 * fault_start, fault_end; times RFC 3339 UTC or null) and more (location,
 * escalated, acknowledged_by, resolved_by, detail, text, duration_s,
 * external_id).
 */
void health_ticket_json(struct json_writer *w, const struct ticket *t, int64_t now_us);
/* The body of the ticket object without its braces, to extend it. */
void health_ticket_json_fields(struct json_writer *w, const struct ticket *t, int64_t now_us);

/* An event as a JSON object: {id, kind, at, level, actor, note, key}. */
void health_event_json(struct json_writer *w, const struct ticket_event *ev);

/* "14:02" (or "14:02:11" with seconds) when us falls on the same local day
 * as now_us, else "2026-11-02 14:02". */
void health_clock_text(int64_t us, int64_t now_us, bool seconds, char *out, size_t size);

/* "40 s", "25 min", "1 h 05 min", "2 d 3 h". */
void health_duration_text(int64_t us, char *out, size_t size);

#endif
