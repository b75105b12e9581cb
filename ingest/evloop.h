/*
 * I/O threads for the camera workers: a few threads (about one per core),
 * each running an epoll loop over many workers, instead of a thread per
 * camera.  Internal to ingest/.
 *
 * A worker on a loop is a coroutine ("task"): its own small stack and the
 * same straight-line code a worker thread runs (connect, request, read,
 * record, back off), so every deadline, bound and error path is the one
 * the tests guard.  Where that code would block it yields to its loop
 * instead: evloop_wait_fd() for a socket, evloop_sleep_until() for a
 * pause.  The loop keeps each waiting task's deadline in a timer heap and
 * each task's socket in its epoll set (edge-triggered, registered once per
 * socket), and switches to a task when its socket is ready or its deadline
 * has come; a switch is a few instructions, not a trip through the
 * scheduler.
 *
 * What may block on the disk for long (fdatasync, rename, the catalog's
 * SQLite) goes through evloop_offload(): the task parks, a thread of a
 * small pool (it grows while jobs wait, up to EVLOOP_POOL_MAX, and shrinks
 * again when idle) runs the job, and the loop resumes the task with the
 * job's result.  A slow disk therefore holds the cameras whose syncs wait
 * for it, never the reading of the others.  A fragment's writev and hash
 * stay on the loop, where its bytes were just received and are still in
 * the cache (a write into the page cache does not wait for the disk).
 *
 * A task that must make calls the loop cannot wait for (libavformat's
 * blocking I/O, for a camera the lean RTSP client refuses) calls
 * evloop_detach() first: it goes on, on the same stack, in a thread of its
 * own until it ends.
 *
 * Outside a task (a worker thread, a test, a pool thread) evloop_in_task()
 * is false and callers use their blocking calls as before;
 * evloop_offload() then runs the job in place.
 *
 * Thread safety: evloop_group_new/spawn/join/free are for one owning
 * thread.  The task functions act on the calling task and its loop.  A
 * task's code must not keep the address of a thread-local variable (errno
 * included) across evloop_detach(), which moves it to another thread; the
 * compiler may, in any function on the stack at the time, so call it from
 * the task's outermost function.
 */
#ifndef VIGIL_INGEST_EVLOOP_H
#define VIGIL_INGEST_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

/* Stack of a task: virtual, with a guard page below; only the pages a task
 * touches become memory. */
#define EVLOOP_STACK_SIZE (1024 * 1024)
/* Pool threads for offloaded jobs, at most. */
#define EVLOOP_POOL_MAX 64

struct evloop_group;

/* Starts nloops I/O threads (>= 1).  Returns 0 or a negative errno. */
int evloop_group_new(struct evloop_group **out, int nloops);

/* Starts entry(arg) as a task on the next loop, round robin; name (kept by
 * pointer) is what evloop_task_name() says in it.  Returns 0 or a negative
 * errno. */
int evloop_spawn(struct evloop_group *g, void (*entry)(void *), void *arg, const char *name);

/* Waits until every task (detached ones included) has returned, then stops
 * the threads.  The tasks end by themselves: their owner tells them to. */
void evloop_group_join(struct evloop_group *g);

/* Joins if that was not done, and frees. */
void evloop_group_free(struct evloop_group **gp);

/* True in a task that runs on a loop (not after evloop_detach()). */
bool evloop_in_task(void);

/* The running task's name, NULL outside a task. */
const char *evloop_task_name(void);

/* In a task: waits until fd is ready for events (POLLIN and/or POLLOUT)
 * or until the monotonic time until_us (0: no deadline).  The caller has
 * just seen EAGAIN (or an EINPROGRESS connect) for those events, or wants
 * to wait for the next arrival: an edge that came before the call is
 * forgotten.  A hang-up or an error counts as ready.  Returns 0 when
 * ready, -ETIMEDOUT at the deadline.  fd is non-blocking. */
int evloop_wait_fd(int fd, short events, int64_t until_us);

/* In a task: true when fd was seen readable (or hung up) since the last
 * evloop_wait_fd(fd, POLLIN...) and evloop_drained(fd) calls. */
bool evloop_readable(int fd);

/* In a task: a read returned less than asked for, so fd holds nothing now:
 * evloop_readable() is false until the next edge. */
void evloop_drained(int fd);

/* In a task: the task's fd is about to be closed; the loop forgets it
 * (another socket may get its number).  Harmless elsewhere. */
void evloop_forget_fd(int fd);

/* In a task: yields until the monotonic time until_us. */
void evloop_sleep_until(int64_t until_us);

/* Runs job(arg) where it may block: in a task, on a pool thread while the
 * task waits; elsewhere, in place.  Returns what job returned. */
int evloop_offload(int (*job)(void *), void *arg);

/* In a task that has run EVLOOP_SLICE_US since it was last switched to:
 * lets the other tasks of its loop run first (a camera sending without a
 * pause never waits for its socket).  Elsewhere, nothing. */
#define EVLOOP_SLICE_US 2000
void evloop_yield_if_busy(void);

/* In a task: goes on in a thread of its own, for good.  Returns 0, or a
 * negative errno when no thread could be started (the task stays on its
 * loop).  Elsewhere: 0, nothing done. */
int evloop_detach(void);

/* Names the calling thread as ps(1) and /proc/PID/task/TID/comm show it,
 * cut to the 15 bytes Linux keeps: the loops are "vigil-io", the pool's
 * threads "vigil-pool", a detached task's thread the task's name. */
void evloop_name_thread(const char *name);

#endif
