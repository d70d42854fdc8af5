/*
 * run_dir — where a run writes, when daemons share the data directory.
 *
 * With one daemon (SQLite) a job's run writes into data/jobs/<id>/ and a
 * resumed run finds its checkpoint there. With several, a run that lost
 * its lease (its daemon was paused past the lease, or cut off) may go on
 * for a moment before it notices; the store refuses its writes (fencing),
 * but its files would land beside its successor's. So each run writes
 * into a directory of its own, data/jobs/<id>/run-<epoch>/, and starts by
 * hard-linking the newest checkpoint of the earlier runs into it: lib
 * writes every file by temp + rename, so a linked file is never changed
 * under the new run, whatever the old one does. (A copy where the
 * filesystem has no hard links.) The job's row records which run's
 * directory holds the result (output_dir), written with the outcome under
 * the run's lease, so the result is always the winner's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/fileio.h"
#include "workers.h"

void run_dir_name(const struct workers_config *cfg, const struct store_job *j, char *out_dir,
		  size_t out_cap, char *output_dir, size_t cap)
{
	if (!cfg->run_dirs) {
		output_dir[0] = '\0';
		snprintf(out_dir, out_cap, "%s/%s", cfg->jobs_dir, j->id);
		return;
	}
	snprintf(output_dir, cap, "run-%lld", (long long)j->lease_epoch);
	snprintf(out_dir, out_cap, "%s/%s/%s", cfg->jobs_dir, j->id, output_dir);
}

/* The epoch of a "run-N" name, or -1. */
static long long run_epoch(const char *name)
{
	char *end;
	long long n;

	if (strncmp(name, "run-", 4) || !name[4])
		return -1;
	n = strtoll(name + 4, &end, 10);
	return *end ? -1 : n;
}

/* Copy src to dst (temp, fsync, rename): for filesystems without links. */
static int copy_file(const char *src, const char *dst, struct ada_err *err)
{
	struct atomic_file af;
	char buf[1 << 16];
	ssize_t n;
	int fd = open(src, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return ada_fail(err, ADA_EIO, "%s: %s", src, strerror(errno));
	if ((rc = atomic_file_open(&af, dst, err))) {
		close(fd);
		return rc;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if ((rc = atomic_file_write(&af, buf, (size_t)n, err)))
			break;
	if (n < 0 && !rc)
		rc = ada_fail(err, ADA_EIO, "%s: %s", src, strerror(errno));
	close(fd);
	if (rc) {
		atomic_file_abort(&af);
		return rc;
	}
	return atomic_file_commit(&af, err);
}

int run_dir_prepare(const char *out_dir, struct ada_err *err)
{
	char job_dir[4096], src[4200], dst[4200], ckpt[4200];
	const char *slash = strrchr(out_dir, '/');
	long long mine = run_epoch(slash ? slash + 1 : ""), best = -1;
	struct dirent *de;
	DIR *d;
	int rc;

	if (!slash || mine < 0 || (size_t)(slash - out_dir) >= sizeof(job_dir))
		return ADA_OK;   /* not a run directory: the job's own (one daemon) */
	snprintf(job_dir, sizeof(job_dir), "%.*s", (int)(slash - out_dir), out_dir);
	snprintf(ckpt, sizeof(ckpt), "%s/checkpoint", out_dir);
	snprintf(dst, sizeof(dst), "%s/state.bin", ckpt);
	if (file_exists(dst))
		return ADA_OK;
	if ((d = opendir(job_dir))) {
		while ((de = readdir(d))) {
			long long e = run_epoch(de->d_name);
			char probe[4200];
			if (e < 0 || e >= mine || e <= best)
				continue;
			snprintf(probe, sizeof(probe), "%s/%s/checkpoint/state.bin", job_dir, de->d_name);
			if (file_exists(probe))
				best = e;
		}
		closedir(d);
	}
	if (best < 0)
		return ADA_OK;   /* no earlier checkpoint: the run starts from step 0 */
	snprintf(src, sizeof(src), "%s/run-%lld/checkpoint/state.bin", job_dir, best);
	if ((rc = mkdir_p(ckpt, 0755, err)))
		return rc;
	if (link(src, dst)) {
		if (errno == EEXIST)
			return ADA_OK;
		if ((rc = copy_file(src, dst, err)))
			return ada_err_prefix(err, rc, "resuming from run-%lld's checkpoint", best);
	}
	return fsync_dir(ckpt, err);
}
