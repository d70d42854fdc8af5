/*
 * recent — the newest events of the jobs whose events this daemon heard,
 * so that a live stream here reads another daemon's new event without a
 * query.
 *
 * Why: a stream was woken by the notification of a job's event and then
 * read the event back with queries on its HTTP thread's connection. Under
 * load (a hundred connections polling, the server processes, training, on
 * a few CPUs) each round trip waited its turn, and the delivery of an
 * event from another daemon took several of them (bench/RESULTS.md,
 * "PostgreSQL"). Now the event's insert NOTIFYs the whole row (events.c)
 * when it fits a payload (PostgreSQL's limit is 8000 bytes; else only the
 * job's id and the event's number, and the job's entry here is dropped);
 * the listener puts it here before it wakes the job's watchers, and
 * store_event_follow (a live stream's read past its cursor) is answered
 * from here when the entry holds the event right after the cursor.
 *
 * Only answers with at least one event come from here. "Nothing new" is
 * always asked of the database: this daemon's own commits wake their
 * watchers before their notification comes back, and a stream that saw
 * the job end must not miss its last events, so an empty answer from here
 * could be wrong, a non-empty one never (events are never changed once
 * written, and an entry holds consecutive numbers only).
 *
 * Entries are direct-mapped by the job's id (a job evicted by another is
 * read from the database), and each holds at most RECENT_EVENTS events
 * and RECENT_BYTES bytes of them, the oldest dropped first. While the
 * listener does not listen (notifications may be lost) the cache is empty
 * and takes nothing.
 */
#include "pg.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

struct recent_entry {
	char id[STORE_ID_MAX];
	struct store_event ev[RECENT_EVENTS];   /* a ring: first, n */
	int first, n;
	size_t bytes;
};

static size_t event_bytes(const struct store_event *e)
{
	return sizeof(*e) + strlen(e->message) + (e->data ? strlen(e->data) : 0);
}

static struct store_event *at(struct recent_entry *r, int i)
{
	return &r->ev[(r->first + i) % RECENT_EVENTS];
}

static void drop_oldest(struct recent_entry *r)
{
	struct store_event *e = at(r, 0);

	r->bytes -= event_bytes(e);
	free(e->message);
	free(e->data);
	memset(e, 0, sizeof(*e));
	r->first = (r->first + 1) % RECENT_EVENTS;
	r->n--;
}

static void entry_clear(struct recent_entry *r)
{
	while (r->n)
		drop_oldest(r);
	r->id[0] = '\0';
	r->first = 0;
	r->bytes = 0;
}

int pg_recent_init(struct pg_store *st)
{
	st->recent = calloc(RECENT_SLOTS, sizeof(*st->recent));
	return st->recent ? 0 : -1;
}

void pg_recent_free(struct pg_store *st)
{
	for (size_t k = 0; st->recent && k < RECENT_SLOTS; k++)
		entry_clear(&st->recent[k]);
	free(st->recent);
	st->recent = NULL;
}

void pg_recent_reset(struct pg_store *st, int live)
{
	pthread_mutex_lock(&st->vc_lock);
	for (size_t k = 0; st->recent && k < RECENT_SLOTS; k++)
		entry_clear(&st->recent[k]);
	st->recent_live = live;
	pthread_mutex_unlock(&st->vc_lock);
}

/* e (its strings stolen) appended to id's entry, which starts again when
 * e does not follow its newest event. Caller holds vc_lock. */
static void put_locked(struct pg_store *st, const char *id, struct store_event *e)
{
	struct recent_entry *r = &st->recent[pg_id_slot(id, RECENT_SLOTS)];

	if (strcmp(r->id, id) || (r->n && e->seq != at(r, r->n - 1)->seq + 1)) {
		if (r->n && !strcmp(r->id, id) && e->seq <= at(r, r->n - 1)->seq) {
			free(e->message);   /* heard twice (our own, again): keep the entry */
			free(e->data);
			return;
		}
		entry_clear(r);
		snprintf(r->id, sizeof(r->id), "%s", id);
	}
	if (r->n == RECENT_EVENTS)
		drop_oldest(r);
	*at(r, r->n) = *e;
	r->n++;
	r->bytes += event_bytes(e);
	while (r->n > 1 && r->bytes > RECENT_BYTES)
		drop_oldest(r);
}

/* The row of a payload: [id, seq, created_at, level, type, message, data]. */
static int parse_row(json_t *a, struct store_event *e)
{
	json_t *data = json_array_get(a, 6);
	const char *level = json_string_value(json_array_get(a, 3));
	const char *type = json_string_value(json_array_get(a, 4));
	const char *message = json_string_value(json_array_get(a, 5));

	memset(e, 0, sizeof(*e));
	if (json_array_size(a) != 7 || !json_is_integer(json_array_get(a, 1)) ||
	    !json_is_integer(json_array_get(a, 2)) || !level || !type || !message ||
	    strlen(level) >= sizeof(e->level) || strlen(type) >= sizeof(e->type) ||
	    !(json_is_null(data) || json_is_string(data)))
		return -1;
	e->seq = json_integer_value(json_array_get(a, 1));
	e->created_at = json_integer_value(json_array_get(a, 2));
	snprintf(e->level, sizeof(e->level), "%s", level);
	snprintf(e->type, sizeof(e->type), "%s", type);
	e->message = strdup(message);
	e->data = json_is_string(data) ? strdup(json_string_value(data)) : NULL;
	if (!e->message || (json_is_string(data) && !e->data)) {
		free(e->message);
		free(e->data);
		return -1;
	}
	return 0;
}

int pg_recent_heard(struct pg_store *st, const char *payload, char *job_id, size_t cap)
{
	json_t *a = json_loads(payload, JSON_DECODE_ANY, NULL);
	const char *id = json_string_value(json_array_get(a, 0));
	struct store_event e;
	int have;

	if (!id || strlen(id) >= STORE_ID_MAX || strlen(id) >= cap) {
		json_decref(a);
		return -1;
	}
	snprintf(job_id, cap, "%s", id);
	have = json_array_size(a) == 7 && !parse_row(a, &e);
	pthread_mutex_lock(&st->vc_lock);
	if (st->recent && st->recent_live) {
		struct recent_entry *r = &st->recent[pg_id_slot(id, RECENT_SLOTS)];

		if (have) {
			put_locked(st, id, &e);
			have = 0;
		} else if (!strcmp(r->id, id)) {
			entry_clear(r);   /* an event we cannot keep: read the job from the database */
		}
	}
	pthread_mutex_unlock(&st->vc_lock);
	if (have) {
		free(e.message);
		free(e.data);
	}
	json_decref(a);
	return 0;
}

int pg_recent_get(struct pg_store *st, const char *job_id, int64_t after_seq, int limit,
		  struct store_events *out)
{
	struct recent_entry *r;
	int64_t lo, hi;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (limit <= 0)
		return 0;
	pthread_mutex_lock(&st->vc_lock);
	r = st->recent ? &st->recent[pg_id_slot(job_id, RECENT_SLOTS)] : NULL;
	if (!r || !st->recent_live || !r->n || strcmp(r->id, job_id))
		goto out_unlock;
	lo = at(r, 0)->seq;
	hi = at(r, r->n - 1)->seq;
	if (after_seq + 1 < lo || after_seq >= hi)
		goto out_unlock;
	{
		int from = (int)(after_seq + 1 - lo), n = r->n - from;

		if (n > limit)
			n = limit;
		out->v = calloc((size_t)n, sizeof(*out->v));
		if (!out->v)
			goto out_unlock;
		for (int i = 0; i < n; i++) {
			const struct store_event *e = at(r, from + i);
			struct store_event *o = &out->v[i];

			*o = *e;
			o->message = strdup(e->message);
			o->data = e->data ? strdup(e->data) : NULL;
			out->n = (size_t)i + 1;
			if (!o->message || (e->data && !o->data)) {
				store_events_release(out);
				memset(out, 0, sizeof(*out));
				goto out_unlock;
			}
		}
		out->has_more = from + n < r->n;
		rc = 1;
	}
out_unlock:
	pthread_mutex_unlock(&st->vc_lock);
	return rc;
}
