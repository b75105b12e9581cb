/*
 * fuzz_config.c: libFuzzer target for the config parser.
 *
 * The input is written to a file and loaded with config_load_flags() the
 * way each command does: `vigil record` (every credential resolved: env,
 * url_file, password_file, token_file), the read-only commands
 * (CONFIG_SKIP_CREDENTIALS) and the checker (camera credentials skipped),
 * chosen by the input's length so every input runs one of them.  Every
 * problem is printed, as `vigil config check` does (to /dev/null).  ASan
 * and UBSan watch the parser (inih underneath, the key table, validation,
 * URL and credential handling) and LeakSanitizer the release paths.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256];
static int fd = -1;
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "%s/vigil-fuzz-config-XXXXXX", base);
	fd = mkstemp(path);
	devnull = fopen("/dev/null", "w");
	if (fd < 0 || !devnull)
		abort();
	/* what password_env and token_env name, when an input names them */
	setenv("CAM_PASS", "Cn@ry!%/:", 1);
	setenv("MQTT_PASS", "secret", 1);
	return 0;
}

static void at_exit(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned modes[] = { 0, CONFIG_SKIP_CREDENTIALS, CONFIG_SKIP_CAMERA_CREDENTIALS };
	static int registered;
	struct config_problems problems = { 0 };
	struct config *cfg;

	if (!registered) {
		atexit(at_exit);
		registered = 1;
	}
	if (size > 256 * 1024)
		return -1;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	cfg = config_load_flags(path, modes[size % 3], &problems);
	config_problems_print(&problems, devnull);
	if (cfg) {
		for (size_t i = 0; i < cfg->ncameras; i++)
			if (!config_camera(cfg, cfg->cameras[i].id))
				abort(); /* a camera that cannot be found by its id */
	}
	config_free(&cfg);
	config_problems_release(&problems);
	return 0;
}
