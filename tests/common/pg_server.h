/* A throwaway PostgreSQL server for tests: initdb and pg_ctl in a temporary directory, listening
 * only on a Unix socket in that directory (no TCP), fsync off. As root, the server runs as the
 * `postgres` system user (initdb refuses root); as any other user, as that user. Start it once per
 * test program: it takes a second or two. The superuser is always `postgres`, trust auth. */
#ifndef PV_TESTS_PG_SERVER_H
#define PV_TESTS_PG_SERVER_H

#include <stddef.h>

typedef struct pg_server {
    char dir[128]; /* data/, the socket, server.log */
    char bin[256]; /* initdb and pg_ctl are here */
    int port;      /* names the socket file only */
    int running;
    char why[512]; /* what failed */
} pg_server;

/* A fresh cluster, started. 0, or -1 with why (binaries missing, initdb or start failed). The
 * binaries: $PV_PG_BIN, else the newest /usr/lib/postgresql/N/bin. */
int pg_server_start(pg_server *s);
/* pg_ctl stop -m fast (sessions are cut), and start again on the same data. 0 or -1. */
int pg_server_stop(pg_server *s);
int pg_server_restart(pg_server *s);
/* Stops the server and removes the directory. */
void pg_server_destroy(pg_server *s);
/* A libpq URL for database db (as superuser postgres); options (may be NULL) is appended as
 * "&options=..." already percent-encoded, e.g. "-csearch_path%3Dx". */
void pg_server_url(const pg_server *s, const char *db, const char *options, char *out, size_t cap);

#endif
