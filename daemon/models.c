/* models — scanning and looking up the models directory; see models.h. */
#include "models.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "util/alloc.h"
#include "util/err.h"

struct models {
	char *dir;
	pthread_mutex_t lock;
	struct model_entry *v;      /* sorted by id */
	size_t n;
	int64_t last_scan_ns;
	int64_t rescan_ns;          /* at most one rescan per this long (0: every ask) */
	/* entries that failed to probe, so each failure is logged once */
	struct {
		char name[STORE_NAME_MAX];
		int64_t mtime, size;
	} *bad;
	size_t n_bad, cap_bad;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct model_entry *)a)->id, ((const struct model_entry *)b)->id);
}

/* The tokenizer beside a llama2.c checkpoint, or -1. */
static int find_tokenizer(const char *dir, const char *stem, int vocab, char *out, size_t cap)
{
	char cand[3][STORE_NAME_MAX + 32];
	struct stat st;

	snprintf(cand[0], sizeof(cand[0]), "%s.tokenizer.bin", stem);
	snprintf(cand[1], sizeof(cand[1]), "tokenizer.bin");
	snprintf(cand[2], sizeof(cand[2]), "tok%d.bin", vocab);
	for (int i = 0; i < 3; i++) {
		snprintf(out, cap, "%s/%s", dir, cand[i]);
		if (!stat(out, &st) && S_ISREG(st.st_mode))
			return 0;
	}
	return -1;
}

static const struct model_entry *lookup(const struct models *m, const char *id)
{
	struct model_entry key;

	if (!m->n)
		return NULL;   /* bsearch() wants a non-null array */
	snprintf(key.id, sizeof(key.id), "%s", id);
	return bsearch(&key, m->v, m->n, sizeof(*m->v), cmp_entry);
}

static int known_bad(struct models *m, const char *name, int64_t mtime, int64_t size)
{
	for (size_t i = 0; i < m->n_bad; i++)
		if (!strcmp(m->bad[i].name, name) && m->bad[i].mtime == mtime &&
		    m->bad[i].size == size)
			return 1;
	return 0;
}

static void remember_bad(struct models *m, const char *name, int64_t mtime, int64_t size,
			 const char *why)
{
	char line[1024] = "";

	logfmt_append(line, sizeof(line), "msg", "skipping an entry of the models directory");
	logfmt_append(line, sizeof(line), "entry", name);
	logfmt_append(line, sizeof(line), "reason", why);
	log_line(LOG_WARN, line);
	if (ALLOC_GROW(m->bad, m->n_bad + 1, m->cap_bad))
		return;   /* it will be probed (and logged) again at the next scan */
	snprintf(m->bad[m->n_bad].name, sizeof(m->bad[m->n_bad].name), "%s", name);
	m->bad[m->n_bad].mtime = mtime;
	m->bad[m->n_bad].size = size;
	m->n_bad++;
}

/* Describe one directory entry; 1 if it is a model (e filled), 0 if not. */
static int probe_entry(struct models *m, const char *name,
		       struct model_entry *e)
{
	char path[4096], probe_path[4096], stem[STORE_NAME_MAX];
	struct ada_err err = { 0 };
	struct stat st, cst;
	const struct model_entry *prev;
	enum { K_GGUF, K_BIN, K_HF } kind;

	if (name[0] == '.' || strlen(name) >= STORE_NAME_MAX)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", m->dir, name);
	if (stat(path, &st))
		return 0;
	snprintf(stem, sizeof(stem), "%s", name);
	if (S_ISREG(st.st_mode) && ends_with(name, ".gguf")) {
		kind = K_GGUF;
		stem[strlen(stem) - 5] = '\0';
	} else if (S_ISREG(st.st_mode) && ends_with(name, ".bin")) {
		kind = K_BIN;
		stem[strlen(stem) - 4] = '\0';
		/* Tokenizers live beside checkpoints; they are not models. */
		if (ends_with(stem, ".tokenizer") || !strcmp(stem, "tokenizer") ||
		    (!strncmp(stem, "tok", 3) && stem[3] && strspn(stem + 3, "0123456789") ==
							      strlen(stem + 3)))
			return 0;
	} else if (S_ISDIR(st.st_mode)) {
		snprintf(probe_path, sizeof(probe_path), "%s/config.json", path);
		if (stat(probe_path, &cst) || !S_ISREG(cst.st_mode))
			return 0;
		kind = K_HF;
		st = cst;   /* changes to the directory show in its config.json */
	} else {
		return 0;
	}
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", stem);
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->mtime = (int64_t)st.st_mtime;
	e->size = (int64_t)st.st_size;
	prev = lookup(m, e->id);
	if (prev && !strcmp(prev->path, e->path) && prev->mtime == e->mtime &&
	    prev->size == e->size) {
		*e = *prev;   /* unchanged: no probe */
		return 1;
	}
	if (known_bad(m, name, e->mtime, e->size))
		return 0;
	if (ada_model_probe(path, &e->info, &err)) {
		remember_bad(m, name, e->mtime, e->size, err.msg);
		return 0;
	}
	if (kind == K_BIN && !e->info.has_tokenizer &&
	    find_tokenizer(m->dir, stem, e->info.vocab_size, e->tokenizer, sizeof(e->tokenizer))) {
		char why[160];
		snprintf(why, sizeof(why),
			 "no tokenizer beside it (%s.tokenizer.bin, tokenizer.bin or tok%d.bin)", stem,
			 e->info.vocab_size);
		remember_bad(m, name, e->mtime, e->size, why);
		return 0;
	}
	if (kind == K_GGUF && !e->info.has_tokenizer) {
		remember_bad(m, name, e->mtime, e->size, "the GGUF file carries no tokenizer");
		return 0;
	}
	if (kind == K_HF && !e->info.has_tokenizer) {
		/* Listed, it would be accepted by job creation and fail its plan. */
		remember_bad(m, name, e->mtime, e->size,
			     e->info.family == ADA_FAMILY_BART
				     ? "the directory has no tokenizer.json, nor vocab.json with merges.txt"
			     : e->info.family != ADA_FAMILY_BERT
				     ? "the directory has no tokenizer.json"
				     : "the directory has no tokenizer.json or vocab.txt");
		return 0;
	}
	return 1;
}

/* Caller holds m->lock. */
static int scan(struct models *m, struct ada_err *err)
{
	struct model_entry *v = NULL, e;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(m->dir);

	m->last_scan_ns = mono_ns();
	if (!d)
		return ada_fail(err, ADA_EIO, "--models-dir %s: %s", m->dir, strerror(errno));
	while ((de = readdir(d))) {
		if (!probe_entry(m, de->d_name, &e))
			continue;
		if (ALLOC_GROW(v, n + 1, cap)) {
			closedir(d);
			free(v);
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		}
		v[n++] = e;
	}
	closedir(d);
	qsort(v, n, sizeof(*v), cmp_entry);
	/* Two entries with one id (x.gguf beside a directory x): keep the first. */
	for (size_t i = 1; i < n; i++)
		if (!strcmp(v[i].id, v[i - 1].id)) {
			char line[1024] = "";
			logfmt_append(line, sizeof(line), "msg", "two models share an id; one is hidden");
			logfmt_append(line, sizeof(line), "id", v[i].id);
			logfmt_append(line, sizeof(line), "hidden", v[i].path);
			log_line(LOG_WARN, line);
			memmove(&v[i], &v[i + 1], (n - i - 1) * sizeof(*v));
			n--;
			i--;
		}
	free(m->v);
	m->v = v;
	m->n = n;
	return ADA_OK;
}

int models_open(const char *dir, int64_t rescan_ms, struct models **out, struct ada_err *err)
{
	struct models *m = calloc(1, sizeof(*m));
	int rc;

	*out = NULL;
	if (!m || !(m->dir = strdup(dir))) {
		free(m);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	m->rescan_ns = rescan_ms * 1000000ll;
	pthread_mutex_init(&m->lock, NULL);
	if ((rc = scan(m, err))) {
		models_free(m);
		return rc;
	}
	*out = m;
	return ADA_OK;
}

void models_free(struct models *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->v);
	free(m->bad);
	free(m->dir);
	free(m);
}

/* Rescan if the last scan is older than the rescan interval. Caller holds
 * the lock. */
static void maybe_rescan(struct models *m)
{
	struct ada_err err = { 0 };

	if (mono_ns() - m->last_scan_ns < m->rescan_ns)
		return;
	if (scan(m, &err)) {
		char line[700] = "";
		logfmt_append(line, sizeof(line), "msg", "cannot rescan the models directory");
		logfmt_append(line, sizeof(line), "detail", err.msg);
		log_line(LOG_WARN, line);
	}
}

int models_find(struct models *m, const char *id, struct model_entry *out)
{
	const struct model_entry *e;

	pthread_mutex_lock(&m->lock);
	e = lookup(m, id);
	if (!e) {
		maybe_rescan(m);
		e = lookup(m, id);
	}
	if (e)
		*out = *e;
	pthread_mutex_unlock(&m->lock);
	return e ? ADA_OK : ADA_ENOTFOUND;
}

int models_list(struct models *m, struct api_model **out, size_t *n, struct ada_err *err)
{
	struct api_model *v;

	pthread_mutex_lock(&m->lock);
	maybe_rescan(m);
	v = xcalloc(m->n + 1, sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&m->lock);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < m->n; i++) {
		snprintf(v[i].id, sizeof(v[i].id), "%s", m->v[i].id);
		v[i].info = m->v[i].info;
		v[i].created = m->v[i].mtime;
	}
	*out = v;
	*n = m->n;
	pthread_mutex_unlock(&m->lock);
	return ADA_OK;
}

size_t models_count(struct models *m)
{
	size_t n;

	pthread_mutex_lock(&m->lock);
	n = m->n;
	pthread_mutex_unlock(&m->lock);
	return n;
}
