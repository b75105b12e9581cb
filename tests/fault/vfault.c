/*
 * vfault: an I/O fault injector for vigil's reliability tests, loaded with
 * LD_PRELOAD into a real vigil process.  It wraps the calls that decide
 * what survives a crash (write, fsync, fdatasync, unlink, rename, file
 * creation, truncation) and, driven by environment variables, counts them,
 * logs them, and at the k-th one kills the process, fails the call, or
 * simulates a power cut.
 *
 *   VFAULT_OPS     which calls count, a comma list of: write, fsync,
 *                  fdatasync, commit, unlink, rename, create, truncate,
 *                  mkdir, rmdir, or all.  "commit" is an fsync/fdatasync of
 *                  a SQLite "-wal" file: with synchronous=FULL, SQLite syncs
 *                  the WAL exactly once per committed transaction, so that
 *                  call is the commit point.  Such a call is a commit, never
 *                  an fsync.  Default: write,fsync,fdatasync,commit,unlink,
 *                  rename.
 *   VFAULT_PATH    count only calls on paths containing this substring
 *                  (the fd's path, read from /proc/self/fd).  Without it,
 *                  every path under / except /dev and /proc counts.
 *   VFAULT_AT      k: the counted call the action applies to (1-based).
 *   VFAULT_ACTION  exit-before  _exit(99) just before call k;
 *                  exit-after   make call k, then _exit(99);
 *                  fail-once    call k fails with VFAULT_ERRNO;
 *                  fail-from    call k and every counted call after it
 *                               fail (while VFAULT_WHILE exists, if set);
 *                  drop         a power cut just before call k: every write
 *                               not yet made durable is lost (each file
 *                               written by this process is cut back to its
 *                               size at its last fsync/fdatasync, a file
 *                               created since its folder's last fsync is
 *                               removed), then _exit(99); the log
 *                               gets "K cut TID USEC -" at the cut.
 *   VFAULT_ERRNO   EIO (default), ENOSPC, EROFS, EDQUOT, or a number.
 *   VFAULT_WHILE   fail-from: fail only while this file exists, so a test
 *                  can make the storage "come back".
 *   VFAULT_LOG     append one line per counted call: "N OP TID USEC PATH", N
 *                  the count, USEC the wall time in microseconds; a fatal
 *                  call (exit-before, exit-after, drop) is logged first.
 *
 * The fatal paths (exit, power cut) use no stdio and no allocation: they
 * may run while another thread holds malloc's or stdio's lock.  The counter
 * is an atomic, so each counted call of any thread gets its own number.
 * The power-cut bookkeeping (drop only) is a small table under a mutex; at
 * the cut, writers entering the shim wait forever, and the cut waits for
 * writes in flight, so nothing lands after the files are cut back.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define EXIT_STATUS 99
#define PATHLEN 512
#define TRACKED 2048

enum op {
	OP_WRITE,
	OP_FSYNC,
	OP_FDATASYNC,
	OP_COMMIT,
	OP_UNLINK,
	OP_RENAME,
	OP_CREATE,
	OP_TRUNCATE,
	OP_MKDIR,
	OP_RMDIR,
	OP_COUNT,
};

static const char *const op_names[OP_COUNT] = {
	"write",  "fsync",  "fdatasync", "commit", "unlink",
	"rename", "create", "truncate",	 "mkdir",  "rmdir"
};

enum action { ACT_NONE, ACT_EXIT_BEFORE, ACT_EXIT_AFTER, ACT_FAIL_ONCE, ACT_FAIL_FROM, ACT_DROP };

/* configuration, set once by the constructor */
static bool counted_ops[OP_COUNT];
static const char *match_path;
static long fault_at;
static enum action action;
static int fault_errno = EIO;
static const char *while_file;
static int log_fd = -1;

static atomic_long counter;
static atomic_int cutting;     /* a power cut is under way */
static atomic_int in_flight;   /* writes between their check and their end */
static __thread int my_writes; /* of those, this thread's (the cut's own) */

/* the real functions */
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_rmdir)(const char *);

#define RESOLVE(name)                                                                              \
	do {                                                                                       \
		if (!real_##name)                                                                  \
			*(void **)&real_##name = dlsym(RTLD_NEXT, #name);                          \
	} while (0)

static void resolve_all(void)
{
	RESOLVE(write);
	RESOLVE(pwrite);
	RESOLVE(pwrite64);
	RESOLVE(writev);
	RESOLVE(pwritev);
	RESOLVE(fsync);
	RESOLVE(fdatasync);
	RESOLVE(unlink);
	RESOLVE(unlinkat);
	RESOLVE(rename);
	RESOLVE(renameat);
	RESOLVE(renameat2);
	RESOLVE(open);
	RESOLVE(open64);
	RESOLVE(openat);
	RESOLVE(openat64);
	RESOLVE(ftruncate);
	RESOLVE(ftruncate64);
	RESOLVE(mkdir);
	RESOLVE(rmdir);
}

/* ---- small async-signal-safe helpers ------------------------------------ */

static size_t put_str(char *out, size_t pos, size_t size, const char *s)
{
	while (*s && pos + 1 < size)
		out[pos++] = *s++;
	out[pos] = '\0';
	return pos;
}

static size_t put_num(char *out, size_t pos, size_t size, long v)
{
	char tmp[24];
	int n = 0;
	if (v < 0) {
		pos = put_str(out, pos, size, "-");
		v = -v;
	}
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < (int)sizeof(tmp));
	while (n > 0 && pos + 1 < size)
		out[pos++] = tmp[--n];
	out[pos] = '\0';
	return pos;
}

static long wall_us(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return (long)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* One log line "N OP TID USEC PATH", written with one write(2). */
static void log_line(long n, const char *op, long us, const char *path)
{
	char line[PATHLEN + 96];
	size_t pos = 0;

	if (log_fd < 0)
		return;
	pos = put_num(line, pos, sizeof(line), n);
	pos = put_str(line, pos, sizeof(line), " ");
	pos = put_str(line, pos, sizeof(line), op);
	pos = put_str(line, pos, sizeof(line), " ");
	pos = put_num(line, pos, sizeof(line), (long)syscall(SYS_gettid));
	pos = put_str(line, pos, sizeof(line), " ");
	pos = put_num(line, pos, sizeof(line), us);
	pos = put_str(line, pos, sizeof(line), " ");
	pos = put_str(line, pos, sizeof(line), path);
	pos = put_str(line, pos, sizeof(line), "\n");
	/* one write with O_APPEND: lines of different threads never mix */
	ssize_t w = real_write(log_fd, line, pos);
	(void)w;
}

/* The path an fd refers to; "" when it cannot be read. */
static void fd_path(int fd, char *out, size_t size)
{
	char link[64];
	size_t pos = put_str(link, 0, sizeof(link), "/proc/self/fd/");
	put_num(link, pos, sizeof(link), fd);
	ssize_t n = readlink(link, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
}

/* A path as given to unlink/rename/open, made absolute against dirfd. */
static void abs_path(int dirfd, const char *path, char *out, size_t size)
{
	if (!path) {
		out[0] = '\0';
		return;
	}
	if (path[0] == '/') {
		put_str(out, 0, size, path);
		return;
	}
	char dir[PATHLEN];
	if (dirfd == AT_FDCWD) {
		if (!getcwd(dir, sizeof(dir)))
			dir[0] = '\0';
	} else {
		fd_path(dirfd, dir, sizeof(dir));
	}
	size_t pos = put_str(out, 0, size, dir);
	pos = put_str(out, pos, size, "/");
	put_str(out, pos, size, path);
}

static bool path_matches(const char *path)
{
	if (!path[0])
		return false;
	if (match_path)
		return strstr(path, match_path) != NULL;
	return path[0] == '/' && strncmp(path, "/dev/", 5) != 0 && strncmp(path, "/proc/", 6) != 0;
}

static bool is_wal(const char *path)
{
	size_t n = strlen(path);
	return n > 4 && strcmp(path + n - 4, "-wal") == 0;
}

/* ---- the power-cut model (drop) ---------------------------------------------- */

struct tracked {
	char path[PATHLEN];
	off_t synced; /* size at its last fsync/fdatasync */
	bool created; /* created by us since its folder's last fsync */
};

static pthread_mutex_t track_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tracked track[TRACKED];
static int ntrack;

static struct tracked *track_find(const char *path)
{
	for (int i = 0; i < ntrack; i++)
		if (strcmp(track[i].path, path) == 0)
			return &track[i];
	return NULL;
}

/* Forgets a file that holds nothing unsynced, to make room. */
static void track_evict(void)
{
	for (int i = 0; i < ntrack; i++) {
		struct stat now;
		if (!track[i].created && stat(track[i].path, &now) == 0 &&
		    now.st_size <= track[i].synced) {
			track[i] = track[--ntrack];
			return;
		}
	}
}

static void track_add(const char *path, off_t synced, bool created)
{
	if (ntrack == TRACKED)
		track_evict();
	if (ntrack == TRACKED)
		return;
	struct tracked *t = &track[ntrack++];
	put_str(t->path, 0, sizeof(t->path), path);
	t->synced = synced;
	t->created = created;
}

static void track_remove(const char *path)
{
	struct tracked *t = track_find(path);
	if (t)
		*t = track[--ntrack];
}

/* Before a write to fd: a file seen for the first time is durable as it is. */
/* The size of a regular file, or -1. */
static off_t regular_size(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : -1;
}

static void track_before_write(int fd, const char *path)
{
	off_t size = regular_size(fd);
	if (size < 0)
		return;
	pthread_mutex_lock(&track_lock);
	if (!track_find(path))
		track_add(path, size, false);
	pthread_mutex_unlock(&track_lock);
}

static void track_after_sync(int fd, const char *path)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return;
	pthread_mutex_lock(&track_lock);
	if (S_ISDIR(st.st_mode)) {
		size_t n = strlen(path);
		for (int i = 0; i < ntrack; i++)
			if (strncmp(track[i].path, path, n) == 0 && track[i].path[n] == '/' &&
			    !strchr(track[i].path + n + 1, '/'))
				track[i].created = false;
	} else if (S_ISREG(st.st_mode)) {
		struct tracked *t = track_find(path);
		if (t)
			t->synced = st.st_size;
		else
			track_add(path, st.st_size, false);
	}
	pthread_mutex_unlock(&track_lock);
}

static void track_truncate(const char *path, off_t len)
{
	pthread_mutex_lock(&track_lock);
	struct tracked *t = track_find(path);
	if (t && t->synced > len)
		t->synced = len;
	pthread_mutex_unlock(&track_lock);
}

static void track_rename(const char *from, const char *to)
{
	pthread_mutex_lock(&track_lock);
	track_remove(to);
	struct tracked *t = track_find(from);
	if (t)
		put_str(t->path, 0, sizeof(t->path), to);
	pthread_mutex_unlock(&track_lock);
}

static _Noreturn void power_cut(long n)
{
	long at = wall_us();

	atomic_store(&cutting, 1);
	while (atomic_load(&in_flight) > my_writes)
		sched_yield();
	/* no lock: other threads are parked, and a thread that died holding
	 * the lock must not stop the cut */
	for (int i = 0; i < ntrack; i++) {
		struct stat st;
		if (track[i].created) {
			real_unlink(track[i].path);
		} else if (stat(track[i].path, &st) == 0 && st.st_size > track[i].synced) {
			int fd = real_open(track[i].path, O_WRONLY | O_CLOEXEC);
			if (fd >= 0) {
				real_ftruncate(fd, track[i].synced);
				close(fd);
			}
		}
	}
	/* when the power went, for loss figures */
	log_line(n, "cut", at, "-");
	_exit(EXIT_STATUS);
}

/* A write entering the shim during a cut never returns. */
static void write_enter(void)
{
	if (action != ACT_DROP)
		return;
	atomic_fetch_add(&in_flight, 1);
	if (atomic_load(&cutting)) {
		atomic_fetch_sub(&in_flight, 1);
		for (;;)
			pause();
	}
	my_writes++;
}

static void write_leave(void)
{
	if (action == ACT_DROP) {
		my_writes--;
		atomic_fetch_sub(&in_flight, 1);
	}
}

/* ---- the decision ------------------------------------------------------------ */

enum verdict { GO, FAIL, EXIT_AFTER };

/* Counts a call on path; returns what to do with it.  May not return. */
static enum verdict decide(enum op op, const char *path)
{
	if (!counted_ops[op] || !path_matches(path))
		return GO;
	long n = atomic_fetch_add(&counter, 1) + 1;
	log_line(n, op_names[op], wall_us(), path);
	if (fault_at <= 0 || n < fault_at)
		return GO;
	switch (action) {
	case ACT_EXIT_BEFORE:
		if (n == fault_at)
			_exit(EXIT_STATUS);
		return GO;
	case ACT_EXIT_AFTER: return n == fault_at ? EXIT_AFTER : GO;
	case ACT_FAIL_ONCE: return n == fault_at ? FAIL : GO;
	case ACT_FAIL_FROM:
		if (while_file && access(while_file, F_OK) != 0)
			return GO;
		return FAIL;
	case ACT_DROP:
		if (n == fault_at)
			power_cut(n);
		return GO;
	default: return GO;
	}
}

static void after(enum verdict v)
{
	if (v == EXIT_AFTER)
		_exit(EXIT_STATUS);
}

/* ---- set-up ------------------------------------------------------------------ */

static int parse_errno(const char *s)
{
	static const struct {
		const char *name;
		int value;
	} names[] = { { "EIO", EIO },	    { "ENOSPC", ENOSPC }, { "EROFS", EROFS },
		      { "EDQUOT", EDQUOT }, { "EACCES", EACCES }, { "ENOENT", ENOENT } };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].value;
	int v = atoi(s);
	return v > 0 ? v : EIO;
}

__attribute__((constructor)) static void vfault_init(void)
{
	resolve_all();
	const char *ops = getenv("VFAULT_OPS");
	if (!ops || !*ops)
		ops = "write,fsync,fdatasync,commit,unlink,rename";
	const char *p = ops;
	while (*p) {
		size_t len = strcspn(p, ",");
		for (int i = 0; i < OP_COUNT; i++)
			if (len == strlen(op_names[i]) && strncmp(p, op_names[i], len) == 0)
				counted_ops[i] = true;
		if (len == 3 && strncmp(p, "all", 3) == 0)
			for (int i = 0; i < OP_COUNT; i++)
				counted_ops[i] = true;
		p += len;
		if (*p == ',')
			p++;
	}
	match_path = getenv("VFAULT_PATH");
	if (match_path && !*match_path)
		match_path = NULL;
	const char *at = getenv("VFAULT_AT");
	fault_at = at ? atol(at) : 0;
	const char *act = getenv("VFAULT_ACTION");
	if (act) {
		if (strcmp(act, "exit-before") == 0)
			action = ACT_EXIT_BEFORE;
		else if (strcmp(act, "exit-after") == 0)
			action = ACT_EXIT_AFTER;
		else if (strcmp(act, "fail-once") == 0)
			action = ACT_FAIL_ONCE;
		else if (strcmp(act, "fail-from") == 0)
			action = ACT_FAIL_FROM;
		else if (strcmp(act, "drop") == 0)
			action = ACT_DROP;
	}
	const char *e = getenv("VFAULT_ERRNO");
	if (e && *e)
		fault_errno = parse_errno(e);
	while_file = getenv("VFAULT_WHILE");
	if (while_file && !*while_file)
		while_file = NULL;
	const char *log = getenv("VFAULT_LOG");
	if (log && *log)
		log_fd = real_open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* ---- the wrappers ------------------------------------------------------------ */

/* Common body of the write family.  CALL is the real call. */
#define WRITE_BODY(fd, CALL)                                                                       \
	char path[PATHLEN];                                                                        \
	ssize_t ret;                                                                               \
	write_enter();                                                                             \
	if (fd == log_fd) {                                                                        \
		ret = CALL;                                                                        \
		write_leave();                                                                     \
		return ret;                                                                        \
	}                                                                                          \
	fd_path(fd, path, sizeof(path));                                                           \
	enum verdict v = decide(OP_WRITE, path);                                                   \
	if (v == FAIL) {                                                                           \
		write_leave();                                                                     \
		errno = fault_errno;                                                               \
		return -1;                                                                         \
	}                                                                                          \
	if (action == ACT_DROP && path_matches(path))                                              \
		track_before_write(fd, path);                                                      \
	ret = CALL;                                                                                \
	write_leave();                                                                             \
	after(v);                                                                                  \
	return ret;

ssize_t write(int fd, const void *buf, size_t n)
{
	RESOLVE(write);
	WRITE_BODY(fd, real_write(fd, buf, n))
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	RESOLVE(pwrite);
	WRITE_BODY(fd, real_pwrite(fd, buf, n, off))
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	RESOLVE(pwrite64);
	WRITE_BODY(fd, real_pwrite64(fd, buf, n, off))
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	RESOLVE(writev);
	WRITE_BODY(fd, real_writev(fd, iov, cnt))
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	RESOLVE(pwritev);
	WRITE_BODY(fd, real_pwritev(fd, iov, cnt, off))
}

static int sync_common(int fd, int (*real)(int), enum op op)
{
	char path[PATHLEN];
	fd_path(fd, path, sizeof(path));
	enum verdict v = decide(is_wal(path) ? OP_COMMIT : op, path);
	if (v == FAIL) {
		errno = fault_errno;
		return -1;
	}
	int ret = real(fd);
	if (ret == 0 && action == ACT_DROP && path_matches(path))
		track_after_sync(fd, path);
	after(v);
	return ret;
}

int fsync(int fd)
{
	RESOLVE(fsync);
	return sync_common(fd, real_fsync, OP_FSYNC);
}

int fdatasync(int fd)
{
	RESOLVE(fdatasync);
	return sync_common(fd, real_fdatasync, OP_FDATASYNC);
}

static int unlink_common(int dirfd, const char *name, int flags)
{
	char path[PATHLEN];
	abs_path(dirfd, name, path, sizeof(path));
	enum verdict v = decide(flags & AT_REMOVEDIR ? OP_RMDIR : OP_UNLINK, path);
	if (v == FAIL) {
		errno = fault_errno;
		return -1;
	}
	int ret = dirfd == AT_FDCWD && !flags		       ? real_unlink(name)
		  : dirfd == AT_FDCWD && flags == AT_REMOVEDIR ? real_rmdir(name)
							       : real_unlinkat(dirfd, name, flags);
	if (ret == 0 && action == ACT_DROP) {
		pthread_mutex_lock(&track_lock);
		track_remove(path);
		pthread_mutex_unlock(&track_lock);
	}
	after(v);
	return ret;
}

int unlink(const char *name)
{
	resolve_all();
	return unlink_common(AT_FDCWD, name, 0);
}

int unlinkat(int dirfd, const char *name, int flags)
{
	resolve_all();
	return unlink_common(dirfd, name, flags);
}

int rmdir(const char *name)
{
	resolve_all();
	return unlink_common(AT_FDCWD, name, AT_REMOVEDIR);
}

int remove(const char *name)
{
	struct stat st;
	resolve_all();
	if (lstat(name, &st) == 0 && S_ISDIR(st.st_mode))
		return unlink_common(AT_FDCWD, name, AT_REMOVEDIR);
	return unlink_common(AT_FDCWD, name, 0);
}

static int rename_common(int olddir, const char *from, int newdir, const char *to, unsigned flags)
{
	char a[PATHLEN], b[PATHLEN];
	abs_path(olddir, from, a, sizeof(a));
	abs_path(newdir, to, b, sizeof(b));
	enum verdict v = decide(OP_RENAME, path_matches(a) ? a : b);
	if (v == FAIL) {
		errno = fault_errno;
		return -1;
	}
	int ret;
	if (flags)
		ret = real_renameat2(olddir, from, newdir, to, flags);
	else if (olddir == AT_FDCWD && newdir == AT_FDCWD)
		ret = real_rename(from, to);
	else
		ret = real_renameat(olddir, from, newdir, to);
	if (ret == 0 && action == ACT_DROP)
		track_rename(a, b);
	after(v);
	return ret;
}

int rename(const char *from, const char *to)
{
	resolve_all();
	return rename_common(AT_FDCWD, from, AT_FDCWD, to, 0);
}

int renameat(int olddir, const char *from, int newdir, const char *to)
{
	resolve_all();
	return rename_common(olddir, from, newdir, to, 0);
}

int renameat2(int olddir, const char *from, int newdir, const char *to, unsigned flags)
{
	resolve_all();
	return rename_common(olddir, from, newdir, to, flags);
}

/* open with O_CREAT: a "create" when the file did not exist before. */
static int open_common(int dirfd, const char *name, int flags, mode_t mode, bool large)
{
	char path[PATHLEN];
	struct stat st;
	bool creating = false;
	enum verdict v = GO;

	if (flags & O_CREAT) {
		creating = fstatat(dirfd, name, &st, 0) < 0 && errno == ENOENT;
		if (creating) {
			abs_path(dirfd, name, path, sizeof(path));
			v = decide(OP_CREATE, path);
			if (v == FAIL) {
				errno = fault_errno;
				return -1;
			}
		}
	}
	int fd;
	if (dirfd == AT_FDCWD)
		fd = large ? real_open64(name, flags, mode) : real_open(name, flags, mode);
	else
		fd = large ? real_openat64(dirfd, name, flags, mode)
			   : real_openat(dirfd, name, flags, mode);
	if (fd >= 0 && creating && action == ACT_DROP && path_matches(path)) {
		pthread_mutex_lock(&track_lock);
		track_remove(path);
		track_add(path, 0, true);
		pthread_mutex_unlock(&track_lock);
	}
	after(v);
	return fd;
}

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *name, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	resolve_all();
	return open_common(AT_FDCWD, name, flags, mode, false);
}

int open64(const char *name, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	resolve_all();
	return open_common(AT_FDCWD, name, flags, mode, true);
}

int openat(int dirfd, const char *name, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	resolve_all();
	return open_common(dirfd, name, flags, mode, false);
}

int openat64(int dirfd, const char *name, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	resolve_all();
	return open_common(dirfd, name, flags, mode, true);
}

static int ftruncate_common(int fd, off_t len, int (*real)(int, off_t))
{
	char path[PATHLEN];
	fd_path(fd, path, sizeof(path));
	enum verdict v = decide(OP_TRUNCATE, path);
	if (v == FAIL) {
		errno = fault_errno;
		return -1;
	}
	int ret = real(fd, len);
	if (ret == 0 && action == ACT_DROP && path_matches(path))
		track_truncate(path, len);
	after(v);
	return ret;
}

int ftruncate(int fd, off_t len)
{
	RESOLVE(ftruncate);
	return ftruncate_common(fd, len, real_ftruncate);
}

int ftruncate64(int fd, off_t len)
{
	RESOLVE(ftruncate64);
	return ftruncate_common(fd, len, real_ftruncate64);
}

int mkdir(const char *name, mode_t mode)
{
	char path[PATHLEN];
	resolve_all();
	abs_path(AT_FDCWD, name, path, sizeof(path));
	enum verdict v = decide(OP_MKDIR, path);
	if (v == FAIL) {
		errno = fault_errno;
		return -1;
	}
	int ret = real_mkdir(name, mode);
	after(v);
	return ret;
}
