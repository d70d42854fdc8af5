/*
 * fileio — reading files whole or mapped, and writing them atomically.
 *
 * Model weights are mapped read-only so that several jobs on one model share
 * the page cache instead of each holding a private copy. Everything lib/
 * writes that a crash must not leave half-done (checkpoints, adapters,
 * results) goes through struct atomic_file: a temporary file in the target
 * directory, fsync, rename over the final name, fsync of the directory.
 */
#ifndef ADA_UTIL_FILEIO_H
#define ADA_UTIL_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "adalora.h"

struct mapped_file {
	const uint8_t *data;   /* read-only mapping (an empty file: a valid pointer to no bytes) */
	size_t size;
	char *path;            /* owned copy, for error messages */
};

int mapped_file_open(const char *path, struct mapped_file *mf, struct ada_err *err);
void mapped_file_close(struct mapped_file *mf);

/* Read a whole file into a malloc'ed, NUL-terminated buffer (owned by caller). */
int file_read_all(const char *path, char **buf, size_t *len, struct ada_err *err);

/* Write buf to path atomically (temp file, fsync, rename, fsync directory). */
int file_write_atomic(const char *path, const void *buf, size_t len, struct ada_err *err);

/* j (borrowed) as indented JSON with sorted keys, written atomically to
 * dir/name: the result files people read (result.json, adapter_config.json). */
int json_write_atomic(const char *dir, const char *name, const json_t *j, struct ada_err *err);

/* Streaming form of file_write_atomic for large outputs. */
struct atomic_file {
	int fd;
	char *tmp_path;
	char *final_path;
	int failed;            /* a write failed: commit will refuse */
};
int atomic_file_open(struct atomic_file *af, const char *path, struct ada_err *err);
int atomic_file_write(struct atomic_file *af, const void *buf, size_t len, struct ada_err *err);
/* fsync, rename, fsync dir; always releases af. */
int atomic_file_commit(struct atomic_file *af, struct ada_err *err);
/* Remove the temp file and release af (safe after a failed commit too). */
void atomic_file_abort(struct atomic_file *af);

int fsync_dir(const char *dir_path, struct ada_err *err);
/* Fsync the directory that contains path. */
int fsync_parent_dir(const char *path, struct ada_err *err);
/* mkdir -p; existing directories are fine. */
int mkdir_p(const char *path, mode_t mode, struct ada_err *err);
/* rm -r of a directory tree we made ourselves (no symlink following). */
int remove_tree(const char *path, struct ada_err *err);
int file_exists(const char *path);
int dir_exists(const char *path);

/* path_join(a, b) -> malloc'ed "a/b" (NULL on OOM). */
char *path_join(const char *a, const char *b);

#endif
