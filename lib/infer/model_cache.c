/*
 * model_cache — bases and adapters shared between requests
 * (ada_model_cache_*, adalora.h).
 *
 * A base is loaded once per (model, tokenizer) path and stays while
 * anything uses it: a handle, a sequence, a cached adapter (each holds a
 * reference). Idle ones (only the cache's reference left) beyond
 * idle_bases are dropped, least recently used first. Adapters are kept in
 * a least-recently-used list bounded by bytes: after each load the oldest
 * are evicted while the list holds more than the limit. Eviction drops the
 * cache's reference only, so an adapter a request still uses lives until
 * that request ends; the next request for it loads it again.
 *
 * A file replaced under the same path (another size or modification time)
 * is a different entry: the stale one leaves the cache at once and is
 * freed when its users are done.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "infer/served.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"

struct cache_base {
	char *model, *tokenizer;      /* the key (tokenizer may be NULL) */
	int64_t size, mtime;
	struct served_base *b;        /* the cache's reference */
	uint64_t used;                /* the cache's clock at the last get */
	struct cache_base *next;
};

struct cache_adapter {
	char *dir;
	struct served_base *base;     /* borrowed: the adapter holds its reference */
	int64_t size, mtime;          /* of adapter_model.safetensors */
	struct served_adapter *a;     /* the cache's reference */
	uint64_t used;
	struct cache_adapter *next;
};

struct ada_model_cache {
	pthread_mutex_t lock;
	int64_t limit;
	int idle_bases;
	struct cache_base *bases;
	struct cache_adapter *adapters;
	uint64_t clock;
	int64_t hits, misses, evictions;
};

int ada_model_cache_new(int64_t adapter_limit, int idle_bases, struct ada_model_cache **out,
			struct ada_err *err)
{
	struct ada_model_cache *c = xcalloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	pthread_mutex_init(&c->lock, NULL);
	c->limit = adapter_limit > 0 ? adapter_limit : 0;
	c->idle_bases = idle_bases > 0 ? idle_bases : 0;
	*out = c;
	return ADA_OK;
}

static void drop_adapter(struct cache_adapter *e)
{
	served_adapter_unref(e->a);
	free(e->dir);
	free(e);
}

static void drop_base(struct cache_base *e)
{
	served_base_unref(e->b);
	free(e->model);
	free(e->tokenizer);
	free(e);
}

void ada_model_cache_free(struct ada_model_cache *c)
{
	if (!c)
		return;
	while (c->adapters) {
		struct cache_adapter *e = c->adapters;
		c->adapters = e->next;
		drop_adapter(e);
	}
	while (c->bases) {
		struct cache_base *e = c->bases;
		c->bases = e->next;
		drop_base(e);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void file_id(const char *path, int64_t *size, int64_t *mtime)
{
	struct stat st;

	*size = -1;
	*mtime = -1;
	if (path && !stat(path, &st)) {
		*size = (int64_t)st.st_size;
		*mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	}
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The cached base of (model, tokenizer), loaded when missing or stale.
 * Caller holds the lock. */
static int get_base(struct ada_model_cache *c, const char *model, const char *tokenizer,
		    struct cache_base **out, int *loaded, struct ada_err *err)
{
	struct cache_base **pe, *e;
	int64_t size, mtime;
	int rc;

	file_id(model, &size, &mtime);
	for (pe = &c->bases; (e = *pe); pe = &e->next) {
		if (strcmp(e->model, model) || !same(e->tokenizer, tokenizer))
			continue;
		if (e->size == size && e->mtime == mtime) {
			*out = e;
			return ADA_OK;
		}
		*pe = e->next;   /* stale: its users keep it alive */
		drop_base(e);
		break;
	}
	e = xcalloc(1, sizeof(*e));
	if (!e || !(e->model = xstrdup(model)) || (tokenizer && !(e->tokenizer = xstrdup(tokenizer)))) {
		if (e) {
			free(e->model);
			free(e);
		}
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	if ((rc = served_base_open(model, tokenizer, &e->b, err))) {
		free(e->model);
		free(e->tokenizer);
		free(e);
		return rc;
	}
	e->size = size;
	e->mtime = mtime;
	e->next = c->bases;
	c->bases = e;
	*loaded = 1;
	*out = e;
	return ADA_OK;
}

static int get_adapter(struct ada_model_cache *c, struct served_base *b, const char *dir,
		       struct cache_adapter **out, int *loaded, struct ada_err *err)
{
	struct cache_adapter **pe, *e;
	char *weights = path_join(dir, "adapter_model.safetensors");
	int64_t size, mtime;
	int rc;

	if (!weights)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	file_id(weights, &size, &mtime);
	free(weights);
	for (pe = &c->adapters; (e = *pe); pe = &e->next) {
		if (e->base != b || strcmp(e->dir, dir))
			continue;
		*pe = e->next;
		if (e->size == size && e->mtime == mtime) {
			e->next = c->adapters;   /* most recently used first */
			c->adapters = e;
			*out = e;
			return ADA_OK;
		}
		drop_adapter(e);
		break;
	}
	e = xcalloc(1, sizeof(*e));
	if (!e || !(e->dir = xstrdup(dir))) {
		free(e);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	if ((rc = served_adapter_open(b, dir, &e->a, err))) {
		free(e->dir);
		free(e);
		return rc;
	}
	e->base = b;
	e->size = size;
	e->mtime = mtime;
	e->next = c->adapters;
	c->adapters = e;
	*loaded = 1;
	*out = e;
	return ADA_OK;
}

/* Evict adapters past the byte limit (never keep), then idle bases past
 * the count. Caller holds the lock. */
static void trim(struct ada_model_cache *c, const struct cache_adapter *keep)
{
	int64_t bytes = 0;
	int idle = 0;

	for (struct cache_adapter **pe = &c->adapters, *e; (e = *pe);) {
		bytes += e->a->bytes;
		if (c->limit && bytes > c->limit && e != keep) {
			bytes -= e->a->bytes;
			*pe = e->next;
			drop_adapter(e);
			c->evictions++;
			continue;
		}
		pe = &e->next;
	}
	/* Idle bases, most recently used kept: count from the newest. */
	for (;;) {
		struct cache_base **oldest = NULL;
		idle = 0;
		for (struct cache_base **pe = &c->bases; *pe; pe = &(*pe)->next)
			if (atomic_load(&(*pe)->b->refs) == 1) {
				idle++;
				if (!oldest || (*pe)->used < (*oldest)->used)
					oldest = pe;
			}
		if (idle <= c->idle_bases || !oldest)
			break;
		{
			struct cache_base *e = *oldest;
			*oldest = e->next;
			drop_base(e);
		}
	}
}

int ada_model_cache_get(struct ada_model_cache *c, const char *model, const char *tokenizer,
			const char *adapter, struct ada_served **out, struct ada_err *err)
{
	struct cache_base *cb = NULL;
	struct cache_adapter *ca = NULL;
	int loaded = 0, rc;

	*out = NULL;
	pthread_mutex_lock(&c->lock);
	c->clock++;
	if ((rc = get_base(c, model, tokenizer, &cb, &loaded, err)))
		goto out_unlock;
	cb->used = c->clock;
	if (adapter && (rc = get_adapter(c, cb->b, adapter, &ca, &loaded, err)))
		goto out_trim;
	if (ca)
		ca->used = c->clock;
	rc = served_handle(cb->b, ca ? ca->a : NULL, out, err);
	if (loaded)
		c->misses++;
	else
		c->hits++;
out_trim:
	trim(c, ca);
out_unlock:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void ada_model_cache_stats(struct ada_model_cache *c, struct ada_model_cache_stats *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&c->lock);
	for (struct cache_base *e = c->bases; e; e = e->next) {
		s->bases++;
		s->base_bytes += e->b->weight_bytes;
	}
	for (struct cache_adapter *e = c->adapters; e; e = e->next) {
		s->adapters++;
		s->adapter_bytes += e->a->bytes;
	}
	s->hits = c->hits;
	s->misses = c->misses;
	s->evictions = c->evictions;
	pthread_mutex_unlock(&c->lock);
}
