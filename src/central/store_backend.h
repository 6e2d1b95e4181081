/* The two backends behind store.h, for the store's own files only.
 *
 * struct store holds what does not depend on the database: the lock that store_begin takes,
 * the last error's message, the write-failure state of store_write_state, the controllers
 * bumped in the open transaction and the commit hook. The backend is a table of operations
 * (struct store_backend) over its own connection state, struct sq_store (store_sqlite.c) or
 * struct pg_store (store_pg.c), reached through the matching member of struct store: each
 * backend keeps its own type, with no casts. store_open chooses the backend once, from the
 * database string.
 *
 * What is the same on both is written once, around the operations: the transaction protocol
 * and the migrations' loop (store.c), every row operation of store.h with its SQL (store_rows.c)
 * and the SELECT of a page (store_page.c). The backends keep what really differs: connecting,
 * the migrations' dialect, the statement caches, binding values and reading rows, and what
 * a failed statement does to the transaction. */
#ifndef ROUNDHOUSE_STORE_BACKEND_H
#define ROUNDHOUSE_STORE_BACKEND_H

#include <pthread.h>
#include <stdatomic.h>

#include "store.h"

struct sq_store;
struct pg_store;

/* ---- the tables (store_tables.c) ---- */
struct store_column {
    const char *name;
    char type; /* T text, I integer, R real, B boolean, J JSON text */
};

struct store_table {
    const char *name;
    const char *key;
    const char *order; /* ORDER BY clause for lists */
    const struct store_column *columns;
    /* A column besides the key whose values are unique (NULL: none): an UPDATE that sets it
     * may conflict. */
    const char *unique;
};

extern const struct store_table store_controllers_table, store_trains_table, store_status_table,
    store_plugins_table, store_settings_table, store_users_table, store_credentials_table;
/* The column of t with this name, or NULL. */
const struct store_column *store_find_column(const struct store_table *t, const char *name);

/* ---- statements ---- */
/* The most parameters one statement has (a row with every column of the widest table fits). */
#define STORE_MAX_PARAMS 32

typedef int (*store_row_fn)(void *ctx, const json_t *row);

/* One column of a row read as a C value (select_cells): for I and B columns the integer (0
 * or 1 for B), for the others the text (len bytes, not NUL-terminated). Valid until the
 * callback returns. */
struct store_cell {
    bool null;
    const char *text;
    size_t len;
    int64_t integer;
};
/* Receives the n cells of one row: 0 for the next row, anything else stops (and is
 * returned). */
typedef int (*store_cells_fn)(void *ctx, const struct store_cell *cells, int n);

/* ---- the operations of a backend ---- */
struct store_backend {
    const char *name; /* store_backend_name */

    /* The dialect. The migrations: the table that records them, the BEGIN that each runs in,
     * and the one of each schema version (STORE_SCHEMA_VERSION of them). */
    const char *migrations_table;
    const char *migration_begin;
    const char *const *migrations;
    /* What makes text compare and order by its bytes on both: "" or " COLLATE \"C\"". */
    const char *collate;
    /* A subquery of the strings in the JSON array of its one parameter. */
    const char *json_strings;
    /* After an INSERT that is not an upsert: PostgreSQL's ON CONFLICT DO NOTHING, so that a
     * taken key inserts nothing instead of ending the transaction (store_rows.c then says
     * -EEXIST). */
    const char *insert_suffix;

    void (*free)(struct store *st);
    /* One or more statements without parameters (the migrations), outside the caches. */
    int (*script)(struct store *st, const char *sql);
    int (*schema_version)(struct store *st, int *out);
    /* NULL: the database checkpoints by itself (store_checkpoint returns 0). Called locked. */
    int (*defer_checkpoints)(struct store *st);
    int (*checkpoint)(struct store *st, struct store_wal *wal);
    /* store_finish_checkpoint (NULL: nothing to finish); any thread, without the lock. */
    void (*finish_checkpoint)(struct store *st);

    /* The transaction, under the lock store.c holds. begin: a failure leaves no transaction.
     * commit: COMMIT; *wrote when it showed that writes work (it put data on disk). end:
     * whatever is left of the transaction is rolled back, its state reset; called after
     * every commit, successful or not, and for every rollback. */
    int (*begin)(struct store *st, bool write);
    /* store_begin_serialized's write transaction; NULL: begin(st, true) is one already. */
    int (*begin_serialized)(struct store *st);
    int (*commit)(struct store *st, bool *wrote);
    void (*end)(struct store *st);
    /* Inside a write transaction: one write that changes no row (store_probe_write). */
    int (*probe_write)(struct store *st);
    int (*ping)(struct store *st);
    /* ping outside a transaction, when a session needs none to answer (SQLite: a BEGIN
     * there touches no file either); NULL: store_check opens one. */
    int (*ping_alone)(struct store *st);

    /* The rows of a SELECT with the n values v, each as an object of its columns (converted
     * by the types of t's columns; others as text), handed to fn one at a time and freed after
     * it returns. A negative return from fn stops and is returned. */
    int (*select)(struct store *st, const struct store_table *t, const char *sql,
                  const struct store_value *v, int n, store_row_fn fn, void *ctx);
    /* The same without jansson: the rows as cells, column i converted as types[i] says (a
     * store_column type letter; I and B read as integers, a NULL's text NULL). For the
     * frequent reads of a few columns (store_controller_get_brief). A non-zero return from
     * fn stops and is returned. */
    int (*select_cells)(struct store *st, const char *sql, const struct store_value *v, int n,
                        const char *types, store_cells_fn fn, void *ctx);
    /* A statement without rows; *changes (when not NULL) receives the rows it changed.
     * may_conflict: it may break a unique column, and a conflict (-EEXIST) must leave the
     * transaction going (PostgreSQL runs it in a savepoint). */
    int (*exec)(struct store *st, const char *sql, const struct store_value *v, int n,
                bool may_conflict, int64_t *changes);
    /* The first row of a SELECT of two columns: the first as text into text, the bytes of
     * the second copied into *data (the caller frees it) and *len. -ENOENT without a row. */
    int (*select_blob)(struct store *st, const char *sql, const struct store_value *v, int n,
                       char *text, size_t textlen, void **data, size_t *len);
    /* store_controller_presence_scan. */
    int (*presence_scan)(struct store *st, store_presence_fn fn, void *ctx);
};

struct store {
    const struct store_backend *be;
    struct sq_store *sq; /* the state be works on: at most one of the two is set */
    struct pg_store *pg;
    pthread_mutex_t lock; /* held from store_begin to store_commit / store_rollback */
    char error[512];      /* store_last_error; the backends write it */
    /* A write failed since the last write transaction that showed writes work
     * (store_write_state). Read by /health outside any transaction: its own lock. */
    atomic_bool write_failing;
    pthread_mutex_t write_lock; /* write_error */
    char write_error[512];
    json_t *bumped; /* controllers whose config_version rose in the open transaction */
    store_commit_hook hook;
    void *hook_ctx;
};

/* ---- for the backends (store.c) ---- */
/* A write failed with st->error: remembered for store_write_state. */
void store_note_write_failed(struct store *st);
/* Brings the schema to max_version with be's migrations, each in its own transaction with its
 * row in the migrations table. 0, -EPROTO (the database is newer than this program) or -EIO;
 * err says why. */
int store_migrate(struct store *st, int max_version, char *err, size_t errlen);

/* ---- opening (store_sqlite.c, store_pg.c) ---- */
/* Connects st to the database: sets st->be and its state (left for store_free to release on
 * failure, too); unless maintenance, migrates to max_version. */
int sq_open(struct store *st, const char *path, int max_version, bool maintenance, char *err,
            size_t errlen);
int pg_open(struct store *st, const char *url, int max_version, bool maintenance, char *err,
            size_t errlen);
/* store_backup_into for a SQLite file (store_sqlite.c). */
int sq_backup_into(const char *path, const char *dest, char *err, size_t errlen);

#endif
