/* The names of the camera states that health payloads carry. */
#include <errno.h>
#include <string.h>

#include "health/health.h"
#include "util/banned.h"

static const char *const state_names[] = { "starting", "recording",	"degraded", "reconnecting",
					   "down",     "storage-error", "stopped" };

const char *health_camera_state_name(enum health_camera_state s)
{
	return (unsigned)s < HEALTH_CAM_STATE_COUNT ? state_names[s] : "?";
}

int health_camera_state_parse(const char *name, enum health_camera_state *out)
{
	for (int i = 0; i < HEALTH_CAM_STATE_COUNT; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum health_camera_state)i;
			return 0;
		}
	}
	return -EINVAL;
}
