/* options — defaults, --config file, flags; see options.h. */
#include "options.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util/alloc.h"
#include "util/err.h"

enum opt_kind {
	OPT_STR,
	OPT_INT,
	OPT_SIZE,       /* bytes, with an optional K/M/G suffix (powers of 1024) */
	OPT_MS,         /* given in seconds (decimals allowed), kept in milliseconds */
};

struct opt {
	const char *flag;
	enum opt_kind kind;
	size_t offset;
	int64_t min, max;
	int config_ok;  /* may appear in the config file */
};

#define OFF(f) offsetof(struct options, f)

static const struct opt table[] = {
	{ "--listen", OPT_STR, OFF(listen), 0, 0, 1 },
	{ "--db", OPT_STR, OFF(db), 0, 0, 1 },
	{ "--data-dir", OPT_STR, OFF(data_dir), 0, 0, 1 },
	{ "--models-dir", OPT_STR, OFF(models_dir), 0, 0, 1 },
	{ "--models-rescan-interval", OPT_MS, OFF(models_rescan_ms), 0, 3600 * 1000, 1 },
	{ "--workers", OPT_INT, OFF(workers), 0, 256, 1 },
	{ "--blas-threads", OPT_INT, OFF(blas_threads), 0, 4096, 1 },
	{ "--http-threads", OPT_INT, OFF(http_threads), 1, 256, 1 },
	{ "--api-key-file", OPT_STR, OFF(api_key_file), 0, 0, 1 },
	{ "--config", OPT_STR, OFF(config), 0, 0, 0 },
	{ "--log-level", OPT_STR, OFF(log_level), 0, 0, 1 },
	{ "--sqlite-synchronous", OPT_STR, OFF(sqlite_synchronous), 0, 0, 1 },
	{ "--max-body-size", OPT_SIZE, OFF(max_body_size), 64, (int64_t)1 << 30, 1 },
	{ "--max-upload-size", OPT_SIZE, OFF(max_upload_size), 64, (int64_t)1 << 40, 1 },
	{ "--max-connections", OPT_INT, OFF(max_connections), 4, 1000000, 1 },
	{ "--max-queued-jobs", OPT_INT, OFF(max_queued_jobs), 0, 1000000000, 1 },
	{ "--max-sse-clients", OPT_INT, OFF(max_sse_clients), 1, 1000000, 1 },
	{ "--sse-keepalive", OPT_MS, OFF(sse_keepalive_ms), 10, 3600 * 1000, 1 },
	{ "--idle-timeout", OPT_INT, OFF(idle_timeout), 1, 86400, 1 },
	{ "--header-timeout", OPT_INT, OFF(header_timeout), 0, 3600, 1 },
	{ "--max-connections-per-address", OPT_INT, OFF(max_connections_per_address), 0, 1000000, 1 },
	{ "--job-memory-limit", OPT_SIZE, OFF(job_memory_limit), 0, (int64_t)1 << 50, 1 },
	{ "--max-attempts", OPT_INT, OFF(max_attempts), 0, 1000, 1 },
	{ "--reconcile-interval", OPT_MS, OFF(reconcile_interval_ms), 100, 3600 * 1000, 1 },
	{ "--integrity-check", OPT_STR, OFF(integrity_check), 0, 0, 1 },
	{ "--allowed-hosts", OPT_STR, OFF(allowed_hosts), 0, 0, 1 },
	{ "--allowed-origins", OPT_STR, OFF(allowed_origins), 0, 0, 1 },
	{ "--max-processes", OPT_INT, OFF(max_processes), 1, 4096, 1 },
	{ "--launcher", OPT_STR, OFF(launcher), 0, 0, 1 },
	{ "--adalora-bin", OPT_STR, OFF(adalora_bin), 0, 0, 1 },
	{ "--launcher-grace", OPT_MS, OFF(launcher_grace_ms), 100, 3600 * 1000, 1 },
	{ "--serve-threads", OPT_INT, OFF(serve_threads), 0, 4096, 1 },
	{ "--serve-nice", OPT_INT, OFF(serve_nice), 0, 19, 1 },
	{ "--serve-max-sequences", OPT_INT, OFF(serve_max_sequences), 1, 1024, 1 },
	{ "--serve-max-queue", OPT_INT, OFF(serve_max_queue), 0, 1000000, 1 },
	{ "--serve-max-tokens", OPT_INT, OFF(serve_max_tokens), 1, 1 << 20, 1 },
	{ "--serve-max-rows", OPT_INT, OFF(serve_max_rows), 1, 65536, 1 },
	{ "--serve-adapter-cache", OPT_SIZE, OFF(serve_adapter_cache), 0, (int64_t)1 << 50, 1 },
	{ "--serve-idle-bases", OPT_INT, OFF(serve_idle_bases), 0, 1000, 1 },
	{ "--serve-max-windows", OPT_INT, OFF(serve_max_windows), 1, 1 << 20, 1 },
	{ "--daemon-id", OPT_STR, OFF(daemon_id), 0, 0, 1 },
	{ "--lease-duration", OPT_MS, OFF(lease_ms), 200, 3600 * 1000, 1 },
	{ "--lease-heartbeat", OPT_MS, OFF(lease_heartbeat_ms), 0, 3600 * 1000, 1 },
	{ "--idempotency-ttl", OPT_MS, OFF(idempotency_ttl_ms), 1000, (int64_t)366 * 86400 * 1000, 1 },
};

#define N_OPTS (sizeof(table) / sizeof(table[0]))

const char options_usage[] =
	"usage: adalorad [--listen ADDR:PORT] [--db FILE] [--data-dir DIR] [--models-dir DIR]\n"
	"                [--models-rescan-interval SECONDS]\n"
	"                [--workers N] [--blas-threads N] [--http-threads N] [--api-key-file FILE]\n"
	"                [--config FILE] [--log-level debug|info|warn|error]\n"
	"                [--sqlite-synchronous full|normal] [--max-body-size BYTES]\n"
	"                [--max-upload-size BYTES] [--max-connections N] [--max-queued-jobs N]\n"
	"                [--max-sse-clients N] [--sse-keepalive SECONDS] [--idle-timeout SECONDS]\n"
	"                [--header-timeout SECONDS] [--max-connections-per-address N]\n"
	"                [--max-attempts N] [--reconcile-interval SECONDS] [--integrity-check quick|off]\n"
	"                [--job-memory-limit BYTES]\n"
	"                [--allowed-hosts NAME,...] [--allowed-origins URL,...]\n"
	"                [--max-processes N] [--launcher 'mpirun -np {n}'] [--adalora-bin PATH]\n"
	"                [--launcher-grace SECONDS]\n"
	"                [--serve-threads N] [--serve-nice N] [--serve-max-sequences N]\n"
	"                [--serve-max-queue N] [--serve-max-tokens N] [--serve-max-rows N]\n"
	"                [--serve-adapter-cache BYTES] [--serve-idle-bases N]\n"
	"                [--serve-max-windows N]\n"
	"                [--daemon-id NAME] [--lease-duration SECONDS] [--lease-heartbeat SECONDS]\n"
	"                [--idempotency-ttl SECONDS]\n"
	"--db takes an SQLite file or a postgresql:// URI (several daemons on one queue).\n"
	"Every flag may also be given in the --config JSON file, as \"listen\", \"max_body_size\", ...\n"
	"(README.md, \"Configuration\", lists the defaults).\n";

static int check_origins(const char *list, struct ada_err *err);

static void set_defaults(struct options *o)
{
	memset(o, 0, sizeof(*o));
	o->listen = strdup("127.0.0.1:8080");
	o->db = strdup("adalorad.db");
	o->data_dir = strdup("adalorad-data");
	o->models_dir = strdup("models");
	o->log_level = strdup("info");
	o->sqlite_synchronous = strdup("full");
	o->workers = 1;
	o->blas_threads = 0;
	o->http_threads = 4;
	o->max_body_size = 1 << 20;
	o->max_upload_size = (int64_t)512 << 20;
	o->max_connections = 1024;
	o->max_queued_jobs = 10000;
	o->max_sse_clients = 256;
	o->sse_keepalive_ms = 15000;
	o->models_rescan_ms = 1000;
	o->idle_timeout = 60;
	o->header_timeout = 30;
	o->max_connections_per_address = 256;
	o->max_attempts = 3;
	o->job_memory_limit = -1;   /* resolved by the daemon from the machine's memory */
	o->reconcile_interval_ms = 30000;
	o->integrity_check = strdup("quick");
	o->max_processes = 1;
	o->launcher = strdup("mpirun -np {n}");
	o->launcher_grace_ms = 30000;
	o->serve_threads = 0;       /* resolved by the daemon: half the CPUs */
	o->serve_nice = 0;
	o->serve_max_sequences = 16;
	o->serve_max_queue = 64;
	o->serve_max_tokens = 4096;
	o->serve_max_rows = 256;
	o->serve_adapter_cache = (int64_t)1 << 30;
	o->serve_idle_bases = 2;
	o->serve_max_windows = 64;
	o->lease_ms = 30000;
	o->lease_heartbeat_ms = 0;
	o->idempotency_ttl_ms = (int64_t)86400 * 1000;
}

void options_release(struct options *o)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (table[i].kind == OPT_STR) {
			char **p = (char **)((char *)o + table[i].offset);
			free(*p);
			*p = NULL;
		}
}

static const char *key_of(const struct opt *op, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; op->flag[i + 2] && i + 1 < cap; i++)
		buf[i] = op->flag[i + 2] == '-' ? '_' : op->flag[i + 2];
	buf[i] = '\0';
	return buf;
}

static int parse_size(const char *s, int64_t *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= 1024.0 * 1024; end++; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
	case 't': case 'T': v *= 1024.0 * 1024 * 1024 * 1024; end++; break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v > 9e18)
		return -1;
	*out = (int64_t)v;
	return 0;
}

static int set_value(struct options *o, const struct opt *op, const char *name, const char *text,
		     const json_t *json, struct ada_err *err)
{
	void *p = (char *)o + op->offset;
	int64_t v = 0;

	if (op->kind == OPT_STR) {
		char *s;
		if (json && !json_is_string(json))
			return ada_fail_param(err, ADA_EINVAL, name, "%s must be a string", name);
		s = strdup(json ? json_string_value(json) : text);
		if (!s)
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		if (!*s) {
			free(s);
			return ada_fail_param(err, ADA_EINVAL, name, "%s must not be empty", name);
		}
		free(*(char **)p);
		*(char **)p = s;
		return ADA_OK;
	}
	if (json) {
		if (op->kind == OPT_SIZE && json_is_string(json))
			text = json_string_value(json);
		else if (op->kind == OPT_MS && json_is_number(json))
			v = (int64_t)llround(json_number_value(json) * 1000);
		else if (json_is_integer(json))
			v = json_integer_value(json);
		else
			return ada_fail_param(err, ADA_EINVAL, name, "%s must be %s", name,
					      op->kind == OPT_SIZE ? "a size (bytes, or \"64M\")"
								   : "an integer");
	}
	if (text) {
		char *end;
		double d;
		switch (op->kind) {
		case OPT_SIZE:
			if (parse_size(text, &v))
				return ada_fail_param(err, ADA_EINVAL, name,
						      "%s: '%s' is not a size (bytes, or 64K, 64M, 1G)",
						      name, text);
			break;
		case OPT_MS:
			errno = 0;
			d = strtod(text, &end);
			if (errno || end == text || *end || !isfinite(d) || d < 0 || d > 1e9)
				return ada_fail_param(err, ADA_EINVAL, name,
						      "%s: '%s' is not a number of seconds", name, text);
			v = (int64_t)llround(d * 1000);
			break;
		default:
			errno = 0;
			v = strtoll(text, &end, 10);
			if (errno || end == text || *end)
				return ada_fail_param(err, ADA_EINVAL, name,
						      "%s: '%s' is not an integer", name, text);
		}
	}
	if (v < op->min || v > op->max) {
		if (op->kind == OPT_MS)
			return ada_fail_param(err, ADA_EINVAL, name,
					      "%s must be between %g and %g seconds", name,
					      (double)op->min / 1000, (double)op->max / 1000);
		return ada_fail_param(err, ADA_EINVAL, name, "%s must be between %lld and %lld",
				      name, (long long)op->min, (long long)op->max);
	}
	*(int64_t *)p = v;
	return ADA_OK;
}

static int load_config(struct options *o, const char *path, struct ada_err *err)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr), *v;
	const char *key;
	char name[64];
	int rc = ADA_OK;

	if (!root)
		return ada_fail(err, ADA_EINVAL, "%s: line %d: %s", path, jerr.line, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return ada_fail(err, ADA_EINVAL, "%s: the configuration must be a JSON object", path);
	}
	json_object_foreach(root, key, v) {
		const struct opt *op = NULL;
		for (size_t i = 0; i < N_OPTS && !op; i++)
			if (table[i].config_ok && !strcmp(key, key_of(&table[i], name, sizeof(name))))
				op = &table[i];
		if (!op) {
			rc = ada_fail_param(err, ADA_EINVAL, key, "%s: unknown setting \"%s\"", path, key);
			break;
		}
		if ((rc = set_value(o, op, key, NULL, v, err))) {
			ada_err_prefix(err, rc, "%s", path);
			break;
		}
	}
	json_decref(root);
	return rc;
}

static const struct opt *find_flag(const char *arg, const char **inline_value)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		size_t n = strlen(table[i].flag);
		if (!strncmp(arg, table[i].flag, n) && (arg[n] == '\0' || arg[n] == '=')) {
			*inline_value = arg[n] == '=' ? arg + n + 1 : NULL;
			return &table[i];
		}
	}
	return NULL;
}

/* One pass over argv; with config_only, only --config is applied. */
static int parse_flags(int argc, char **argv, struct options *o, int config_only, int *help,
		       struct ada_err *err)
{
	for (int i = 1; i < argc; i++) {
		const char *value;
		const struct opt *op;
		int rc;

		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			*help = 1;
			return ADA_OK;
		}
		op = find_flag(argv[i], &value);
		if (!op)
			return ada_fail(err, ADA_EINVAL, "unknown argument '%s'", argv[i]);
		if (!value) {
			if (i + 1 >= argc)
				return ada_fail(err, ADA_EINVAL, "%s needs a value", op->flag);
			value = argv[++i];
		}
		if (config_only != (op->offset == OFF(config)))
			continue;
		if ((rc = set_value(o, op, op->flag, value, NULL, err)))
			return rc;
	}
	return ADA_OK;
}

int options_parse(int argc, char **argv, struct options *o, int *help, struct ada_err *err)
{
	int rc;

	*help = 0;
	set_defaults(o);
	if (!o->listen || !o->db || !o->data_dir || !o->models_dir || !o->log_level ||
	    !o->sqlite_synchronous || !o->integrity_check || !o->launcher)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if ((rc = parse_flags(argc, argv, o, 1, help, err)) || *help)
		return rc;
	if (o->config && (rc = load_config(o, o->config, err)))
		return rc;
	if ((rc = parse_flags(argc, argv, o, 0, help, err)) || *help)
		return rc;
	if (strcmp(o->sqlite_synchronous, "full") && strcmp(o->sqlite_synchronous, "normal"))
		return ada_fail_param(err, ADA_EINVAL, "sqlite_synchronous",
				      "--sqlite-synchronous must be full or normal");
	if (strcmp(o->integrity_check, "quick") && strcmp(o->integrity_check, "off"))
		return ada_fail_param(err, ADA_EINVAL, "integrity_check",
				      "--integrity-check must be quick or off");
	if (log_level_from_name(o->log_level) < 0)
		return ada_fail_param(err, ADA_EINVAL, "log_level",
				      "--log-level must be debug, info, warn or error");
	if ((rc = check_origins(o->allowed_origins, err)))
		return rc;
	if (!strstr(o->launcher, "{n}"))
		return ada_fail_param(err, ADA_EINVAL, "launcher",
				      "--launcher must say where the process count goes, as {n} "
				      "(\"mpirun -np {n}\")");
	if (o->daemon_id && strspn(o->daemon_id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "0123456789._:-") != strlen(o->daemon_id))
		return ada_fail_param(err, ADA_EINVAL, "daemon_id",
				      "--daemon-id may hold letters, digits, '.', '_', ':' and '-' only");
	if (o->lease_heartbeat_ms && o->lease_heartbeat_ms >= o->lease_ms)
		return ada_fail_param(err, ADA_EINVAL, "lease_heartbeat",
				      "--lease-heartbeat must be shorter than --lease-duration");
	return ADA_OK;
}

void options_list_free(char **items, size_t n)
{
	for (size_t i = 0; items && i < n; i++)
		free(items[i]);
	free(items);
}

int options_list(const char *s, char ***items, size_t *n, struct ada_err *err)
{
	char **v = calloc(1, sizeof(*v));
	size_t k = 0, cap = 1;

	*items = NULL;
	*n = 0;
	if (!v)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	while (s && *s) {
		size_t len = strcspn(s, ",");
		const char *a = s, *b = s + len;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		s += len + (s[len] == ',');
		if (a == b)
			continue;
		if (ALLOC_GROW(v, k + 2, cap) || !(v[k] = strndup(a, (size_t)(b - a)))) {
			options_list_free(v, k);
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		}
		v[++k] = NULL;
	}
	*items = v;
	*n = k;
	return ADA_OK;
}

/* Every --allowed-origins entry is scheme://host[:port], nothing more. */
static int check_origins(const char *list, struct ada_err *err)
{
	char **v;
	size_t n;
	int rc = options_list(list, &v, &n, err);

	for (size_t i = 0; !rc && i < n; i++) {
		const char *o = v[i], *rest = !strncmp(o, "http://", 7)    ? o + 7
					      : !strncmp(o, "https://", 8) ? o + 8 : NULL;
		size_t len = rest ? strlen(rest) : 0;
		if (rest && len && rest[len - 1] == '/')
			len--;
		if (!rest || !len || memchr(rest, '/', len) || strchr(rest, '*'))
			rc = ada_fail_param(err, ADA_EINVAL, "allowed_origins",
					    "--allowed-origins: '%s' is not an origin (http://host[:port] or https://host[:port])",
					    o);
	}
	options_list_free(v, n);
	return rc;
}
