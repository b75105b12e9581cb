/*
 * fuzz_rtsp.c: libFuzzer target for the RTSP/RTP path of `vigil record`.
 *
 * Each input is a hostile.h script.  A server thread on loopback plays it
 * to one connection while vigil's real ingest (ingest_new/start/stop, one
 * camera, the catalog and segment writer of the recorder, libavformat's
 * RTSP client) records from it, with the shortest deadlines the config
 * allows (stall and connect 1 s).  Then the recorder is stopped.
 *
 * What counts as a bug, besides what ASan and UBSan report in vigil's
 * code: stopping taking longer than twice the longest deadline (a worker
 * stuck in libavformat; libFuzzer's -timeout catches a worse hang), and a
 * catalog that `vigil verify` would not pass: every VERIFY_EVERY inputs
 * and at the end the catalog is checked against its audit chain and every
 * file re-hashed, and any problem aborts.
 *
 * Logging runs at debug level, so the scrubbing of what libavformat says
 * about hostile input runs too; run with -close_fd_mask=2 to keep it off
 * the terminal (tests/fuzz/run does).
 */
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavformat/avformat.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "ingest/ingest.h"
#include "retention/retention.h"
#include "tests/fuzz/hostile.h"
#include "util/log.h"
#include "util/sha256.h"

#define SERVE_BUDGET_MS 3000
#define STOP_LIMIT_US (2 * 1000000) /* twice the longest deadline (1 s) */
#define VERIFY_EVERY 100

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int listen_fd = -1;
static char dir[256];
static struct config *cfg;
static struct catalog *cat;
static unsigned long runs;

struct serve_job {
	const uint8_t *data;
	size_t size;
};

static int64_t mono_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void *serve_one(void *arg)
{
	struct serve_job *job = arg;
	struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };

	if (poll(&pfd, 1, SERVE_BUDGET_MS) != 1)
		return NULL;
	int fd = accept(listen_fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	hostile_serve(fd, job->data, job->size, SERVE_BUDGET_MS, NULL);
	close(fd);
	return NULL;
}

static int count_problem(const struct catalog_problem *p, void *ctx)
{
	fprintf(stderr, "fuzz_rtsp: catalog problem: %s camera '%s' segment %lld %s: %s\n",
		p->kind, p->camera, (long long)p->segment_id, p->path, p->detail);
	(*(int *)ctx)++;
	return 0;
}

static void verify_catalog(void)
{
	struct verify_options o = { .hash_files = true };
	struct verify_counts counts;
	int problems = 0;

	if (retention_verify(cfg, cat, &o, count_problem, &problems, &counts) < 0 || problems) {
		fprintf(stderr, "fuzz_rtsp: the catalog does not verify after %lu inputs\n", runs);
		abort();
	}
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(path);
	return 0;
}

static void at_exit(void)
{
	if (cat && runs)
		verify_catalog();
	catalog_close(&cat);
	config_free(&cfg);
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct config_problems problems = { 0 };
	char path[300], err[256];
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	FILE *f;

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/vigil-fuzz-rtsp-XXXXXX", base);
	if (!mkdtemp(dir))
		abort();
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(listen_fd, 4) < 0 || getsockname(listen_fd, (struct sockaddr *)&a, &alen) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/vigil.ini", dir);
	if (!(f = fopen(path, "w")))
		abort();
	fprintf(f,
		"[recorder]\nid = fuzz\nallow_root = true\nlog_level = debug\nstall_seconds = 1\n"
		"connect_timeout_seconds = 1\nreconnect_min_seconds = 1\nreconnect_max_seconds = 1\n"
		"[storage]\npath = %s/footage\nfsync_seconds = 3600\n"
		"[camera cam1]\nurl = rtsp://viewer@127.0.0.1:%d/cam1\npassword_env = FUZZ_PASS\n"
		"segment_seconds = 2\n",
		dir, ntohs(a.sin_port));
	fclose(f);
	setenv("FUZZ_PASS", "Cn@ry!%/:", 1);
	if (!(cfg = config_load(path, &problems))) {
		config_problems_print(&problems, stderr);
		abort();
	}
	config_problems_release(&problems);
	mkdir(cfg->storage_path, 0750);
	if (!(cat = catalog_open(cfg->catalog_path, CATALOG_READ_WRITE, err, sizeof(err)))) {
		fprintf(stderr, "fuzz_rtsp: %s\n", err);
		abort();
	}
	log_set_level(LOG_LEVEL_DEBUG);
	ingest_install_av_log();
	avformat_network_init();
	/* OpenSSL (SHA-256) registers its own clean-up at its first use:
	 * before ours, so that ours, which hashes, runs first */
	char hex[SHA256_HEX_SIZE];
	sha256_hex("", 0, hex);
	atexit(at_exit);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct serve_job job = { data, size };
	pthread_t server;
	struct ingest *ing;

	if (size > 1 << 20)
		return -1;
	if (pthread_create(&server, NULL, serve_one, &job) != 0)
		abort();
	if (!(ing = ingest_new(cfg, cat, NULL)) || ingest_start(ing) < 0)
		abort();
	pthread_join(server, NULL);
	int64_t t = mono_us();
	ingest_stop(ing);
	t = mono_us() - t;
	if (t > STOP_LIMIT_US) {
		fprintf(stderr, "fuzz_rtsp: stopping the recorder took %.1f s: a worker was stuck\n",
			(double)t / 1e6);
		abort();
	}
	ingest_free(&ing);
	if (++runs % VERIFY_EVERY == 0)
		verify_catalog();
	return 0;
}
