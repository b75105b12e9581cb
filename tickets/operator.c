/*
 * What a person does to tickets through `vigil tickets`: open the config's
 * ticket database, and acknowledge or resolve a ticket.  Those two are
 * events like the checker's own: written with their outbox row in one
 * transaction, so the running checker publishes them on MQTT and its
 * webhook delivers them, exactly as it does its own.  Nothing here prints:
 * the command says what happened.
 */
#include "tickets/tickets.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "util/banned.h"

int tickets_open_config(const struct config *cfg, bool write, struct ticket_db **db, char *err,
			size_t errlen)
{
	*db = NULL;
	if (access(cfg->checker_database, F_OK) < 0) {
		snprintf(err, errlen, "no ticket database at '%s'", cfg->checker_database);
		return -ENOENT;
	}
	/* a person's events go to the webhook as the checker's do */
	const char *outbox =
		write && cfg->webhook_url ? config_webhook_format_name(cfg->webhook_format) : NULL;
	*db = ticket_db_open(cfg->checker_database, write ? CATALOG_READ_WRITE : CATALOG_READ_ONLY,
			     outbox, err, errlen);
	return *db ? 0 : -EIO;
}

static int by_person(const char *by)
{
	/* "checker" marks the checker's own events */
	if (!by || !*by || strcmp(by, "checker") == 0 || strlen(by) >= TICKET_ID_MAX)
		return -EINVAL;
	return 0;
}

int tickets_acknowledge(struct ticket_db *db, int64_t id, int64_t now_us, const char *by,
			const char *note)
{
	int ret = by_person(by);
	if (ret < 0)
		return ret;
	return ticket_db_acknowledge(db, id, now_us, by, note ? note : "", NULL);
}

int tickets_resolve(struct ticket_db *db, int64_t id, int64_t now_us, const char *by,
		    const char *note)
{
	int ret = by_person(by);
	if (ret < 0)
		return ret;
	return ticket_db_resolve(db, id, now_us, -1, by, note ? note : "", NULL);
}
