/*
 * migrations — the schemas this binary carries (internal to store/).
 *
 * store/embed_migrations.py compiles migrations/sqlite/NNNN_name.sql and
 * migrations/postgresql/NNNN_name.sql into the tables below at build time;
 * version i + 1 is table[i]. Both backends have the same versions (the
 * script refuses otherwise): version N means the same schema on either.
 */
#ifndef ADALORAD_STORE_MIGRATIONS_H
#define ADALORAD_STORE_MIGRATIONS_H

struct migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct migration sqlite_migrations[];
extern const struct migration pg_migrations[];
extern const int store_n_migrations;

#endif
