/* ingest/evloop: tasks on I/O loops, their waits, offloaded jobs, detach. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ingest/evloop.h"
#include "tests/unit/test.h"
#include "util/clock.h"

#define MS INT64_C(1000)

/* ---- a reader woken by its socket, and by its deadline ------------------ */

struct reader {
	int fd;
	int got;		/* bytes read */
	int timeouts;		/* waits that hit their deadline */
	int64_t woke_after_us;	/* from the write to the wake-up */
	_Atomic int64_t wrote_at;
	bool in_task;
	bool ok;
};

static void reader_task(void *arg)
{
	struct reader *r = arg;
	char buf[64];

	r->in_task = evloop_in_task();
	/* nothing comes for 50 ms: the wait ends at its deadline */
	int64_t t0 = clock_mono_us();
	if (evloop_wait_fd(r->fd, POLLIN, t0 + 50 * MS) == -ETIMEDOUT)
		r->timeouts++;
	r->ok = clock_mono_us() - t0 >= 50 * MS;
	/* then the writer sends: the wait ends when it comes */
	while (r->got < 5) {
		ssize_t n = recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			r->got += (int)n;
			if (!r->woke_after_us)
				r->woke_after_us = clock_mono_us() - atomic_load(&r->wrote_at);
			continue;
		}
		if (n == 0)
			break;
		if (evloop_wait_fd(r->fd, POLLIN, clock_mono_us() + 5000 * MS) == -ETIMEDOUT)
			r->timeouts++;
	}
	evloop_forget_fd(r->fd);
}

static void wait_fd_wakes_and_times_out(void)
{
	struct evloop_group *g;
	struct reader r = { 0 };
	int sv[2];

	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	r.fd = sv[0];
	CHECK_INT(evloop_group_new(&g, 1), 0);
	CHECK_INT(evloop_spawn(g, reader_task, &r, "reader"), 0);
	usleep(150 * 1000); /* the reader has timed out once, and waits */
	atomic_store(&r.wrote_at, clock_mono_us());
	CHECK_INT(write(sv[1], "hello", 5), 5);
	evloop_group_free(&g);
	CHECK(g == NULL);
	CHECK(r.in_task);
	CHECK(r.ok);
	CHECK_INT(r.got, 5);
	CHECK_INT(r.timeouts, 1);
	/* woken by the socket, not by the 5 s deadline */
	CHECK(r.woke_after_us < 1000 * MS);
	CHECK(!evloop_in_task());
	close(sv[0]);
	close(sv[1]);
}

/* ---- many sleepers wake in deadline order -------------------------------- */

#define SLEEPERS 300

struct sleepers {
	int64_t start;
	atomic_int order[SLEEPERS];
	atomic_int next;
	int early; /* woke before its time */
	atomic_int early_count;
};

struct sleeper {
	struct sleepers *s;
	int i;
};

static void sleeper_task(void *arg)
{
	struct sleeper *me = arg;
	/* the later-spawned sleep less: the order of waking is not that of
	 * spawning */
	int64_t until = me->s->start + (SLEEPERS - me->i) * MS;
	evloop_sleep_until(until);
	if (clock_mono_us() < until)
		atomic_fetch_add(&me->s->early_count, 1);
	atomic_store(&me->s->order[atomic_fetch_add(&me->s->next, 1)], me->i);
}

static void sleepers_wake_in_order(void)
{
	struct evloop_group *g;
	static struct sleepers s;
	static struct sleeper me[SLEEPERS];

	memset(&s, 0, sizeof(s));
	CHECK_INT(evloop_group_new(&g, 1), 0);
	s.start = clock_mono_us() + 100 * MS;
	for (int i = 0; i < SLEEPERS; i++) {
		me[i] = (struct sleeper){ &s, i };
		CHECK_INT(evloop_spawn(g, sleeper_task, &me[i], "sleeper"), 0);
	}
	evloop_group_free(&g);
	CHECK_INT(atomic_load(&s.next), SLEEPERS);
	CHECK_INT(atomic_load(&s.early_count), 0);
	int inversions = 0;
	for (int k = 1; k < SLEEPERS; k++)
		inversions += atomic_load(&s.order[k]) > atomic_load(&s.order[k - 1]);
	CHECK_INT(inversions, 0);
}

/* ---- an offloaded job runs elsewhere, and the loop goes on --------------- */

/* Another task on the same loop, counting its 10 ms ticks while `busy`:
 * it ran while a task blocked, or it did not. */
struct ticking {
	atomic_bool busy;
	atomic_int ticks;
};

static void ticker_task(void *arg)
{
	struct ticking *k = arg;
	int64_t end = clock_mono_us() + 400 * MS;
	while (clock_mono_us() < end) {
		evloop_sleep_until(clock_mono_us() + 10 * MS);
		if (atomic_load(&k->busy))
			atomic_fetch_add(&k->ticks, 1);
	}
}

struct offload {
	pthread_t loop_thread, job_thread;
	int ret;
	struct ticking during_job;
};

static int slow_job(void *arg)
{
	struct offload *o = arg;
	o->job_thread = pthread_self();
	atomic_store(&o->during_job.busy, true);
	usleep(200 * 1000); /* a slow fdatasync, say */
	atomic_store(&o->during_job.busy, false);
	return 42;
}

static void offloader_task(void *arg)
{
	struct offload *o = arg;
	o->loop_thread = pthread_self();
	o->ret = evloop_offload(slow_job, o);
}

static void offload_runs_off_the_loop(void)
{
	struct evloop_group *g;
	struct offload o = { 0 };

	CHECK_INT(evloop_group_new(&g, 1), 0);
	CHECK_INT(evloop_spawn(g, offloader_task, &o, "offloader"), 0);
	CHECK_INT(evloop_spawn(g, ticker_task, &o.during_job, "ticker"), 0);
	evloop_group_free(&g);
	CHECK_INT(o.ret, 42);
	CHECK(!pthread_equal(o.loop_thread, o.job_thread));
	/* the ticker, on the same loop, ran while the job blocked */
	CHECK(atomic_load(&o.during_job.ticks) >= 5);
	/* outside a task, in place */
	CHECK_INT(evloop_offload(slow_job, &o), 42);
	CHECK(pthread_equal(o.job_thread, pthread_self()));
}

/* ---- detach: on, in a thread of its own ---------------------------------- */

struct detach {
	pid_t before, after; /* gettid(): pthread_self() is const to the compiler */
	bool in_task_after;
	int ret;
	struct ticking while_blocking;
};

static void detacher_task(void *arg)
{
	struct detach *d = arg;
	char big[64 * 1024]; /* the stack goes with it */
	memset(big, 7, sizeof(big));
	d->before = gettid();
	d->ret = evloop_detach();
	d->after = gettid();
	d->in_task_after = evloop_in_task();
	atomic_store(&d->while_blocking.busy, true);
	usleep(200 * 1000); /* a blocking call: the loop does not wait for it */
	atomic_store(&d->while_blocking.busy, false);
	if (big[sizeof(big) - 1] != 7)
		d->ret = -1;
}

static void detach_moves_to_a_thread(void)
{
	struct evloop_group *g;
	struct detach d = { 0 };

	CHECK_INT(evloop_group_new(&g, 1), 0);
	CHECK_INT(evloop_spawn(g, detacher_task, &d, "detacher"), 0);
	CHECK_INT(evloop_spawn(g, ticker_task, &d.while_blocking, "ticker"), 0);
	evloop_group_free(&g); /* waits for the detached task too */
	CHECK_INT(d.ret, 0);
	CHECK(d.before != d.after);
	CHECK(!d.in_task_after);
	CHECK(atomic_load(&d.while_blocking.ticks) >= 5);
}

/* ---- a task that never waits does not starve the others ----------------- */

struct busy {
	atomic_bool stop;
	atomic_int other_ran;
};

static void spinner_task(void *arg)
{
	struct busy *b = arg;
	int64_t end = clock_mono_us() + 300 * MS;
	while (clock_mono_us() < end && !atomic_load(&b->stop))
		evloop_yield_if_busy();
}

static void polite_task(void *arg)
{
	struct busy *b = arg;
	for (int i = 0; i < 5; i++) {
		evloop_sleep_until(clock_mono_us() + 5 * MS);
		atomic_fetch_add(&b->other_ran, 1);
	}
	atomic_store(&b->stop, true);
}

static void busy_task_yields(void)
{
	struct evloop_group *g;
	struct busy b = { 0 };
	int64_t t0 = clock_mono_us();

	CHECK_INT(evloop_group_new(&g, 1), 0);
	CHECK_INT(evloop_spawn(g, spinner_task, &b, "spinner"), 0);
	CHECK_INT(evloop_spawn(g, polite_task, &b, "polite"), 0);
	evloop_group_free(&g);
	CHECK_INT(atomic_load(&b.other_ran), 5);
	/* the polite task finished (and stopped the spinner) well before the
	 * spinner's own 300 ms */
	CHECK(clock_mono_us() - t0 < 250 * MS);
}

/* ---- a socket number reused after a close the loop was told of ----------- */

struct reuse {
	int rounds_ok;
};

static void reuse_task(void *arg)
{
	struct reuse *r = arg;
	for (int round = 0; round < 3; round++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
			return;
		if (write(sv[1], "x", 1) == 1 &&
		    evloop_wait_fd(sv[0], POLLIN, clock_mono_us() + 1000 * MS) == 0)
			r->rounds_ok++;
		evloop_forget_fd(sv[0]);
		close(sv[0]);
		close(sv[1]);
	}
}

static void fd_numbers_reused(void)
{
	struct evloop_group *g;
	struct reuse r = { 0 };

	CHECK_INT(evloop_group_new(&g, 2), 0);
	CHECK_INT(evloop_spawn(g, reuse_task, &r, "reuse"), 0);
	evloop_group_free(&g);
	CHECK_INT(r.rounds_ok, 3);
}

const struct test_case evloop_tests[] = {
	{ "wait_fd_wakes_and_times_out", wait_fd_wakes_and_times_out },
	{ "sleepers_wake_in_order", sleepers_wake_in_order },
	{ "offload_runs_off_the_loop", offload_runs_off_the_loop },
	{ "detach_moves_to_a_thread", detach_moves_to_a_thread },
	{ "busy_task_yields", busy_task_yields },
	{ "fd_numbers_reused", fd_numbers_reused },
	{ NULL, NULL },
};
