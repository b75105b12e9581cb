/*
 * The retention rule as pure functions.
 *
 *   age >= delete_after_days            -> delete, "expired"
 *   disk pressure and age >= floor      -> delete, "space"
 *   critical pressure, keep-recording   -> delete, "space-below-floor" (a breach)
 *   held, or anything else              -> keep
 *
 * The age of a segment is measured from its end: a segment is as young as
 * its newest frame.
 */
#include <errno.h>
#include <string.h>

#include "retention/retention.h"
#include "util/banned.h"

const char *retention_decide(int64_t end_us, int64_t now_us, const struct retention_rule *rule,
			     enum retention_pressure pressure, enum on_full_policy on_full,
			     bool held)
{
	int64_t age = now_us - end_us;

	if (held)
		return NULL;
	if (age >= (int64_t)rule->delete_after_days * DAY_US)
		return RETENTION_EXPIRED;
	if (pressure >= PRESSURE_SPACE && age >= (int64_t)rule->retain_days * DAY_US)
		return RETENTION_SPACE;
	if (pressure == PRESSURE_CRITICAL && on_full == ON_FULL_KEEP_RECORDING)
		return RETENTION_BELOW_FLOOR;
	return NULL;
}

struct retention_rule retention_rule_for(const struct config *cfg, const char *camera)
{
	const struct camera_config *cam = config_camera(cfg, camera);
	struct retention_rule rule = {
		.retain_days = cam ? cam->retain_days : cfg->retain_days,
		.delete_after_days = cam ? cam->delete_after_days : cfg->delete_after_days,
	};
	if (rule.delete_after_days < rule.retain_days)
		rule.delete_after_days = rule.retain_days;
	return rule;
}
