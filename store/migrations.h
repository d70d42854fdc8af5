/*
 * migrations — the schema this binary carries (internal to store/).
 *
 * store/embed_migrations.py compiles migrations/NNNN_name.sql into the
 * table below at build time; version i + 1 is store_migrations[i].
 */
#ifndef ADALORAD_STORE_MIGRATIONS_H
#define ADALORAD_STORE_MIGRATIONS_H

struct migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct migration store_migrations[];
extern const int store_n_migrations;

#endif
