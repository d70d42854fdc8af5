/*
 * pg_server — a throwaway PostgreSQL server for the tests that need one.
 *
 * The first call starts it, once per test process: initdb and pg_ctl
 * (Debian's postgresql package: /usr/lib/postgresql/NN/bin, or
 * ADALORA_PG_BIN) on a private directory under /tmp, listening on a Unix
 * socket there only (no TCP port to collide on), as the user "nobody"
 * when the tests run as root (PostgreSQL refuses to run as root). It is
 * stopped and removed at exit. Durability is off (fsync=off): the tests
 * kill daemons, never the database server.
 *
 * Without PostgreSQL's programs the test is skipped (exit 77) with a
 * message saying what to install.
 */
#ifndef ADALORA_TESTS_PG_SERVER_H
#define ADALORA_TESTS_PG_SERVER_H

/* The connection URI of database name (created on first use) on the
 * test server; static storage, overwritten by the next call. */
const char *pg_server_uri(const char *name);

/* The same for a database named after a path (a test's scratch
 * directory): "t_" and a hash of it. */
const char *pg_server_uri_for(const char *path);

/* Run SQL on database name as the superuser (psql); exits the test on
 * failure. */
void pg_server_sql(const char *name, const char *sql);

#endif
