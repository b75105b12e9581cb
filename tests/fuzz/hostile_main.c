/*
 * hostile_main.c: hostile-rtsp, the hostile RTSP server as a program, for
 * the integration test that points a real `vigil record` at it
 * (tests/integration/test_security_hostile_rtsp.py).
 *
 *   hostile-rtsp [--port P] [--budget-ms MS] CASE_FILE...
 *
 * Listens on 127.0.0.1 (port 0: the system picks), prints
 * "hostile ready port=P cases=N" on stdout and serves every connection in
 * its own thread: the case is the file whose name is the last element of
 * the URL of the client's first request (rtsp://HOST:P/any/NAME), or the
 * connection's number modulo N when no case has that name.  One line per
 * connection on stdout: "served NAME requests=R media=M played=0|1
 * client_closed=0|1 budget_out=0|1 ms=D".  Runs until SIGTERM or SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/fuzz/hostile.h"

#define MAX_CASES 1024
#define MAX_CASE_BYTES (1 << 20)

struct hcase {
	char name[128];
	uint8_t *data;
	size_t size;
};

static struct hcase cases[MAX_CASES];
static int ncases;
static int budget_ms = 5000;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static int load_case(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	const char *slash = strrchr(path, '/');
	struct hcase *c = &cases[ncases];

	if (ncases == MAX_CASES || fd < 0 || fstat(fd, &st) < 0 || st.st_size > MAX_CASE_BYTES) {
		fprintf(stderr, "hostile-rtsp: cannot load case '%s'\n", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	c->size = (size_t)st.st_size;
	c->data = malloc(c->size ? c->size : 1);
	if (!c->data || read(fd, c->data, c->size) != (ssize_t)c->size) {
		close(fd);
		return -1;
	}
	close(fd);
	snprintf(c->name, sizeof(c->name), "%s", slash ? slash + 1 : path);
	ncases++;
	return 0;
}

/* The case named by the first request's URL, peeked at (not consumed). */
static const struct hcase *choose(int fd, unsigned long n)
{
	char buf[2048];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, 2000) == 1) {
		ssize_t r = recv(fd, buf, sizeof(buf) - 1, MSG_PEEK);
		if (r > 0) {
			buf[r] = '\0';
			char *eol = strstr(buf, " RTSP/");
			if (eol) {
				*eol = '\0';
				char *name = strrchr(buf, '/');
				for (int i = 0; name && i < ncases; i++)
					if (strcmp(cases[i].name, name + 1) == 0)
						return &cases[i];
			}
		}
	}
	return &cases[n % (unsigned long)ncases];
}

struct job {
	int fd;
	unsigned long n;
};

static void *serve(void *arg)
{
	struct job *j = arg;
	struct hostile_stats st;
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	const struct hcase *c = choose(j->fd, j->n);
	int ret = hostile_serve(j->fd, c->data, c->size, budget_ms, &st);
	close(j->fd);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	pthread_mutex_lock(&out_lock);
	printf("served %s requests=%d media=%d played=%d client_closed=%d budget_out=%d ms=%ld "
	       "basic_auth=%d\n",
	       c->name, st.requests, st.media, st.played, st.client_closed, ret < 0, ms,
	       st.basic_auth);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	free(j);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int port = 0, i, lfd;
	unsigned long n = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (strcmp(argv[i], "--budget-ms") == 0 && i + 1 < argc)
			budget_ms = atoi(argv[++i]);
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("usage: hostile-rtsp [--port P] [--budget-ms MS] CASE_FILE...\n");
			return 0;
		} else if (load_case(argv[i]) < 0)
			return 2;
	}
	if (ncases == 0) {
		fprintf(stderr, "hostile-rtsp: no case files\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	a.sin_port = htons((uint16_t)port);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
		fprintf(stderr, "hostile-rtsp: cannot listen: %s\n", strerror(errno));
		return 1;
	}
	printf("hostile ready port=%d cases=%d\n", ntohs(a.sin_port), ncases);
	fflush(stdout);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return 1;
		}
		struct job *j = malloc(sizeof(*j));
		pthread_t t;
		if (!j) {
			close(fd);
			continue;
		}
		j->fd = fd;
		j->n = n++;
		if (pthread_create(&t, NULL, serve, j) != 0) {
			close(fd);
			free(j);
			continue;
		}
		pthread_detach(t);
	}
}
