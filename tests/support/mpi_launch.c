/* mpi_launch — starting mpirun in the tests; see mpi_launch.h. */
#include "mpi_launch.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int on_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[4096];

	while (path && *path) {
		size_t n = strcspn(path, ":");
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
		if (n && access(buf, X_OK) == 0)
			return 1;
		path += n + (path[n] == ':');
	}
	return 0;
}

int mpi_available(const char *adalora, char *why, size_t cap)
{
	char cmd[4300], line[512] = "";
	FILE *p;
	int mpi = 0;

	if (!on_path("mpirun")) {
		snprintf(why, cap, "mpirun is not on PATH (Open MPI: apt-get install openmpi-bin libopenmpi-dev)");
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "'%s' --version 2>/dev/null", adalora);
	if (!(p = popen(cmd, "r"))) {
		snprintf(why, cap, "cannot run %s", adalora);
		return 0;
	}
	while (fgets(line, sizeof(line), p))
		if (!strncmp(line, "mpi: ", 5) && strncmp(line + 5, "none", 4))
			mpi = 1;
	pclose(p);
	if (!mpi)
		snprintf(why, cap, "%s was built without MPI (libopenmpi-dev was absent at setup)",
			 adalora);
	return mpi;
}

int mpi_launcher_argv(int n, const char **argv)
{
	static char np[16];
	int k = 0;

	snprintf(np, sizeof(np), "%d", n);
	argv[k++] = "mpirun";
	argv[k++] = "--oversubscribe";
	if (geteuid() == 0)
		argv[k++] = "--allow-run-as-root";
	argv[k++] = "-np";
	argv[k++] = np;
	argv[k] = NULL;
	return k;
}

const char *mpi_launcher_template(void)
{
	return geteuid() == 0 ? "mpirun --oversubscribe --allow-run-as-root -np {n}"
			      : "mpirun --oversubscribe -np {n}";
}

pid_t launch(const char *const *argv, const char *out_path, const char *err_path)
{
	pid_t pid = fork();

	if (pid < 0)
		return 0;
	if (pid == 0) {
		int fd;
		setpgid(0, 0);
		if (out_path && (fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0) {
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		if (err_path && (fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0) {
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

int launch_wait(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

int launch_run(const char *const *argv, const char *out_path, const char *err_path)
{
	pid_t pid = launch(argv, out_path, err_path);

	return pid ? launch_wait(pid) : -1;
}

static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid;
}

static int rank_of(pid_t pid)
{
	char path[64], buf[1 << 16];
	size_t n;
	FILE *f;
	int rank = -1;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
		if (!strncmp(buf + i, "OMPI_COMM_WORLD_RANK=", 21))
			rank = atoi(buf + i + 21);
	return rank;
}

pid_t mpi_find_rank(pid_t launcher, int rank)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	while (d && (e = readdir(d)) && !found) {
		pid_t pid = (pid_t)atoi(e->d_name), p;
		if (pid <= 0)
			continue;
		for (p = parent_of(pid); p > 1 && p != launcher; p = parent_of(p))
			;
		if (p == launcher && rank_of(pid) == rank)
			found = pid;
	}
	if (d)
		closedir(d);
	return found;
}

static int cmdline_has(pid_t pid, const char *needle)
{
	char path[64], buf[8192];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

pid_t mpi_find_rank_by_cmdline(const char *needle, int rank)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	while (d && (e = readdir(d)) && !found) {
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid > 0 && cmdline_has(pid, needle) && rank_of(pid) == rank)
			found = pid;
	}
	if (d)
		closedir(d);
	return found;
}

int wait_for_line(const char *path, const char *needle, double timeout_s)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	for (double waited = 0; waited <= timeout_s; waited += 0.02) {
		FILE *f = fopen(path, "r");
		char line[1 << 14];
		int found = 0;

		while (f && !found && fgets(line, sizeof(line), f))
			found = strstr(line, needle) != NULL;
		if (f)
			fclose(f);
		if (found)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}
