/*
 * The webhook sink: a thread that delivers the ticket database's outbox
 * over HTTP (libcurl), so a slow or dead receiver never holds the checker
 * up.  Formats: plain JSON events, or the ticket APIs of GLPI, Zammad and
 * Redmine (creating the external ticket on "opened" and updating that same
 * ticket afterwards).  Internal to tickets/.
 *
 * Thread safety: webhook_wake may be called from any thread; the others
 * from the thread that created the webhook.
 */
#ifndef VIGIL_TICKETS_WEBHOOK_H
#define VIGIL_TICKETS_WEBHOOK_H

#include <stddef.h>

#include "config/config.h"
#include "util/metrics.h"

struct webhook;

/* A sender for cfg's [tickets] webhook over its own connection to the
 * ticket database.  NULL with a message in err on failure. */
struct webhook *webhook_new(const struct config *cfg, char *err, size_t errlen);
/* Counts deliveries and failed attempts into these (NULL: not counted).
 * Before webhook_start. */
void webhook_set_metrics(struct webhook *wh, struct metric *delivered, struct metric *failures);
/* Starts the sender thread; 0 or a negative errno. */
int webhook_start(struct webhook *wh);
/* New rows are in the outbox: look now rather than at the next poll. */
void webhook_wake(struct webhook *wh);
/* Stops the thread after the request under way (bounded by the timeout). */
void webhook_stop(struct webhook *wh);
void webhook_free(struct webhook **wh);

#endif
