/*
 * I/O threads running camera workers as tasks (see evloop.h).
 *
 * A loop thread owns its tasks: it switches to one, and the task runs
 * until it waits (a socket, a deadline, an offloaded job), detaches or
 * ends, each time switching back.  While a task runs, nothing else on its
 * loop does, so a task sets up its own wait (its place in the timer heap,
 * its socket in the epoll set) before switching back, and the loop's
 * structures need no lock.  Two things come from other threads, through
 * the loop's `inbox` (a list under a mutex) and its eventfd: new tasks
 * (evloop_spawn) and tasks whose offloaded job is done (the pool).
 *
 * Sockets are registered edge-triggered, once per socket: the loop notes
 * an edge in the task (readable, writable) whether or not the task waits
 * for it, and wakes the task when it does.  A reader that takes less than
 * it asked for has emptied the socket (evloop_drained), so no edge is
 * missed: the next arrival makes one.  With SO_RCVLOWAT raised, TCP makes
 * the edge only once that much has come, which is what keeps a loop's
 * wake-ups to a few a second per camera.
 *
 * The switch: on x86-64, a few instructions saving the callee-saved
 * registers and the stack pointer (and the SSE/x87 control words);
 * elsewhere swapcontext(3), which also saves the signal mask (a system
 * call per switch).  Under AddressSanitizer each switch is announced to
 * it, so it checks the right stack.
 *
 * Thread safety: see evloop.h.  `inbox` is guarded by the loop's lock;
 * the pool's queue and the group's count of live tasks by theirs.
 */
#include "ingest/evloop.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/banned.h"

#if defined(__SANITIZE_ADDRESS__)
#define EVLOOP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EVLOOP_ASAN 1
#endif
#endif
#ifdef EVLOOP_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#define EVENTS_PER_WAIT 128
/* A pool thread idle this long ends, down to POOL_KEEP threads: a burst
 * (every camera starting at once, a disk slow for a while) leaves no crowd
 * of idle threads behind. */
#define POOL_IDLE_US (10 * USEC_PER_SEC)
#define POOL_KEEP 2

struct context {
#if defined(__x86_64__)
	void *sp;
#else
	ucontext_t uc;
#endif
};

enum task_wait { WAIT_NONE, WAIT_FD, WAIT_SLEEP, WAIT_JOB };
enum task_request { REQ_NONE, REQ_DETACH, REQ_EXIT };

struct loop;
struct task;

/* Tasks in order, linked through their `next`. */
struct task_list {
	struct task *head, *tail;
};

struct task {
	struct evloop_group *group;
	struct loop *loop; /* NULL once detached */
	struct context ctx;
	struct context *home; /* what the task switches back to */
	void *map;	      /* the stack's mapping, guard page first */
	size_t map_size;
	void (*entry)(void *);
	void *arg;
	const char *name;
	struct task *next; /* in a ready list, the inbox or the pool's queue */
	bool fresh;	   /* spawned, not yet counted by its loop */

	enum task_wait wait;
	enum task_request req;
	int detach_ret;

	int fd; /* registered in the loop's epoll set, -1: none */
	short want;
	bool readable, writable;

	int64_t wake_at;
	int heap_at; /* -1: not in the timer heap */

	int (*job)(void *);
	void *job_arg;
	int job_ret;

#ifdef EVLOOP_ASAN
	void *fake_stack;
	const void *home_bottom;
	size_t home_size;
#endif
};

struct loop {
	struct evloop_group *group;
	pthread_t thread;
	bool started;
	int epfd, efd;
	struct context sched;
	int ntasks;
	int64_t resumed_at; /* when the running task was switched to */
	struct task_list ready;
	struct task **heap;
	int nheap, heap_cap;
	pthread_mutex_t lock; /* guards inbox */
	struct task *inbox;
};

struct evloop_group {
	struct loop *loops;
	int nloops;
	unsigned next;
	atomic_bool quitting;
	bool joined;

	pthread_mutex_t lock; /* guards live */
	pthread_cond_t ended;
	int live;

	pthread_mutex_t pool_lock; /* guards the rest */
	pthread_cond_t pool_gone;  /* a pool thread ended */
	struct task_list jobs;
	struct idler *idle_top; /* the pool's idle threads, the latest first */
	int njobs, pool_idle, pool_threads;
	bool pool_quit;
};

/* A pool thread waiting for work.  The one that went idle last is woken
 * first, so with fewer jobs than threads the same few do them and the
 * rest stay idle long enough to end. */
struct idler {
	pthread_cond_t cond;
	struct idler *next;
	bool woken;
};

static __thread struct task *current_task;

/* ---- switching ---------------------------------------------------------- */

void evloop_task_main(struct task *t) __attribute__((visibility("hidden"), noreturn, used));

#if defined(__x86_64__)
void evloop_switch(void **save_sp, void *to_sp);
__asm__(".text\n"
	".p2align 4\n"
	".type evloop_switch,@function\n"
	"evloop_switch:\n"
	"\tpushq %rbp\n"
	"\tpushq %rbx\n"
	"\tpushq %r12\n"
	"\tpushq %r13\n"
	"\tpushq %r14\n"
	"\tpushq %r15\n"
	"\tsubq $8, %rsp\n"
	"\tstmxcsr (%rsp)\n"
	"\tfnstcw 4(%rsp)\n"
	"\tmovq %rsp, (%rdi)\n"
	"\tmovq %rsi, %rsp\n"
	"\tldmxcsr (%rsp)\n"
	"\tfldcw 4(%rsp)\n"
	"\taddq $8, %rsp\n"
	"\tpopq %r15\n"
	"\tpopq %r14\n"
	"\tpopq %r13\n"
	"\tpopq %r12\n"
	"\tpopq %rbx\n"
	"\tpopq %rbp\n"
	"\tret\n"
	".size evloop_switch, .-evloop_switch\n"
	".p2align 4\n"
	".type evloop_trampoline,@function\n"
	"evloop_trampoline:\n"
	"\tmovq %r12, %rdi\n"
	"\tcall evloop_task_main@PLT\n"
	"\tud2\n"
	".size evloop_trampoline, .-evloop_trampoline\n");
void evloop_trampoline(void);

static void context_make(struct task *t, void *stack, size_t size)
{
	uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
	uint64_t *sp = (uint64_t *)top;
	/* what evloop_switch pops, then its return address: the trampoline,
	 * entered with the stack aligned as at a call */
	*--sp = (uint64_t)(uintptr_t)evloop_trampoline;
	*--sp = 0;					     /* rbp */
	*--sp = 0;					     /* rbx */
	*--sp = (uint64_t)(uintptr_t)t;			     /* r12: the task */
	*--sp = 0;					     /* r13 */
	*--sp = 0;					     /* r14 */
	*--sp = 0;					     /* r15 */
	*--sp = UINT64_C(0x1f80) | (UINT64_C(0x037f) << 32); /* MXCSR, x87 CW */
	t->ctx.sp = sp;
}

static void context_switch(struct context *from, struct context *to)
{
	evloop_switch(&from->sp, to->sp);
}
#else
static void trampoline_uc(unsigned hi, unsigned lo)
{
	evloop_task_main((struct task *)(((uintptr_t)hi << 32) | (uintptr_t)lo));
}

static void context_make(struct task *t, void *stack, size_t size)
{
	uintptr_t p = (uintptr_t)t;
	getcontext(&t->ctx.uc);
	t->ctx.uc.uc_stack.ss_sp = stack;
	t->ctx.uc.uc_stack.ss_size = size;
	t->ctx.uc.uc_link = NULL;
	makecontext(&t->ctx.uc, (void (*)(void))trampoline_uc, 2, (unsigned)(p >> 32),
		    (unsigned)(p & 0xffffffffu));
}

static void context_switch(struct context *from, struct context *to)
{
	swapcontext(&from->uc, &to->uc);
}
#endif

static void *task_stack(const struct task *t)
{
	return (char *)t->map + getpagesize();
}

/* From a thread's own stack (its loop, or the thread of a detached task)
 * into task t, until t switches back. */
static void resume(struct task *t)
{
#ifdef EVLOOP_ASAN
	void *fake = NULL;
	__sanitizer_start_switch_fiber(&fake, task_stack(t), EVLOOP_STACK_SIZE);
#endif
	context_switch(t->home, &t->ctx);
#ifdef EVLOOP_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

/* From task t back to its home; returns when it is resumed. */
static void suspend(struct task *t)
{
#ifdef EVLOOP_ASAN
	__sanitizer_start_switch_fiber(t->req == REQ_EXIT ? NULL : &t->fake_stack, t->home_bottom,
				       t->home_size);
#endif
	context_switch(&t->ctx, t->home);
#ifdef EVLOOP_ASAN
	__sanitizer_finish_switch_fiber(t->fake_stack, &t->home_bottom, &t->home_size);
#endif
}

void evloop_task_main(struct task *t)
{
#ifdef EVLOOP_ASAN
	__sanitizer_finish_switch_fiber(NULL, &t->home_bottom, &t->home_size);
#endif
	t->entry(t->arg);
	t->req = REQ_EXIT;
	suspend(t);
	abort(); /* an ended task is never resumed */
}

/* ---- the timer heap -------------------------------------------------------- */

static void heap_set(struct loop *l, int i, struct task *t)
{
	l->heap[i] = t;
	t->heap_at = i;
}

static void heap_up(struct loop *l, int i)
{
	struct task *t = l->heap[i];
	while (i > 0 && l->heap[(i - 1) / 2]->wake_at > t->wake_at) {
		heap_set(l, i, l->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(l, i, t);
}

static void heap_down(struct loop *l, int i)
{
	struct task *t = l->heap[i];
	for (;;) {
		int c = 2 * i + 1;
		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && l->heap[c + 1]->wake_at < l->heap[c]->wake_at)
			c++;
		if (l->heap[c]->wake_at >= t->wake_at)
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

/* Room for every task of the loop is made when a task joins it, so this
 * never fails. */
static void heap_add(struct loop *l, struct task *t, int64_t at)
{
	t->wake_at = at;
	heap_set(l, l->nheap++, t);
	heap_up(l, t->heap_at);
}

static void heap_remove(struct loop *l, struct task *t)
{
	int i = t->heap_at;
	if (i < 0)
		return;
	t->heap_at = -1;
	struct task *last = l->heap[--l->nheap];
	if (i == l->nheap)
		return;
	heap_set(l, i, last);
	heap_up(l, i);
	heap_down(l, last->heap_at);
}

/* ---- the loop -------------------------------------------------------------- */

static void list_push(struct task_list *list, struct task *t)
{
	t->next = NULL;
	if (list->tail)
		list->tail->next = t;
	else
		list->head = t;
	list->tail = t;
}

static struct task *list_pop(struct task_list *list)
{
	struct task *t = list->head;
	if (t && !(list->head = t->next))
		list->tail = NULL;
	return t;
}

static void make_ready(struct loop *l, struct task *t)
{
	t->wait = WAIT_NONE;
	heap_remove(l, t);
	list_push(&l->ready, t);
}

static void wake_loop(struct loop *l)
{
	uint64_t one = 1;
	while (write(l->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void post(struct loop *l, struct task *t)
{
	pthread_mutex_lock(&l->lock);
	t->next = l->inbox;
	l->inbox = t;
	pthread_mutex_unlock(&l->lock);
	wake_loop(l);
}

static void unregister_fd(struct loop *l, struct task *t)
{
	if (t->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, t->fd, NULL);
	t->fd = -1;
	t->readable = t->writable = false;
}

static void free_task(struct task *t)
{
	munmap(t->map, t->map_size);
	free(t);
}

static void task_ended(struct evloop_group *g)
{
	pthread_mutex_lock(&g->lock);
	if (--g->live == 0)
		pthread_cond_broadcast(&g->ended);
	pthread_mutex_unlock(&g->lock);
}

static void *detached_main(void *arg)
{
	struct task *t = arg;
	struct context home;

	evloop_name_thread(t->name);
	t->home = &home;
	resume(t); /* until it ends: it never waits on a loop again */
	struct evloop_group *g = t->group;
	free_task(t);
	task_ended(g);
	return NULL;
}

/* Returns 0, or a negative errno. */
static int start_thread_detached(void *(*entry)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t thread;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&thread, &attr, entry, arg);
	pthread_attr_destroy(&attr);
	return -err;
}

static void run_task(struct loop *l, struct task *t)
{
	t->req = REQ_NONE;
	current_task = t;
	l->resumed_at = clock_mono_us();
	resume(t);
	current_task = NULL;
	if (t->req == REQ_EXIT) {
		unregister_fd(l, t);
		heap_remove(l, t);
		l->ntasks--;
		free_task(t);
		task_ended(l->group);
	} else if (t->req == REQ_DETACH) {
		unregister_fd(l, t);
		heap_remove(l, t);
		t->loop = NULL;
		int ret = start_thread_detached(detached_main, t);
		if (ret < 0) {
			t->loop = l;
			t->detach_ret = ret;
			make_ready(l, t);
		} else {
			l->ntasks--;
		}
	}
}

static void take_inbox(struct loop *l)
{
	pthread_mutex_lock(&l->lock);
	struct task *t = l->inbox, *rev = NULL;
	l->inbox = NULL;
	pthread_mutex_unlock(&l->lock);
	while (t) { /* oldest first */
		struct task *next = t->next;
		t->next = rev;
		rev = t;
		t = next;
	}
	for (t = rev; t;) {
		struct task *next = t->next;
		if (t->fresh) {
			t->fresh = false;
			l->ntasks++;
		}
		make_ready(l, t);
		t = next;
	}
}

static void on_event(struct loop *l, const struct epoll_event *ev)
{
	struct task *t = ev->data.ptr;
	if (!t) {
		uint64_t n;
		while (read(l->efd, &n, sizeof(n)) < 0 && errno == EINTR)
			;
		take_inbox(l);
		return;
	}
	if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		t->readable = true;
	if (ev->events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		t->writable = true;
	if (t->wait == WAIT_FD &&
	    (((t->want & POLLIN) && t->readable) || ((t->want & POLLOUT) && t->writable)))
		make_ready(l, t);
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	struct epoll_event evs[EVENTS_PER_WAIT];

	evloop_name_thread("vigil-io");
	for (;;) {
		/* the tasks ready now, once each: one that yields goes to the
		 * back, behind the sockets and deadlines looked at below */
		struct task *t = l->ready.head;
		l->ready.head = l->ready.tail = NULL;
		while (t) {
			struct task *next = t->next;
			run_task(l, t);
			t = next;
		}
		if (atomic_load(&l->group->quitting) && l->ntasks == 0)
			break;
		int timeout = -1;
		if (l->ready.head) {
			timeout = 0;
		} else if (l->nheap > 0) {
			int64_t d = l->heap[0]->wake_at - clock_mono_us();
			if (d > 60 * USEC_PER_SEC)
				d = 60 * USEC_PER_SEC;
			timeout = d <= 0 ? 0 : (int)((d + 999) / 1000); /* never early */
		}
		int n = epoll_wait(l->epfd, evs, EVENTS_PER_WAIT, timeout);
		if (n < 0 && errno != EINTR)
			fatal("epoll_wait");
		for (int i = 0; i < n; i++)
			on_event(l, &evs[i]);
		int64_t now = clock_mono_us();
		while (l->nheap > 0 && l->heap[0]->wake_at <= now)
			make_ready(l, l->heap[0]);
	}
	return NULL;
}

/* ---- the pool for blocking jobs ----------------------------------------- */

static void idler_unlink(struct evloop_group *g, struct idler *me)
{
	for (struct idler **p = &g->idle_top; *p; p = &(*p)->next) {
		if (*p == me) {
			*p = me->next;
			g->pool_idle--;
			return;
		}
	}
}

static void wake_idler(struct evloop_group *g)
{
	struct idler *i = g->idle_top;
	if (!i)
		return;
	g->idle_top = i->next;
	g->pool_idle--;
	i->woken = true;
	pthread_cond_signal(&i->cond);
}

static void *pool_main(void *arg)
{
	struct evloop_group *g = arg;
	struct idler me;
	pthread_condattr_t monotonic;

	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
	pthread_cond_init(&me.cond, &monotonic);
	pthread_condattr_destroy(&monotonic);
	evloop_name_thread("vigil-pool");
	pthread_mutex_lock(&g->pool_lock);
	for (;;) {
		bool retire = false;
		while (!g->jobs.head && !g->pool_quit && !retire) {
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += POOL_IDLE_US / USEC_PER_SEC;
			me.woken = false;
			me.next = g->idle_top;
			g->idle_top = &me;
			g->pool_idle++;
			int rc = 0;
			while (!me.woken && rc != ETIMEDOUT)
				rc = pthread_cond_timedwait(&me.cond, &g->pool_lock, &until);
			if (!me.woken) {
				idler_unlink(g, &me);
				retire = g->pool_threads > POOL_KEEP;
			}
		}
		struct task *t = list_pop(&g->jobs);
		if (!t)
			break;
		g->njobs--;
		pthread_mutex_unlock(&g->pool_lock);
		t->job_ret = t->job(t->job_arg);
		post(t->loop, t);
		pthread_mutex_lock(&g->pool_lock);
	}
	g->pool_threads--;
	pthread_cond_broadcast(&g->pool_gone);
	pthread_cond_destroy(&me.cond);
	/* the group may be freed once this is unlocked: nothing after it */
	pthread_mutex_unlock(&g->pool_lock);
	return NULL;
}

/* Queues t's job; a thread is added while jobs outnumber the idle ones.
 * Returns 0, or a negative errno when there is no thread to run it. */
static int queue_job(struct evloop_group *g, struct task *t)
{
	int ret = 0;
	pthread_mutex_lock(&g->pool_lock);
	if (g->njobs + 1 > g->pool_idle && g->pool_threads < EVLOOP_POOL_MAX) {
		int err = start_thread_detached(pool_main, g);
		if (err == 0)
			g->pool_threads++;
		else if (g->pool_threads == 0)
			ret = err;
	}
	if (ret == 0) {
		list_push(&g->jobs, t);
		g->njobs++;
		wake_idler(g);
	}
	pthread_mutex_unlock(&g->pool_lock);
	return ret;
}

/* ---- the group ---------------------------------------------------------- */

int evloop_group_new(struct evloop_group **out, int nloops)
{
	struct evloop_group *g = calloc(1, sizeof(*g));
	int ret = -ENOMEM;

	*out = NULL;
	if (!g || nloops < 1 || !(g->loops = calloc((size_t)nloops, sizeof(*g->loops)))) {
		free(g);
		return nloops < 1 ? -EINVAL : -ENOMEM;
	}
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->ended, NULL);
	pthread_mutex_init(&g->pool_lock, NULL);
	pthread_cond_init(&g->pool_gone, NULL);
	atomic_init(&g->quitting, false);
	g->nloops = nloops;
	for (int i = 0; i < nloops; i++) {
		struct loop *l = &g->loops[i];
		l->group = g;
		l->efd = -1;
		pthread_mutex_init(&l->lock, NULL);
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
		if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
		    (l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
		    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->efd, &ev) < 0) {
			ret = -errno;
			goto fail;
		}
		int err = pthread_create(&l->thread, NULL, loop_main, l);
		if (err != 0) {
			ret = -err;
			goto fail;
		}
		l->started = true;
	}
	*out = g;
	return 0;
fail:
	evloop_group_free(&g);
	return ret;
}

int evloop_spawn(struct evloop_group *g, void (*entry)(void *), void *arg, const char *name)
{
	struct task *t = calloc(1, sizeof(*t));
	struct loop *l = &g->loops[g->next++ % (unsigned)g->nloops];
	size_t page = (size_t)getpagesize();

	if (!t)
		return -ENOMEM;
	t->map_size = EVLOOP_STACK_SIZE + page;
	t->map = mmap(NULL, t->map_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (t->map == MAP_FAILED) {
		free(t);
		return -ENOMEM;
	}
	if (mprotect(t->map, page, PROT_NONE) < 0) {
		int ret = -errno;
		free_task(t);
		return ret;
	}
	t->group = g;
	t->loop = l;
	t->entry = entry;
	t->arg = arg;
	t->name = name;
	t->fd = -1;
	t->heap_at = -1;
	t->fresh = true;
	t->home = &l->sched;
	context_make(t, task_stack(t), EVLOOP_STACK_SIZE);
	pthread_mutex_lock(&g->lock);
	g->live++;
	pthread_mutex_unlock(&g->lock);
	post(l, t);
	return 0;
}

void evloop_group_join(struct evloop_group *g)
{
	if (g->joined)
		return;
	g->joined = true;
	pthread_mutex_lock(&g->lock);
	while (g->live > 0)
		pthread_cond_wait(&g->ended, &g->lock);
	pthread_mutex_unlock(&g->lock);
	atomic_store(&g->quitting, true);
	for (int i = 0; i < g->nloops; i++) {
		if (g->loops[i].started) {
			wake_loop(&g->loops[i]);
			pthread_join(g->loops[i].thread, NULL);
			g->loops[i].started = false;
		}
	}
	pthread_mutex_lock(&g->pool_lock);
	g->pool_quit = true;
	while (g->idle_top)
		wake_idler(g);
	while (g->pool_threads > 0)
		pthread_cond_wait(&g->pool_gone, &g->pool_lock);
	pthread_mutex_unlock(&g->pool_lock);
}

void evloop_group_free(struct evloop_group **gp)
{
	struct evloop_group *g = *gp;
	if (!g)
		return;
	evloop_group_join(g);
	for (int i = 0; i < g->nloops; i++) {
		struct loop *l = &g->loops[i];
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->efd >= 0)
			close(l->efd);
		pthread_mutex_destroy(&l->lock);
		free(l->heap);
	}
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->ended);
	pthread_mutex_destroy(&g->pool_lock);
	pthread_cond_destroy(&g->pool_gone);
	free(g->loops);
	free(g);
	*gp = NULL;
}

/* ---- what a task calls -------------------------------------------------- */

bool evloop_in_task(void)
{
	return current_task != NULL;
}

const char *evloop_task_name(void)
{
	return current_task ? current_task->name : NULL;
}

/* Room in the loop's timer heap (only its thread touches it).  Returns
 * false when memory ran out. */
static bool heap_room(struct loop *l)
{
	if (l->nheap < l->heap_cap)
		return true;
	int cap = l->heap_cap ? 2 * l->heap_cap : 64;
	struct task **h = realloc(l->heap, (size_t)cap * sizeof(*h));
	if (!h)
		return false;
	l->heap = h;
	l->heap_cap = cap;
	return true;
}

/* Suspends t until its wait ends.  A deadline the heap has no room for
 * ends the wait at once: the caller, which loops on its own deadline,
 * looks again. */
static void wait_until(struct task *t, enum task_wait kind, int64_t until_us)
{
	struct loop *l = t->loop;
	t->wait = kind;
	if (until_us > 0) {
		if (heap_room(l))
			heap_add(l, t, until_us);
		else
			make_ready(l, t);
	}
	suspend(t);
}

static int poll_fd(int fd, short events, int64_t until_us)
{
	for (;;) {
		int ms = -1;
		if (until_us > 0) {
			int64_t d = until_us - clock_mono_us();
			if (d <= 0)
				return -ETIMEDOUT;
			ms = d > 1000000 ? 1000 : (int)((d + 999) / 1000);
		}
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int evloop_wait_fd(int fd, short events, int64_t until_us)
{
	struct task *t = current_task;
	if (!t)
		return poll_fd(fd, events, until_us);
	struct loop *l = t->loop;
	if (t->fd != fd) {
		unregister_fd(l, t);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					  .data.ptr = t };
		/* EEXIST: a socket closed without evloop_forget_fd() left its
		 * number registered (a dup of it still open); it is this one now */
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 &&
		    (errno != EEXIST || epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0))
			return -errno;
		t->fd = fd;
	}
	if (events & POLLIN)
		t->readable = false;
	if (events & POLLOUT)
		t->writable = false;
	t->want = events;
	wait_until(t, WAIT_FD, until_us);
	if (((events & POLLIN) && t->readable) || ((events & POLLOUT) && t->writable))
		return 0;
	return -ETIMEDOUT;
}

bool evloop_readable(int fd)
{
	struct task *t = current_task;
	return t && t->fd == fd && t->readable;
}

void evloop_drained(int fd)
{
	struct task *t = current_task;
	if (t && t->fd == fd)
		t->readable = false;
}

void evloop_forget_fd(int fd)
{
	struct task *t = current_task;
	if (t && t->fd == fd)
		unregister_fd(t->loop, t);
}

void evloop_sleep_until(int64_t until_us)
{
	struct task *t = current_task;
	if (!t) {
		int64_t d;
		while ((d = until_us - clock_mono_us()) > 0)
			poll(NULL, 0, d > 1000000 ? 1000 : (int)((d + 999) / 1000));
		return;
	}
	wait_until(t, WAIT_SLEEP, until_us);
}

int evloop_offload(int (*job)(void *), void *arg)
{
	struct task *t = current_task;
	if (!t)
		return job(arg);
	t->job = job;
	t->job_arg = arg;
	if (queue_job(t->group, t) < 0)
		return job(arg); /* no thread at all: in place, rather than not */
	t->wait = WAIT_JOB;
	suspend(t);
	return t->job_ret;
}

int evloop_detach(void)
{
	struct task *t = current_task;
	if (!t)
		return 0;
	t->detach_ret = 0;
	t->req = REQ_DETACH;
	suspend(t);
	return t->detach_ret;
}

void evloop_yield_if_busy(void)
{
	struct task *t = current_task;
	if (!t || clock_mono_us() - t->loop->resumed_at < EVLOOP_SLICE_US)
		return;
	make_ready(t->loop, t);
	suspend(t);
}

void evloop_name_thread(const char *name)
{
	char cut[16];
	if (!name)
		return;
	snprintf(cut, sizeof(cut), "%s", name);
	pthread_setname_np(pthread_self(), cut);
}
