/* launch — a job trained by several processes through a launcher; see launch.h. */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "util/err.h"
#include "util/fileio.h"
#include "workers.h"

/* A progress line longer than this is cut (and then not ours). */
#define MAX_LINE (16u << 20)
/* The launcher's last lines on stderr kept for a failure's message (which
 * holds 512 bytes: Open MPI says what happened last). */
#define TAIL_LINES 2
#define TAIL_WIDTH 200
/* How often the worker looks at its stop flag while the launcher runs. */
#define POLL_MS 100

/* ---- configuration ------------------------------------------------------ */

static char *find_on_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? strdup(name) : NULL;
	while (path && *path) {
		size_t n = strcspn(path, ":");
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
		if (n && access(buf, X_OK) == 0)
			return strdup(buf);
		path += n + (path[n] == ':');
	}
	return NULL;
}

/* adalora beside the running adalorad (installed side by side), or in the
 * build tree (build/daemon/adalorad, build/cli/adalora). */
static char *find_adalora(void)
{
	static const char *const rel[] = { "adalora", "../cli/adalora" };
	char self[PATH_MAX], buf[PATH_MAX + 32], *dir, *real;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return NULL;
	self[n] = '\0';
	dir = dirname(self);
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(buf, sizeof(buf), "%s/%s", dir, rel[i]);
		if (access(buf, X_OK) == 0 && (real = realpath(buf, NULL)))
			return real;
	}
	return NULL;
}

int launch_config_init(struct launch_config *lc, const char *launcher, const char *adalora_bin,
		       int64_t grace_ms, int max_processes, struct ada_err *err)
{
	const char *s = launcher;

	memset(lc, 0, sizeof(*lc));
	lc->grace_ms = grace_ms;
	lc->max_processes = max_processes;
	while (*s) {
		size_t n;
		char **v;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		n = strcspn(s, " \t");
		v = realloc(lc->words, sizeof(*v) * (size_t)(lc->n_words + 2));
		if (!v || !(v[lc->n_words] = strndup(s, n))) {
			lc->words = v ? v : lc->words;
			launch_config_release(lc);
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		}
		lc->words = v;
		v[++lc->n_words] = NULL;
		s += n;
	}
	if (!lc->n_words) {
		launch_config_release(lc);
		return ada_fail_param(err, ADA_EINVAL, "launcher", "--launcher is empty");
	}
	if (!(lc->launcher_path = find_on_path(lc->words[0]))) {
		ada_fail_param(err, ADA_EINVAL, "launcher",
			       "--launcher: '%s' is not on PATH (Open MPI's mpirun: apt-get install "
			       "openmpi-bin)", lc->words[0]);
		launch_config_release(lc);
		return ADA_EINVAL;
	}
	lc->adalora = adalora_bin ? (access(adalora_bin, X_OK) == 0 ? realpath(adalora_bin, NULL)
								   : NULL)
				  : find_adalora();
	if (!lc->adalora) {
		if (adalora_bin)
			ada_fail_param(err, ADA_EINVAL, "adalora_bin",
				       "--adalora-bin: %s is not an executable program", adalora_bin);
		else
			ada_fail_param(err, ADA_EINVAL, "adalora_bin",
				       "--max-processes above 1 runs adalora, which is not beside "
				       "adalorad: name it with --adalora-bin");
		launch_config_release(lc);
		return ADA_EINVAL;
	}
	return ADA_OK;
}

void launch_config_release(struct launch_config *lc)
{
	for (int i = 0; lc->words && i < lc->n_words; i++)
		free(lc->words[i]);
	free(lc->words);
	free(lc->launcher_path);
	free(lc->adalora);
	memset(lc, 0, sizeof(*lc));
}

/* ---- the job for adalora ------------------------------------------------- */

/* path made absolute (the launcher may start processes elsewhere) */
static json_t *abs_path(const char *path)
{
	char *real;
	json_t *v;

	if (!path || !*path)
		return json_null();
	real = realpath(path, NULL);
	v = json_string(real ? real : path);
	free(real);
	return v;
}

/* out_dir/launch.json: cli/job_config.h's CONFIG.json of this job. */
static int write_job(const struct job_inputs *in, const struct store_job *j,
		     const struct ada_job *job, struct ada_err *err)
{
	json_t *method = json_loads(j->method ? j->method : "", 0, NULL), *o;
	int rc;

	if (!method)
		return ada_fail(err, ADA_EFORMAT, "the job's stored method is not JSON");
	o = json_pack("{s:o,s:o,s:o,s:o,s:I,s:o,s:s}", "model", abs_path(job->model), "tokenizer",
		      abs_path(job->tokenizer), "train_file", abs_path(job->train_file),
		      "valid_file", abs_path(job->valid_file), "seed", (json_int_t)job->seed,
		      "method", method, "model_name", j->model);
	if (!o)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	rc = json_write_atomic(in->out_dir, "launch.json", o, err);
	json_decref(o);
	return rc;
}

/* ---- watching it run ------------------------------------------------------ */

struct stream {
	int fd;                         /* -1 once at its end */
	char *buf;
	size_t len, cap;
};

struct watch {
	const struct store_job *j;
	const struct ada_callbacks *cb;
	struct ada_progress_end end;
	char tail[TAIL_LINES][TAIL_WIDTH];   /* the launcher's last stderr lines */
	int n_tail;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void log_text(const struct watch *w, const char *stream, const char *line)
{
	char buf[1200] = "";

	logfmt_append(buf, sizeof(buf), "msg", "launcher");
	logfmt_append(buf, sizeof(buf), "job", w->j->id);
	logfmt_append(buf, sizeof(buf), "stream", stream);
	logfmt_append(buf, sizeof(buf), "line", line);
	log_line(LOG_INFO, buf);
}

/* Open MPI frames its messages with lines of dashes: those say nothing. */
static int says_something(const char *line)
{
	for (; *line; line++)
		if (*line != '-' && *line != ' ' && *line != '\t' && *line != '\r')
			return 1;
	return 0;
}

static void on_line(struct watch *w, int is_err, char *line, size_t len)
{
	struct ada_err err = { 0 };

	line[len] = '\0';
	if (!is_err) {
		int rc = ada_progress_line(line, len, w->cb, &w->end, &err);
		if (rc == ADA_OK)
			return;
		if (rc != ADA_EFORMAT)
			log_msg(LOG_ERROR, "msg=\"cannot read a progress line\" job=%s detail=\"%s\"",
				w->j->id, err.msg);
	}
	if (!says_something(line))
		return;
	log_text(w, is_err ? "stderr" : "stdout", line);
	if (is_err) {
		if (w->n_tail == TAIL_LINES) {
			memmove(w->tail[0], w->tail[1], sizeof(w->tail[0]) * (TAIL_LINES - 1));
			w->n_tail--;
		}
		snprintf(w->tail[w->n_tail++], TAIL_WIDTH, "%s", line);
	}
}

/* Read what is there; lines go to on_line. 0, or -1 at the end. */
static int pump(struct watch *w, struct stream *s, int is_err)
{
	char chunk[65536];
	ssize_t n = read(s->fd, chunk, sizeof(chunk));
	size_t start = 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		if (s->len)
			on_line(w, is_err, s->buf, s->len);
		s->len = 0;
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	if (s->len + (size_t)n + 1 > s->cap) {
		size_t cap = (s->len + (size_t)n + 1) * 2;
		char *b = realloc(s->buf, cap);
		if (!b) {
			s->len = 0;   /* a line lost to memory; the rest goes on */
			return 0;
		}
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, chunk, (size_t)n);
	s->len += (size_t)n;
	for (size_t i = 0; i < s->len; i++)
		if (s->buf[i] == '\n') {
			on_line(w, is_err, s->buf + start, i - start);
			start = i + 1;
		}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
	if (s->len > MAX_LINE) {
		on_line(w, is_err, s->buf, MAX_LINE);
		s->len = 0;
	}
	return 0;
}

/* ---- starting it ----------------------------------------------------------- */

/* argv: the launcher's words ({n} replaced), then adalora train. Each
 * string owned by the array (free_argv). */
static char **build_argv(const struct launch_config *lc, const char *job_path,
			 const char *out_dir, int resume, int processes, int threads)
{
	const int extra = 10;
	char **v = calloc((size_t)(lc->n_words + extra + 1), sizeof(*v));
	char n[16], t[16];
	int k = 0;

	if (!v)
		return NULL;
	snprintf(n, sizeof(n), "%d", processes);
	snprintf(t, sizeof(t), "%d", threads);
	for (int i = 0; i < lc->n_words; i++) {
		const char *w = lc->words[i], *at = strstr(w, "{n}");
		size_t len = strlen(w) + sizeof(n);
		if (!(v[k] = malloc(len)))
			goto out_fail;
		if (at)
			snprintf(v[k], len, "%.*s%s%s", (int)(at - w), w, n, at + 3);
		else
			snprintf(v[k], len, "%s", w);
		k++;
	}
	{
		const char *rest[] = { lc->adalora, "train", job_path, resume ? "--resume" : "--out",
				       out_dir, "--threads", t, "--quiet", "--progress-json" };
		for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
			if (!(v[k++] = strdup(rest[i])))
				goto out_fail;
	}
	return v;
out_fail:
	for (int i = 0; i < k; i++)
		free(v[i]);
	free(v);
	return NULL;
}

static void free_argv(char **v)
{
	for (int i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* fork and exec argv under path: in its own process group, stdin from
 * /dev/null, stdout and stderr into the pipes, the lock on descriptor 3,
 * nothing else of the daemon's open, no signal blocked, SIGTERM when this
 * thread dies. Only async-signal-safe calls after fork. */
static pid_t spawn(const char *path, char *const *argv, int out_w, int err_w, int lock_fd)
{
	const pid_t parent = getpid();
	sigset_t none;
	pid_t pid;
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

	sigemptyset(&none);
	if (devnull < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		static const char failed[] = "adalorad: cannot start the launcher\n";
		ssize_t ignored;
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(126);
		if (dup2(devnull, STDIN_FILENO) < 0 || dup2(out_w, STDOUT_FILENO) < 0 ||
		    dup2(err_w, STDERR_FILENO) < 0 || dup2(lock_fd, 3) < 0)
			_exit(126);
		close_range(4, ~0U, 0);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(path, argv);
		ignored = write(STDERR_FILENO, failed, sizeof(failed) - 1);
		(void)ignored;
		_exit(127);
	}
	close(devnull);
	return pid;
}

/* Hold dir/launch.lock, waiting (for the grace, or a stop) while an earlier
 * launch of this job still holds it. The descriptor, or -1 with err set. */
static int take_lock(const struct launch_config *lc, const char *dir, const _Atomic int *stop,
		     struct ada_err *err)
{
	char path[4200];
	const double deadline = now_ms() + (double)lc->grace_ms;
	const struct timespec pause = { 0, 100 * 1000 * 1000 };
	int fd;

	snprintf(path, sizeof(path), "%s/launch.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		ada_fail(err, ADA_EIO, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB)) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			ada_fail(err, ADA_EIO, "%s: %s", path, strerror(errno));
			break;
		}
		if (stop && atomic_load(stop) != ADA_RUN) {
			const int s = atomic_load(stop);
			ada_fail(err, s == ADA_STOP_CANCEL ? ADA_ECANCELLED : ADA_ESTOPPED,
				 "%s before its launch", s == ADA_STOP_CANCEL ? "cancelled" : "paused");
			break;
		}
		if (now_ms() > deadline) {
			ada_fail(err, ADA_EIO,
				 "an earlier launch of this job still runs (its processes hold the job's launch.lock)");
			break;
		}
		nanosleep(&pause, NULL);
	}
	if (err->code) {
		close(fd);
		return -1;
	}
	return fd;
}

static void launcher_failed(struct ada_err *err, const struct watch *w, const char *launcher,
			    int status, int signaled)
{
	char tail[4 * TAIL_WIDTH] = "";
	size_t n = 0;

	for (int i = 0; i < w->n_tail && n < sizeof(tail) - 4; i++)
		n += (size_t)snprintf(tail + n, sizeof(tail) - n, "%s%s", i ? " / " : "", w->tail[i]);
	if (signaled)
		ada_fail(err, ADA_EIO, "the launcher (%s) was killed by signal %d before the job ended%s%s",
			 launcher, status - 128, n ? ": " : "", tail);
	else
		ada_fail(err, ADA_EIO, "the launcher (%s) exited with status %d before the job ended%s%s",
			 launcher, status, n ? ": " : "", tail);
}

int launch_train(const struct launch_config *lc, const struct job_inputs *in,
		 const struct store_job *j, const struct ada_job *job, int processes, int threads,
		 struct ada_result *res, struct launch_outcome *lo, struct ada_err *err)
{
	struct watch w = { .j = j, .cb = job->cb };
	struct stream s[2] = { { .fd = -1 }, { .fd = -1 } };
	char job_path[4200], ck[4200], **argv = NULL;
	int out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 }, lock_fd = -1, status = -1;
	int cancelled = 0, paused = 0, killed = 0, signaled = 0, rc;
	double deadline = 0, drained_by = 0;
	pid_t pid = -1;

	memset(lo, 0, sizeof(*lo));
	if (!lc || lc->max_processes < processes)
		return ada_fail_param(err, ADA_EINVAL, "processes",
				      "this adalorad runs jobs in at most %d process%s: start it with "
				      "--max-processes %d to run this job", lc ? lc->max_processes : 1,
				      lc && lc->max_processes > 1 ? "es" : "", processes);
	if ((rc = mkdir_p(in->out_dir, 0755, err)) || (rc = write_job(in, j, job, err)))
		return rc;
	snprintf(job_path, sizeof(job_path), "%s/launch.json", in->out_dir);
	snprintf(ck, sizeof(ck), "%s/checkpoint", in->out_dir);
	if ((lock_fd = take_lock(lc, in->out_dir, job->stop, err)) < 0)
		return err->code;
	argv = build_argv(lc, job_path, in->out_dir, dir_exists(ck), processes, threads);
	if (!argv || pipe2(out_p, O_CLOEXEC) || pipe2(err_p, O_CLOEXEC)) {
		rc = ada_fail(err, ADA_ENOMEM, "cannot start the launcher: %s",
			      argv ? strerror(errno) : "out of memory");
		goto out_close;
	}
	pid = spawn(lc->launcher_path, argv, out_p[1], err_p[1], lock_fd);
	close(out_p[1]);
	close(err_p[1]);
	out_p[1] = err_p[1] = -1;
	if (pid < 0) {
		rc = ada_fail(err, ADA_EIO, "cannot start the launcher: %s", strerror(errno));
		goto out_close;
	}
	log_msg(LOG_INFO, "msg=\"job launched\" job=%s processes=%d threads=%d pid=%d", j->id,
		processes, threads, (int)pid);
	s[0].fd = out_p[0];
	s[1].fd = err_p[0];
	out_p[0] = err_p[0] = -1;
	while (s[0].fd >= 0 || s[1].fd >= 0 || status < 0) {
		struct pollfd pf[2];
		int n = 0, stop = job->stop ? atomic_load(job->stop) : ADA_RUN;

		/* a cancel ends the processes; a pause asks them to checkpoint */
		if (stop == ADA_STOP_CANCEL && !cancelled) {
			cancelled = 1;
			kill(-pid, SIGTERM);
			deadline = now_ms() + (double)lc->grace_ms;
		} else if (stop == ADA_STOP_PAUSE && !paused && !cancelled) {
			paused = 1;
			kill(pid, SIGUSR1);
			deadline = now_ms() + (double)lc->grace_ms;
		}
		if (deadline > 0 && now_ms() > deadline && !killed && status < 0) {
			killed = 1;
			kill(-pid, SIGKILL);
			log_msg(LOG_WARN, "msg=\"launcher killed after its grace\" job=%s pid=%d",
				j->id, (int)pid);
		}
		if (status < 0) {
			int st;
			if (waitpid(pid, &st, WNOHANG) == pid) {
				status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				signaled = !WIFEXITED(st);
				/* what it left in the pipes is read; a descendant that
				 * kept them open is not waited for past the grace */
				drained_by = now_ms() + (double)lc->grace_ms;
			}
		}
		if (status >= 0 && now_ms() > drained_by)
			break;
		for (int k = 0; k < 2; k++)
			if (s[k].fd >= 0)
				pf[n++] = (struct pollfd){ .fd = s[k].fd, .events = POLLIN };
		if (!n) {
			if (status < 0)
				nanosleep(&(struct timespec){ 0, POLL_MS * 1000000L }, NULL);
			continue;
		}
		if (poll(pf, (nfds_t)n, POLL_MS) <= 0)
			continue;
		for (int k = 0, i = 0; k < 2; k++) {
			if (s[k].fd < 0)
				continue;
			if (pf[i++].revents)
				pump(&w, &s[k], k == 1);
		}
	}
	lo->status = status;
	log_msg(LOG_INFO, "msg=\"launcher ended\" job=%s status=%d", j->id, status);
	if (w.end.ended) {
		rc = w.end.rc;
		if (rc)
			*err = w.end.err;
		*res = w.end.res;
		memset(&w.end.res, 0, sizeof(w.end.res));
	} else if (cancelled) {
		rc = ada_fail(err, ADA_ECANCELLED, "cancelled; the launcher's processes were ended");
	} else if (paused) {
		rc = ada_fail(err, ADA_ESTOPPED,
			      "stopped before its processes could checkpoint; it resumes from its last checkpoint");
	} else {
		lo->launcher_failed = 1;
		launcher_failed(err, &w, lc->words[0], status, signaled);
		rc = err->code;
	}
out_close:
	for (int k = 0; k < 2; k++) {
		if (s[k].fd >= 0)
			close(s[k].fd);
		free(s[k].buf);
	}
	for (int k = 0; k < 2; k++) {
		if (out_p[k] >= 0)
			close(out_p[k]);
		if (err_p[k] >= 0)
			close(err_p[k]);
	}
	if (lock_fd >= 0)
		close(lock_fd);
	ada_result_release(&w.end.res);
	free_argv(argv);
	return rc;
}
