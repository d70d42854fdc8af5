/* fileio — mapped reads and atomic writes; see fileio.h. */
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/err.h"

/* What an empty file maps to: a valid pointer to no bytes, so that readers
 * may form data + 0 (pointer arithmetic on NULL is undefined behaviour). */
static const uint8_t empty_file[1];

int mapped_file_open(const char *path, struct mapped_file *mf, struct ada_err *err)
{
	struct stat st;
	void *p = NULL;
	int fd;

	memset(mf, 0, sizeof(*mf));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ada_fail(err, errno == ENOENT ? ADA_ENOTFOUND : ADA_EIO,
				"%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return ada_fail(err, ADA_EIO, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ada_fail(err, ADA_EIO, "%s: not a regular file", path);
	}
	if (st.st_size > 0) {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			int e = errno;
			close(fd);
			return ada_fail(err, ADA_EIO, "%s: mmap: %s", path, strerror(e));
		}
	}
	close(fd);
	mf->data = p ? p : empty_file;
	mf->size = (size_t)st.st_size;
	mf->path = strdup(path);
	if (!mf->path) {
		mapped_file_close(mf);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	return ADA_OK;
}

void mapped_file_close(struct mapped_file *mf)
{
	if (mf->data && mf->data != empty_file)
		munmap((void *)mf->data, mf->size);
	free(mf->path);
	memset(mf, 0, sizeof(*mf));
}

int file_read_all(const char *path, char **buf, size_t *len, struct ada_err *err)
{
	struct stat st;
	size_t got = 0;
	char *b;
	int fd;

	*buf = NULL;
	if (len)
		*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ada_fail(err, errno == ENOENT ? ADA_ENOTFOUND : ADA_EIO,
				"%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ada_fail(err, ADA_EIO, "%s: not a readable regular file", path);
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		close(fd);
		return ada_fail(err, ADA_ENOMEM, "%s: out of memory", path);
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			free(b);
			close(fd);
			return ada_fail(err, ADA_EIO, "%s: read: %s", path, strerror(e));
		}
		got += (size_t)n;
	}
	close(fd);
	b[got] = '\0';
	*buf = b;
	if (len)
		*len = got;
	return ADA_OK;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int atomic_file_open(struct atomic_file *af, const char *path, struct ada_err *err)
{
	size_t n = strlen(path) + 32;

	memset(af, 0, sizeof(*af));
	af->fd = -1;
	af->final_path = strdup(path);
	af->tmp_path = malloc(n);
	if (!af->final_path || !af->tmp_path) {
		atomic_file_abort(af);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	/* The temp name sits beside the target so rename() stays in one filesystem. */
	snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
	af->fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (af->fd < 0) {
		int e = errno;
		free(af->tmp_path);
		af->tmp_path = NULL;
		atomic_file_abort(af);
		return ada_fail(err, ADA_EIO, "%s: %s", path, strerror(e));
	}
	return ADA_OK;
}

int atomic_file_write(struct atomic_file *af, const void *buf, size_t len, struct ada_err *err)
{
	if (af->failed)
		return ada_fail(err, ADA_EIO, "%s: earlier write failed", af->final_path);
	if (write_full(af->fd, buf, len) < 0) {
		af->failed = 1;
		return ada_fail(err, ADA_EIO, "%s: write: %s", af->final_path, strerror(errno));
	}
	return ADA_OK;
}

int atomic_file_commit(struct atomic_file *af, struct ada_err *err)
{
	int rc = ADA_OK;

	if (af->failed) {
		rc = ada_fail(err, ADA_EIO, "%s: earlier write failed", af->final_path);
		goto out_abort;
	}
	if (fsync(af->fd) < 0) {
		rc = ada_fail(err, ADA_EIO, "%s: fsync: %s", af->final_path, strerror(errno));
		goto out_abort;
	}
	if (close(af->fd) < 0) {
		af->fd = -1;
		rc = ada_fail(err, ADA_EIO, "%s: close: %s", af->final_path, strerror(errno));
		goto out_abort;
	}
	af->fd = -1;
	if (rename(af->tmp_path, af->final_path) < 0) {
		rc = ada_fail(err, ADA_EIO, "%s: rename: %s", af->final_path, strerror(errno));
		goto out_abort;
	}
	free(af->tmp_path);
	af->tmp_path = NULL;
	rc = fsync_parent_dir(af->final_path, err);
	atomic_file_abort(af);
	return rc;

out_abort:
	atomic_file_abort(af);
	return rc;
}

void atomic_file_abort(struct atomic_file *af)
{
	if (af->fd >= 0)
		close(af->fd);
	if (af->tmp_path)
		unlink(af->tmp_path);
	free(af->tmp_path);
	free(af->final_path);
	af->fd = -1;
	af->tmp_path = NULL;
	af->final_path = NULL;
}

int file_write_atomic(const char *path, const void *buf, size_t len, struct ada_err *err)
{
	struct atomic_file af;
	int rc;

	rc = atomic_file_open(&af, path, err);
	if (rc)
		return rc;
	rc = atomic_file_write(&af, buf, len, err);
	if (rc) {
		atomic_file_abort(&af);
		return rc;
	}
	return atomic_file_commit(&af, err);
}

int fsync_dir(const char *dir_path, struct ada_err *err)
{
	int fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return ada_fail(err, ADA_EIO, "%s: %s", dir_path, strerror(errno));
	if (fsync(fd) < 0 && errno != EINVAL) {
		int e = errno;
		close(fd);
		return ada_fail(err, ADA_EIO, "%s: fsync: %s", dir_path, strerror(e));
	}
	close(fd);
	return ADA_OK;
}

int fsync_parent_dir(const char *path, struct ada_err *err)
{
	char *copy = strdup(path);
	int rc;

	if (!copy)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	rc = fsync_dir(dirname(copy), err);
	free(copy);
	return rc;
}

int mkdir_p(const char *path, mode_t mode, struct ada_err *err)
{
	char *copy = strdup(path);
	size_t len;

	if (!copy)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	len = strlen(copy);
	for (size_t i = 1; i <= len; i++) {
		if (copy[i] != '/' && copy[i] != '\0')
			continue;
		char c = copy[i];
		copy[i] = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST) {
			int e = errno;
			ada_fail(err, ADA_EIO, "mkdir %s: %s", copy, strerror(e));
			free(copy);
			return ADA_EIO;
		}
		copy[i] = c;
	}
	free(copy);
	if (!dir_exists(path))
		return ada_fail(err, ADA_EIO, "%s: exists and is not a directory", path);
	return ADA_OK;
}

static int remove_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

int remove_tree(const char *path, struct ada_err *err)
{
	if (!file_exists(path))
		return ADA_OK;
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return ada_fail(err, ADA_EIO, "remove %s: %s", path, strerror(errno));
	return ADA_OK;
}

int file_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int dir_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);

	if (!p)
		return NULL;
	memcpy(p, a, la);
	if (la && a[la - 1] != '/')
		p[la++] = '/';
	memcpy(p + la, b, lb + 1);
	return p;
}

int json_write_atomic(const char *dir, const char *name, const json_t *j, struct ada_err *err)
{
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	char *path = path_join(dir, name);
	int rc = text && path ? file_write_atomic(path, text, strlen(text), err)
			      : ada_fail(err, ADA_ENOMEM, "out of memory");

	free(text);
	free(path);
	return rc;
}
