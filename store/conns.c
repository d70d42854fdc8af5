/* conns — a backend's per-thread connections; see conns.h. */
#include "conns.h"

#include <stdint.h>

#include "util/err.h"

/* The key's destructor: the thread is exiting (or done with the store). */
static void thread_exit(void *p)
{
	struct conn_link *l = p;
	struct conns *cs = l->owner;

	pthread_mutex_lock(&cs->lock);
	if (l->prev)
		l->prev->next = l->next;
	else
		cs->head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	pthread_mutex_unlock(&cs->lock);
	cs->close(l);
}

int conns_init(struct conns *cs, void (*close)(struct conn_link *l), struct ada_err *err)
{
	cs->head = NULL;
	cs->close = close;
	if (pthread_key_create(&cs->key, thread_exit))
		return ada_fail(err, ADA_ENOMEM, "store: no thread-specific key left");
	pthread_mutex_init(&cs->lock, NULL);
	return ADA_OK;
}

void conns_release(struct conns *cs)
{
	pthread_setspecific(cs->key, NULL);
	while (cs->head) {
		struct conn_link *l = cs->head;
		cs->head = l->next;
		cs->close(l);
	}
	pthread_key_delete(cs->key);
	pthread_mutex_destroy(&cs->lock);
}

struct conn_link *conns_mine(struct conns *cs)
{
	return pthread_getspecific(cs->key);
}

int conns_add(struct conns *cs, struct conn_link *l, struct ada_err *err)
{
	l->owner = cs;
	if (pthread_setspecific(cs->key, l)) {
		cs->close(l);
		return ada_fail(err, ADA_ENOMEM, "store: out of thread-specific slots");
	}
	pthread_mutex_lock(&cs->lock);
	l->prev = NULL;
	l->next = cs->head;
	if (cs->head)
		cs->head->prev = l;
	cs->head = l;
	pthread_mutex_unlock(&cs->lock);
	return ADA_OK;
}

void conns_thread_done(struct conns *cs)
{
	struct conn_link *l = pthread_getspecific(cs->key);

	if (!l)
		return;
	pthread_setspecific(cs->key, NULL);
	thread_exit(l);
}

size_t conns_stmt_slot(const char *sql, size_t n)
{
	size_t h = ((uintptr_t)sql >> 4) * 0x9e3779b97f4a7c15ull;

	return (h >> 40) % n;
}
