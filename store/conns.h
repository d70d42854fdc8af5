/*
 * conns — a backend's connections, one per thread (internal to store/).
 *
 * Neither an SQLite connection nor a libpq one may be used by two threads
 * at once, so each thread that calls the store gets its own: the backend
 * opens it on the thread's first call and adds it here; a pthread key
 * closes it when the thread exits (or says it is done with the store);
 * the store's free closes what is left once every other thread is gone.
 * The backend's connection struct begins with a struct conn_link.
 */
#ifndef ADALORAD_STORE_CONNS_H
#define ADALORAD_STORE_CONNS_H

#include <pthread.h>
#include <stddef.h>

#include "adalora.h"

struct conns;

struct conn_link {
	struct conns *owner;
	struct conn_link *prev, *next;
};

struct conns {
	pthread_key_t key;              /* the calling thread's struct conn_link */
	pthread_mutex_t lock;           /* guards the list */
	struct conn_link *head;
	void (*close)(struct conn_link *l);   /* the backend's: close and free l's connection */
};

int conns_init(struct conns *cs, void (*close)(struct conn_link *l), struct ada_err *err);
/* Close every connection (all threads using the store have stopped). */
void conns_release(struct conns *cs);
/* The calling thread's connection, or NULL before its first. */
struct conn_link *conns_mine(struct conns *cs);
/* Make l (opened by this thread) the thread's; on failure l is closed. */
int conns_add(struct conns *cs, struct conn_link *l, struct ada_err *err);
/* Close the calling thread's connection now, if it has one. */
void conns_thread_done(struct conns *cs);

/* A connection caches its statements by the address of their SQL text
 * (each a static string in the file that owns it), open addressing over
 * n slots: the slot where sql's probe starts. */
size_t conns_stmt_slot(const char *sql, size_t n);

#endif
