/* Durable file-system helpers; see fsutil.h. */
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util/banned.h"

int fs_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ret = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

int fs_fsync_parent(const char *path)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash)
		return fs_fsync_dir(".");
	if (slash == path)
		return fs_fsync_dir("/");
	if ((size_t)(slash - path) >= sizeof(parent))
		return -ENAMETOOLONG;
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	return fs_fsync_dir(parent);
}

int fs_unlink_durable(const char *path)
{
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : -errno;
	return fs_fsync_parent(path);
}

int fs_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);
	struct stat st;

	if (len == 0)
		return -EINVAL;
	if (len >= sizeof(tmp))
		return -ENAMETOOLONG;
	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(tmp, mode) == 0) {
			/* the mode is exact, whatever the umask */
			if (chmod(tmp, mode) < 0)
				return -errno;
			int ret = fs_fsync_parent(tmp);
			if (ret < 0)
				return ret;
		} else if (errno != EEXIST) {
			return -errno;
		} else if (stat(tmp, &st) == 0 && !S_ISDIR(st.st_mode)) {
			return -ENOTDIR;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}

int fs_write_all(int fd, const void *data, size_t n)
{
	const char *p = data;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int fs_read_file(const char *path, struct buf *out, size_t max)
{
	char chunk[4096];
	int ret = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	buf_init(out, max);
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (r == 0)
			break;
		if ((ret = buf_append(out, chunk, (size_t)r)) < 0)
			break;
	}
	close(fd);
	if (ret == 0 && !out->data)
		ret = buf_append(out, "", 0);
	if (ret < 0)
		buf_release(out);
	return ret;
}

int fs_join(char *out, size_t size, const char *a, const char *b)
{
	size_t al = strlen(a);
	int n;

	if (al > 0 && a[al - 1] == '/')
		n = snprintf(out, size, "%s%s", a, b);
	else
		n = snprintf(out, size, "%s/%s", a, b);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}
