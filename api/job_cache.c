/*
 * job_cache — rendered job objects, keyed by (job id, version).
 *
 * Polling a job is the API's hottest path, and rendering it (parsing the
 * stored method and metrics, building and dumping the object) costs far
 * more than reading its row. A job's version (store_job_version: its last
 * event number) moves with every change of the row, so a rendering made
 * at one version stays right for as long as the version does: a poll of
 * an unchanged job is one indexed SELECT and a copy. Direct-mapped slots;
 * a collision just replaces the older entry.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util/alloc.h"

#define JOB_CACHE_SLOTS 4096

struct job_cache_slot {
	char id[STORE_ID_MAX];
	int64_t version;
	char *text;     /* owned */
	size_t len;
};

static size_t slot_of(const char *id)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return (size_t)(h % JOB_CACHE_SLOTS);
}

int job_cache_init(struct api *a)
{
	pthread_mutex_init(&a->job_cache_lock, NULL);
	a->job_cache = xcalloc(JOB_CACHE_SLOTS, sizeof(*a->job_cache));
	return a->job_cache ? 0 : -1;
}

void job_cache_free(struct api *a)
{
	if (!a->job_cache)
		return;
	for (size_t i = 0; i < JOB_CACHE_SLOTS; i++)
		free(a->job_cache[i].text);
	free(a->job_cache);
	a->job_cache = NULL;
	pthread_mutex_destroy(&a->job_cache_lock);
}

char *job_cache_get(struct api *a, const char *id, int64_t version, size_t *len)
{
	struct job_cache_slot *s = &a->job_cache[slot_of(id)];
	char *copy = NULL;

	pthread_mutex_lock(&a->job_cache_lock);
	if (s->text && s->version == version && !strcmp(s->id, id)) {
		copy = malloc(s->len);
		if (copy) {
			memcpy(copy, s->text, s->len);
			*len = s->len;
		}
	}
	pthread_mutex_unlock(&a->job_cache_lock);
	return copy;
}

void job_cache_put(struct api *a, const char *id, int64_t version, const char *text, size_t len)
{
	struct job_cache_slot *s = &a->job_cache[slot_of(id)];
	char *copy = malloc(len);

	if (!copy)
		return;
	memcpy(copy, text, len);
	pthread_mutex_lock(&a->job_cache_lock);
	free(s->text);
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->version = version;
	s->text = copy;
	s->len = len;
	pthread_mutex_unlock(&a->job_cache_lock);
}

char *job_render(struct api *a, const struct store_job *j, size_t *len)
{
	char *text = job_cache_get(a, j->id, j->last_event, len);
	json_t *o;

	if (text)
		return text;
	o = job_object(j);
	text = o ? json_dumps(o, API_JSON_FLAGS) : NULL;
	json_decref(o);
	if (!text)
		return NULL;
	*len = strlen(text);
	job_cache_put(a, j->id, j->last_event, text, *len);
	return text;
}
