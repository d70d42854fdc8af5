/*
 * adalorad — the fine-tuning daemon: wiring and lifecycle.
 *
 * Start: options; the store (checked, migrated, jobs a crash left running
 * put back in the queue or, after too many crashes, failed); uploads and
 * job files (checkpoint temporaries) left half-written by a crash swept; the models
 * directory scanned; the workers started; the HTTP API bound, and
 * "listening on ADDR:PORT" printed as the first line on stderr.
 *
 * Stop (SIGTERM or SIGINT): the API stops accepting connections, running
 * jobs checkpoint and go back to the queue, streams end, everything is
 * joined and closed, exit 0. SIGKILL loses nothing acknowledged: every
 * answer the API gave was committed (and fsynced) first.
 *
 * Signals are blocked in every thread and taken synchronously by the main
 * thread with sigwait(), so no handler ever runs inside a library call.
 * One exception: threads a library started before main() (OpenBLAS builds
 * its pool in a constructor) never saw our mask, and a SIGTERM the kernel
 * hands to one of them would kill the process with the default action.
 * A handler that only re-sends the signal to the main thread covers them;
 * it cannot run in our own threads, which all block the signal.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adalora.h"
#include "api.h"
#include "log.h"
#include "models.h"
#include "options.h"
#include "serve.h"
#include "store.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "workers.h"

#ifndef ADALORAD_VERSION
#define ADALORAD_VERSION "unknown"
#endif

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* What the API's hooks reach. */
struct daemon {
	struct models *models;
	struct workers *workers;
	struct serve *serve;
};

static int hook_model_find(void *ctx, const char *id, struct ada_model_info *info)
{
	struct daemon *d = ctx;
	struct model_entry e;

	if (models_find(d->models, id, &e))
		return ADA_ENOTFOUND;
	if (info)
		*info = e.info;
	return ADA_OK;
}

static int hook_model_list(void *ctx, struct api_model **out, size_t *n, struct ada_err *err)
{
	struct daemon *d = ctx;

	return models_list(d->models, out, n, err);
}

static void hook_job_created(void *ctx)
{
	struct daemon *d = ctx;

	workers_wake(d->workers);
}

static void hook_job_cancel(void *ctx, const char *job_id)
{
	struct daemon *d = ctx;

	workers_cancel(d->workers, job_id);
}

static int hook_infer_submit(void *ctx, struct api_infer *job, unsigned *status, int *retry_after,
			     struct ada_err *err)
{
	struct daemon *d = ctx;

	return serve_submit(d->serve, job, status, retry_after, err);
}

static void hook_infer_metrics(void *ctx, struct strbuf *out)
{
	struct daemon *d = ctx;

	serve_metrics(d->serve, out);
}

/* The store's hooks: what other daemons did, and leases this one lost. */
static void hook_queue_changed(void *ctx)
{
	struct daemon *d = ctx;

	workers_wake(d->workers);
}

static void hook_lease_lost(void *ctx, const char *job_id, int64_t epoch)
{
	struct daemon *d = ctx;

	workers_lease_lost(d->workers, job_id, epoch);
}

static void hook_store_warn(void *ctx, const char *line)
{
	(void)ctx;
	log_line(LOG_WARN, line);
}

static void hook_log(void *ctx, enum api_log_level level, const char *line)
{
	(void)ctx;
	log_line((enum log_level)level, line);
}

/* Bearer keys, one per line; blank lines and "#" comments skipped. */
static int load_keys(const char *path, char ***keys, size_t *n, struct ada_err *err)
{
	char *buf, *line, *save = NULL;
	size_t len, cap = 0;
	int rc;

	*keys = NULL;
	*n = 0;
	if ((rc = file_read_all(path, &buf, &len, err)))
		return rc;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *end = line + strlen(line);
		while (*line == ' ' || *line == '\t' || *line == '\r')
			line++;
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (!*line || *line == '#')
			continue;
		if (ALLOC_GROW(*keys, *n + 1, cap) || !((*keys)[*n] = strdup(line))) {
			while (*n)
				free((*keys)[--*n]);
			free(*keys);
			*keys = NULL;
			free(buf);
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		}
		(*n)++;
	}
	free(buf);
	if (!*n)
		return ada_fail(err, ADA_EINVAL, "%s: no API keys in the file (one per line)", path);
	return ADA_OK;
}

static void free_keys(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/* With a data directory shared by several daemons, another daemon may be
 * writing what looks left over (an upload's temporary file, a file whose
 * row is about to commit): only what has not changed for this long is. */
#define SHARED_LEFTOVER_AGE_S 3600

static int old_enough(const char *path, int shared)
{
	struct stat sb;

	return !shared || (!stat(path, &sb) && time(NULL) - sb.st_mtime > SHARED_LEFTOVER_AGE_S);
}

/* Remove what a crash left in files_dir: half-written uploads ("tmp-*"),
 * and stored files whose row never committed. */
static void sweep_files(struct store *st, const char *files_dir)
{
	const int shared = store_shared(st);
	DIR *dir = opendir(files_dir);
	struct dirent *de;
	int removed = 0;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		struct ada_err err = { 0 };
		struct store_file f;
		char path[4096];
		int orphan = !strncmp(de->d_name, "tmp-", 4);

		if (!orphan && !strncmp(de->d_name, "file-", 5))
			orphan = store_file_get(st, de->d_name, &f, &err) == ADA_ENOTFOUND;
		if (!orphan)
			continue;
		snprintf(path, sizeof(path), "%s/%s", files_dir, de->d_name);
		if (old_enough(path, shared) && !unlink(path))
			removed++;
	}
	closedir(dir);
	if (removed) {
		fsync_dir(files_dir, NULL);
		log_msg(LOG_INFO, "msg=\"removed unfinished uploads\" count=%d", removed);
	}
}

/* Descriptors the daemon needs besides its connections: stdio, the log,
 * the database lock, the listening socket, each HTTP thread's epoll and
 * wake-up pipe, every thread's SQLite connection (database and WAL), and
 * what a plan or a training job opens (model, data, checkpoint and export
 * files being written). */
static rlim_t fd_reserve(const struct options *o)
{
	return 32 + 4 * (rlim_t)o->http_threads + 2 * ((rlim_t)o->workers + 3) +
	       8 * ((rlim_t)o->workers + 1);
}

/* The connection limit the descriptor limit allows: the soft limit is
 * raised to the hard one first (as nginx and Go do), then every
 * connection is counted twice (an upload holds its temporary file too).
 * libmicrohttpd at the descriptor limit retries accept() in a busy loop;
 * at the connection limit it just stops accepting. 0 when the limit
 * leaves no useful room. */
static int64_t connection_budget(const struct options *o, rlim_t *nofile)
{
	struct rlimit rl;
	rlim_t reserve = fd_reserve(o), room;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return o->max_connections;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max == RLIM_INFINITY ? 1u << 20 : rl.rlim_max;
		struct rlimit up = { want, rl.rlim_max };
		if (!setrlimit(RLIMIT_NOFILE, &up))
			rl.rlim_cur = want;
	}
	*nofile = rl.rlim_cur;
	if (rl.rlim_cur == RLIM_INFINITY)
		return o->max_connections;
	room = rl.rlim_cur > reserve ? (rl.rlim_cur - reserve) / 2 : 0;
	if (room < 4)
		return 0;
	return (int64_t)room < o->max_connections ? (int64_t)room : o->max_connections;
}

/* "NAME.tmp.<pid>": a temporary file of lib's atomic writes (checkpoint,
 * adapter, result.json), left behind when a write was cut short. */
static int is_atomic_leftover(const char *name)
{
	const char *t = strstr(name, ".tmp.");

	while (t && strstr(t + 1, ".tmp."))
		t = strstr(t + 1, ".tmp.");
	return t && t != name && t[5] && strspn(t + 5, "0123456789") == strlen(t + 5);
}

/* Remove atomic-write leftovers under dir, depth levels down. */
static void sweep_dir(const char *dir, int depth, int *removed, long long *bytes)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int here = 0;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[4096];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path) ||
		    lstat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode) && depth > 0)
			sweep_dir(path, depth - 1, removed, bytes);
		else if (S_ISREG(st.st_mode) && is_atomic_leftover(de->d_name) && !unlink(path)) {
			(*removed)++;
			*bytes += (long long)st.st_size;
			here++;
		}
	}
	closedir(d);
	if (here)
		fsync_dir(dir, NULL);
}

/* Half-written files a kill left in job directories (jobs/<id>/checkpoint/
 * state.bin.tmp.<pid>, the size of the whole training state): nothing
 * writes there before the workers start, so every such file is dead. With
 * a shared data directory other daemons' runs write there: only the
 * directories of finished jobs are swept (a run that lost its lease may
 * still write into one; its file vanishing only fails that run). */
static void sweep_jobs(struct store *st, const char *jobs_dir)
{
	int removed = 0;
	long long bytes = 0;

	if (store_shared(st)) {
		DIR *d = opendir(jobs_dir);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			struct ada_err err = { 0 };
			struct store_job j;
			char path[4096];
			if (strncmp(de->d_name, "ftjob-", 6) ||
			    store_job_get(st, de->d_name, &j, &err))
				continue;
			if (job_status_final(j.status) &&
			    (size_t)snprintf(path, sizeof(path), "%s/%s", jobs_dir, de->d_name) <
				    sizeof(path))
				sweep_dir(path, 3, &removed, &bytes);
			store_job_release(&j);
		}
		if (d)
			closedir(d);
	} else {
		sweep_dir(jobs_dir, 3, &removed, &bytes);
	}
	if (removed)
		log_msg(LOG_INFO, "msg=\"removed half-written job files\" count=%d bytes=%lld", removed,
			bytes);
}

/* --job-memory-limit's default: three quarters of the machine's memory,
 * shared among the workers (the rest is the daemon's, the page cache's and
 * the system's). 0 when the memory cannot be read (no limit). */
static int64_t default_job_memory(int64_t workers)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || page <= 0)
		return 0;
	return (int64_t)((double)pages * (double)page * 0.75 / (double)(workers > 0 ? workers : 1));
}

static int cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

static int run(const struct options *o)
{
	struct daemon d = { 0 };
	struct store *st = NULL;
	struct api *api = NULL;
	struct ada_err err = { 0 };
	char **keys = NULL, *files_dir = NULL, *jobs_dir = NULL, **hosts = NULL, **origins = NULL;
	size_t n_keys = 0, n_hosts = 0, n_origins = 0;
	struct store_recovery recovered = { 0 };
	struct launch_config launch = { 0 };
	int sig, code = EXIT_RUNTIME, blas, tpw;
	int64_t max_connections, job_memory;
	rlim_t nofile = 0;
	sigset_t set;

	log_hold();
	max_connections = connection_budget(o, &nofile);
	if (!max_connections) {
		ada_fail(&err, ADA_EINVAL,
			 "the descriptor limit (ulimit -n %llu) is too low for %lld workers and %lld HTTP threads: raise it to at least %llu",
			 (unsigned long long)nofile, (long long)o->workers, (long long)o->http_threads,
			 (unsigned long long)(fd_reserve(o) + 64));
		goto out_fail;
	}
	if (max_connections < o->max_connections)
		log_msg(LOG_WARN,
			"msg=\"connection limit lowered to fit the descriptor limit\" max_connections=%lld capped=%lld nofile=%llu",
			(long long)o->max_connections, (long long)max_connections,
			(unsigned long long)nofile);
	files_dir = path_join(o->data_dir, "files");
	jobs_dir = path_join(o->data_dir, "jobs");
	if (!files_dir || !jobs_dir) {
		ada_fail(&err, ADA_ENOMEM, "out of memory");
		goto out_fail;
	}
	if (options_list(o->allowed_hosts, &hosts, &n_hosts, &err) ||
	    options_list(o->allowed_origins, &origins, &n_origins, &err))
		goto out_fail;
	if ((o->api_key_file && load_keys(o->api_key_file, &keys, &n_keys, &err)) ||
	    mkdir_p(files_dir, 0700, &err) || mkdir_p(jobs_dir, 0755, &err))
		goto out_fail;
	{
		struct store_config sc = {
			.path = o->db, .busy_timeout_ms = 5000,
			.sync = strcmp(o->sqlite_synchronous, "normal") ? STORE_SYNC_FULL
									 : STORE_SYNC_NORMAL,
			.skip_integrity_check = !strcmp(o->integrity_check, "off"),
			.daemon_id = o->daemon_id, .lease_ms = o->lease_ms,
			.heartbeat_ms = o->lease_heartbeat_ms, .workers = (int)o->workers,
			.version = ADALORAD_VERSION,
		};
		if (store_open(&sc, &st, &err) ||
		    store_recover(st, (int)o->max_attempts, &recovered, &err))
			goto out_fail;
	}
	sweep_files(st, files_dir);
	sweep_jobs(st, jobs_dir);
	if (models_open(o->models_dir, o->models_rescan_ms, &d.models, &err))
		goto out_fail;
	/* jobs of several processes: the launcher and adalora, found now */
	if (o->max_processes > 1 &&
	    launch_config_init(&launch, o->launcher, o->adalora_bin, o->launcher_grace_ms,
			       (int)o->max_processes, &err))
		goto out_fail;
	blas = o->blas_threads ? (int)o->blas_threads : cpu_count();
	/* each worker's share of the BLAS threads (all of them for the
	 * validator of a daemon that has no workers) */
	tpw = blas / (int)(o->workers > 0 ? o->workers : 1) > 0
		      ? blas / (int)(o->workers > 0 ? o->workers : 1) : 1;
	if (!o->workers && !store_shared(st)) {
		ada_fail(&err, ADA_EINVAL,
			 "--workers 0 (a daemon that serves the API and trains nothing) needs a store shared with daemons that train (--db postgresql://...)");
		goto out_fail;
	}
	job_memory = o->job_memory_limit >= 0 ? o->job_memory_limit : default_job_memory(o->workers);
	{
		struct workers_config wc = {
			.store = st, .models = d.models, .files_dir = files_dir,
			.jobs_dir = jobs_dir, .n_workers = (int)o->workers,
			.threads_per_worker = tpw,
			.reconcile_interval_ms = o->reconcile_interval_ms,
			.job_memory_limit = job_memory, .run_dirs = store_shared(st),
			.launch = o->max_processes > 1 ? &launch : NULL,
		};
		struct store_hooks sh = {
			.ctx = &d, .queue_changed = hook_queue_changed, .cancel = hook_job_cancel,
			.lease_lost = hook_lease_lost, .warn = hook_store_warn,
		};
		if (workers_start(&wc, &d.workers, &err))
			goto out_fail;
		store_set_hooks(st, &sh);
	}
	{
		/* Serving's share of the CPUs: --serve-threads at --serve-nice,
		 * beside training's --blas-threads at nice +10 (README, "Serving"). */
		int serve_threads = o->serve_threads ? (int)o->serve_threads
						     : cpu_count() / 2 > 0 ? cpu_count() / 2 : 1;
		struct serve_config sc = {
			.models = d.models, .store = st, .jobs_dir = jobs_dir,
			.threads = serve_threads, .nice = (int)o->serve_nice,
			.max_sequences = (int)o->serve_max_sequences,
			.max_queue = (int)o->serve_max_queue,
			.max_tokens = (int)o->serve_max_tokens,
			.max_rows = (int)o->serve_max_rows,
			.adapter_cache = o->serve_adapter_cache,
			.idle_bases = (int)o->serve_idle_bases,
			.max_windows = (int)o->serve_max_windows,
		};
		if (serve_start(&sc, &d.serve, &err))
			goto out_fail;
	}
	{
		struct api_config ac = {
			.listen = o->listen, .files_dir = files_dir, .jobs_dir = jobs_dir,
			.version = ADALORAD_VERSION, .keys = (const char *const *)keys,
			.n_keys = n_keys, .workers = (int)o->workers, .store = st,
			.allowed_hosts = (const char *const *)hosts, .n_allowed_hosts = n_hosts,
			.allowed_origins = (const char *const *)origins,
			.n_allowed_origins = n_origins,
			.limits = {
				.max_body = (size_t)o->max_body_size,
				.max_upload = (size_t)o->max_upload_size,
				.max_connections = (unsigned)max_connections,
				.max_waiting_jobs = o->max_queued_jobs,
				.max_streams = (unsigned)o->max_sse_clients,
				.keepalive_ms = (unsigned)o->sse_keepalive_ms,
				.http_threads = (unsigned)o->http_threads,
				.idle_timeout_s = (unsigned)o->idle_timeout,
				.header_timeout_s = (unsigned)o->header_timeout,
				.max_per_address = (unsigned)o->max_connections_per_address,
				.job_memory_limit = job_memory,
				.job_threads = tpw,
				.max_processes = (int)o->max_processes,
				.idempotency_ttl_s = o->idempotency_ttl_ms / 1000,
			},
			.hooks = {
				.ctx = &d, .model_find = hook_model_find,
				.model_list = hook_model_list, .job_created = hook_job_created,
				.job_cancel = hook_job_cancel, .log = hook_log,
				.infer_submit = hook_infer_submit,
				.infer_metrics = hook_infer_metrics,
			},
		};
		if (api_start(&ac, &api, &err))
			goto out_fail;
	}
	store_set_address(st, api_address(api));
	fprintf(stderr, "listening on %s\n", api_address(api));
	fflush(stderr);
	log_release();
	{
		char line[1200] = "";
		logfmt_append(line, sizeof(line), "msg", "started");
		logfmt_append(line, sizeof(line), "version", ADALORAD_VERSION);
		logfmt_append(line, sizeof(line), "db",
			      store_shared(st) ? "postgresql" : o->db);   /* a URI may hold a password */
		logfmt_append(line, sizeof(line), "daemon_id", store_daemon_id(st));
		logfmt_append(line, sizeof(line), "models_dir", o->models_dir);
		logfmt_append(line, sizeof(line), "blas_kernel", ada_blas_kernel());
		log_msg(LOG_INFO,
			"%s models=%zu workers=%lld blas_threads_per_worker=%d job_memory_limit=%lld requeued=%d cancelled=%d failed=%d auth=%s",
			line, models_count(d.models), (long long)o->workers,
			tpw, (long long)job_memory,
			recovered.requeued, recovered.cancelled, recovered.failed, n_keys ? "on" : "off");
	}

	if (o->max_processes > 1) {
		char line[1200] = "";
		logfmt_append(line, sizeof(line), "msg", "jobs may run across processes");
		logfmt_append(line, sizeof(line), "launcher", o->launcher);
		logfmt_append(line, sizeof(line), "adalora", launch.adalora);
		log_msg(LOG_INFO, "%s max_processes=%lld", line, (long long)o->max_processes);
	}

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigwait(&set, &sig);
	log_msg(LOG_INFO, "msg=\"shutting down\" signal=%s", sig == SIGTERM ? "TERM" : "INT");
	api_quiesce(api);
	store_set_hooks(st, NULL);   /* nothing calls into the workers from here */
	serve_stop(d.serve);       /* requests in flight end with 503 */
	workers_stop(d.workers);   /* running jobs checkpoint and re-queue */
	d.workers = NULL;
	api_stop(api);
	api = NULL;
	code = 0;
	log_msg(LOG_INFO, "msg=stopped");
	goto out_free;
out_fail:
	log_release();
	fprintf(stderr, "adalorad: %s\n", err.msg);
out_free:
	if (st)
		store_set_hooks(st, NULL);
	serve_stop(d.serve);
	workers_stop(d.workers);
	launch_config_release(&launch);
	api_stop(api);
	serve_free(d.serve);      /* after the api: its threads call the hooks */
	models_free(d.models);
	store_free(st);
	free_keys(keys, n_keys);
	options_list_free(hosts, n_hosts);
	options_list_free(origins, n_origins);
	free(files_dir);
	free(jobs_dir);
	return code;
}

static pthread_t main_thread;

/* Runs only in a foreign thread (see the top): pass the signal on to the
 * main thread, where it pends until sigwait() takes it. */
static void forward_to_main(int sig)
{
	int saved = errno;

	pthread_kill(main_thread, sig);
	errno = saved;
}

int main(int argc, char **argv)
{
	struct ada_err err = { 0 };
	struct options o;
	sigset_t set;
	int help = 0, code;

	if (options_parse(argc, argv, &o, &help, &err)) {
		fprintf(stderr, "adalorad: %s (adalorad --help lists the flags)\n", err.msg);
		options_release(&o);
		return EXIT_USAGE;
	}
	if (help) {
		fputs(options_usage, stdout);
		options_release(&o);
		return 0;
	}
	log_set_level((enum log_level)log_level_from_name(o.log_level));
	{
		/* Before any thread: may re-execute with a better BLAS kernel. */
		char kmsg[256];
		int krc = ada_blas_kernel_select(argv, kmsg, sizeof(kmsg));
		if (kmsg[0])
			log_msg(krc ? LOG_WARN : LOG_INFO, "msg=\"%s\"", kmsg);
	}
	/* Before any thread of ours exists, so every one inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	main_thread = pthread_self();
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = forward_to_main;
		sigfillset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	code = run(&o);
	options_release(&o);
	return code;
}
