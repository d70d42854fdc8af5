/* pg_server — a throwaway PostgreSQL server for tests; see pg_server.h. */
#include "pg_server.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PORT "5433"

static char bin[1024], dir[256], uri[1024];
static int started;
static pid_t postmaster;
static uid_t run_uid;
static gid_t run_gid;
static int as_other;        /* run the server as nobody (we are root) */
static char created[64][64];
static int n_created;

static void die(const char *what)
{
	fprintf(stderr, "pg_server: %s\n", what);
	exit(1);
}

/* Debian's newest /usr/lib/postgresql/NN/bin, or ADALORA_PG_BIN. */
static int find_bin(void)
{
	const char *env = getenv("ADALORA_PG_BIN");
	DIR *d;
	struct dirent *de;
	int best = -1;
	char path[1200];

	if (env && *env) {
		snprintf(bin, sizeof(bin), "%s", env);
		snprintf(path, sizeof(path), "%s/initdb", bin);
		return access(path, X_OK) == 0;
	}
	if (!(d = opendir("/usr/lib/postgresql")))
		return 0;
	while ((de = readdir(d))) {
		int v = atoi(de->d_name);
		snprintf(path, sizeof(path), "/usr/lib/postgresql/%s/bin/initdb", de->d_name);
		if (v > best && access(path, X_OK) == 0) {
			best = v;
			snprintf(bin, sizeof(bin), "/usr/lib/postgresql/%d/bin", v);
		}
	}
	closedir(d);
	return best >= 0;
}

/* Run argv (argv[0] a program in bin), as the server's user when
 * server_user; its exit status (0 = success). Output goes to log. */
static int run(const char *const *argv, int server_user, const char *log)
{
	char prog[1200];
	int status;
	pid_t pid;

	snprintf(prog, sizeof(prog), "%s/%s", bin, argv[0]);
	pid = fork();
	if (pid < 0)
		die("fork failed");
	if (pid == 0) {
		if (log) {
			FILE *f = fopen(log, "a");
			if (f) {
				dup2(fileno(f), STDOUT_FILENO);
				dup2(fileno(f), STDERR_FILENO);
			}
		}
		if (server_user && as_other &&
		    (setgroups(0, NULL) || setgid(run_gid) || setuid(run_uid)))
			_exit(126);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void remove_tree(const char *path)
{
	char cmd[600];

	/* Our own directory under /tmp, by a name we made. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd))
		fprintf(stderr, "pg_server: could not remove %s\n", path);
}

static void stop_server(void)
{
	char data[300];

	if (!started)
		return;
	started = 0;
	snprintf(data, sizeof(data), "%s/data", dir);
	run((const char *const[]){ "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", NULL },
	    1, NULL);
	remove_tree(dir);
}

/* meson's timeout sends SIGTERM: take the server down with the test. */
static void on_term(int sig)
{
	if (postmaster > 0)
		kill(postmaster, SIGQUIT);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void start_server(void)
{
	char data[300], log[300], opts[600], pidfile[320];
	FILE *f;

	if (!find_bin()) {
		fprintf(stderr,
			"skipped: PostgreSQL's initdb and pg_ctl were not found (apt-get install postgresql, or set ADALORA_PG_BIN)\n");
		exit(77);
	}
	snprintf(dir, sizeof(dir), "/tmp/adalora-pg-XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp failed");
	if (getuid() == 0) {
		struct passwd *pw = getpwnam("nobody");
		if (!pw)
			die("running as root, and there is no user 'nobody' to run PostgreSQL as");
		run_uid = pw->pw_uid;
		run_gid = pw->pw_gid;
		as_other = 1;
		if (chown(dir, run_uid, run_gid))
			die("chown of the server's directory failed");
	}
	chmod(dir, 0700);
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(log, sizeof(log), "%s/initdb.log", dir);
	if (run((const char *const[]){ "initdb", "-D", data, "-U", "adalorad", "--auth=trust",
				       "-N", "-E", "UTF8", "--locale=C", NULL },
		1, log)) {
		remove_tree(dir);
		die("initdb failed");
	}
	/* pg_ctl writes the server's log as the server's user. */
	snprintf(log, sizeof(log), "%s/server.log", dir);
	started = 1;
	atexit(stop_server);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	snprintf(opts, sizeof(opts),
		 "-k %s -p " PORT " -c listen_addresses='' -c fsync=off -c full_page_writes=off "
		 "-c synchronous_commit=off -c max_connections=300 -c unix_socket_permissions=0777",
		 dir);
	if (run((const char *const[]){ "pg_ctl", "-D", data, "-w", "-t", "60", "-l", log, "-o", opts,
				       "start", NULL },
		1, NULL)) {
		char *text = NULL;
		size_t n = 0;
		FILE *lf = fopen(log, "r");
		if (lf && getdelim(&text, &n, '\0', lf) > 0)
			fprintf(stderr, "%s\n", text);
		if (lf)
			fclose(lf);
		free(text);
		die("pg_ctl start failed");
	}
	snprintf(pidfile, sizeof(pidfile), "%s/postmaster.pid", data);
	if ((f = fopen(pidfile, "r"))) {
		long pid = 0;
		if (fscanf(f, "%ld", &pid) == 1)
			postmaster = (pid_t)pid;
		fclose(f);
	}
}

void pg_server_sql(const char *name, const char *sql)
{
	if (!started)
		start_server();
	if (run((const char *const[]){ "psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", dir, "-p", PORT,
				       "-U", "adalorad", "-d", name, "-c", sql, NULL },
		0, NULL))
		die("psql failed");
}

const char *pg_server_uri(const char *name)
{
	int known = 0;

	if (!started)
		start_server();
	for (int i = 0; i < n_created; i++)
		known |= !strcmp(created[i], name);
	if (!known) {
		if (run((const char *const[]){ "createdb", "-h", dir, "-p", PORT, "-U", "adalorad",
					       name, NULL },
			0, NULL))
			die("createdb failed");
		if (n_created < 64)
			snprintf(created[n_created++], sizeof(created[0]), "%s", name);
	}
	snprintf(uri, sizeof(uri), "postgresql:///%s?host=%s&port=" PORT "&user=adalorad", name,
		 dir);
	return uri;
}

const char *pg_server_uri_for(const char *path)
{
	uint64_t h = 0xcbf29ce484222325ull;
	char name[40];

	for (const char *p = path; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 0x100000001b3ull;
	}
	snprintf(name, sizeof(name), "t_%016llx", (unsigned long long)h);
	return pg_server_uri(name);
}
