/* The two backends behind store.h, for the store's own files only.
 *
 * struct store holds what does not depend on the database: the lock that store_begin takes,
 * the last error's message, the write-failure state of store_write_state, the controllers
 * bumped in the open transaction and the commit hook. The backend is a table of operations
 * (struct store_backend) over its own connection state, struct sq_store (store_sqlite.c) or
 * struct pg_store (store_pg.c), reached through the matching member of struct store: each
 * backend keeps its own type, with no casts. store_open chooses the backend once, from the
 * database string. What is the same on both (the transaction protocol, the migrations' loop)
 * is written once in store.c, around the operations. */
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
};

extern const struct store_table store_controllers_table, store_trains_table, store_status_table,
    store_plugins_table, store_settings_table, store_users_table, store_credentials_table;
/* The column of t with this name, or NULL. */
const struct store_column *store_find_column(const struct store_table *t, const char *name);

/* ---- the SELECT of a page (store_page.c) ---- */
struct store_page_param {
    bool is_text;
    const char *text; /* borrowed: from the query, or out->pattern */
    int64_t integer;
};
struct store_page_sql {
    char sql[2048];
    char pattern[2 * 512 + 3]; /* the LIKE pattern of the name filter */
    int nparams;
    struct store_page_param params[8];
};
/* The statement of store_controller_page (t = &store_controllers_table) or store_train_page
 * (&store_trains_table): parameters written as mark and their number ('?' for SQLite, '$'
 * for PostgreSQL), text compared and ordered under collate ("" or " COLLATE \"C\""), the
 * values to bind in out->params in order. -E2BIG when the name filter is too long. */
int store_page_sql(const struct store_table *t, const struct store_page_query *q, char mark,
                   const char *collate, struct store_page_sql *out);

/* ---- the operations of a backend ---- */
struct store_backend {
    const char *name; /* store_backend_name */
    /* The migrations, in the backend's dialect: the table that records them, the BEGIN that
     * each runs in, and the one of each schema version (STORE_SCHEMA_VERSION of them). */
    const char *migrations_table;
    const char *migration_begin;
    const char *const *migrations;

    void (*free)(struct store *st);
    /* One or more statements without parameters (the migrations), outside the caches. */
    int (*script)(struct store *st, const char *sql);
    int (*schema_version)(struct store *st, int *out);
    /* NULL: the database checkpoints by itself (store_checkpoint returns 0). Called locked. */
    int (*defer_checkpoints)(struct store *st);
    int (*checkpoint)(struct store *st);

    /* The transaction, under the lock store.c holds. begin: a failure leaves no transaction.
     * commit: COMMIT; *wrote when it showed that writes work (it put data on disk). end:
     * whatever is left of the transaction is rolled back, its state reset; called after
     * every commit, successful or not, and for every rollback. */
    int (*begin)(struct store *st, bool write);
    int (*commit)(struct store *st, bool *wrote);
    void (*end)(struct store *st);
    /* Inside a write transaction: one write that changes no row (store_probe_write). */
    int (*probe_write)(struct store *st);
    int (*ping)(struct store *st);
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

/* ---- SQLite (store_sqlite.c) ---- */
int sq_controller_get(struct sq_store *st, const char *id, json_t **out);
int sq_controller_list(struct sq_store *st, json_t **out);
int sq_controller_foreach(struct sq_store *st, int (*fn)(void *ctx, const json_t *row), void *ctx);
int sq_controller_foreach_after(struct sq_store *st, int64_t created_at, int64_t rowid, int limit,
                                int (*fn)(void *ctx, const json_t *row), void *ctx);
int sq_controller_presence_scan(struct sq_store *st, store_presence_fn fn, void *ctx);
int sq_page(struct sq_store *st, const struct store_table *t, const struct store_page_query *q,
            int (*fn)(void *ctx, const json_t *row), void *ctx);
int sq_controller_find_by_name(struct sq_store *st, const char *name, json_t **out);
int sq_controller_insert(struct sq_store *st, const json_t *row);
int sq_controller_update(struct sq_store *st, const char *id, const json_t *fields);
int sq_controller_bump_config(struct sq_store *st, const char *id, int64_t now);
int sq_controller_delete(struct sq_store *st, const char *id);
int sq_train_get(struct sq_store *st, const char *id, json_t **out);
int sq_train_list(struct sq_store *st, const char *controller_id, json_t **out);
int sq_train_list_for(struct sq_store *st, const json_t *controller_ids, json_t **out);
int sq_train_list_actual(struct sq_store *st, const char *controller_id, json_t **out);
int sq_train_insert(struct sq_store *st, const json_t *row);
int sq_train_update(struct sq_store *st, const char *id, const json_t *fields);
int sq_train_find_by_address(struct sq_store *st, int address, json_t **out);
int sq_train_assign_addresses(struct sq_store *st);
int sq_train_delete(struct sq_store *st, const char *id);
int sq_train_photo_put(struct sq_store *st, const char *train_id, const char *media_type,
                       const void *data, size_t len, int64_t now);
int sq_train_photo_get(struct sq_store *st, const char *train_id, char *media_type, size_t typelen,
                       void **data, size_t *len);
int sq_train_photo_delete(struct sq_store *st, const char *train_id);
int sq_status_get(struct sq_store *st, const char *train_id, json_t **out);
int sq_status_upsert(struct sq_store *st, const json_t *row);
int sq_plugin_list(struct sq_store *st, json_t **out);
int sq_plugin_get(struct sq_store *st, const char *name, json_t **out);
int sq_plugin_upsert(struct sq_store *st, const json_t *row);
int sq_setting_get(struct sq_store *st, const char *key, json_t **value);
int sq_setting_put(struct sq_store *st, const char *key, const json_t *value);
int sq_user_get(struct sq_store *st, const char *username, json_t **out);
int sq_user_list(struct sq_store *st, json_t **out);
int sq_user_put(struct sq_store *st, const json_t *row);
int sq_user_delete(struct sq_store *st, const char *username);
int sq_credential_get(struct sq_store *st, const char *secret_hash, json_t **out);
int sq_credential_list(struct sq_store *st, const char *username, json_t **out);
int sq_credential_insert(struct sq_store *st, const json_t *row);
int sq_credential_delete(struct sq_store *st, const char *secret_hash);
int sq_credential_prune(struct sq_store *st, int64_t now);

/* ---- PostgreSQL (store_pg.c) ---- */
int pg_controller_get(struct pg_store *st, const char *id, json_t **out);
int pg_controller_list(struct pg_store *st, json_t **out);
int pg_controller_foreach(struct pg_store *st, int (*fn)(void *ctx, const json_t *row), void *ctx);
int pg_controller_foreach_after(struct pg_store *st, int64_t created_at, int64_t rowid, int limit,
                                int (*fn)(void *ctx, const json_t *row), void *ctx);
int pg_controller_presence_scan(struct pg_store *st, store_presence_fn fn, void *ctx);
int pg_page(struct pg_store *st, const struct store_table *t, const struct store_page_query *q,
            int (*fn)(void *ctx, const json_t *row), void *ctx);
int pg_controller_find_by_name(struct pg_store *st, const char *name, json_t **out);
int pg_controller_insert(struct pg_store *st, const json_t *row);
int pg_controller_update(struct pg_store *st, const char *id, const json_t *fields);
int pg_controller_bump_config(struct pg_store *st, const char *id, int64_t now);
int pg_controller_delete(struct pg_store *st, const char *id);
int pg_train_get(struct pg_store *st, const char *id, json_t **out);
int pg_train_list(struct pg_store *st, const char *controller_id, json_t **out);
int pg_train_list_for(struct pg_store *st, const json_t *controller_ids, json_t **out);
int pg_train_list_actual(struct pg_store *st, const char *controller_id, json_t **out);
int pg_train_insert(struct pg_store *st, const json_t *row);
int pg_train_update(struct pg_store *st, const char *id, const json_t *fields);
int pg_train_find_by_address(struct pg_store *st, int address, json_t **out);
int pg_train_assign_addresses(struct pg_store *st);
int pg_train_delete(struct pg_store *st, const char *id);
int pg_train_photo_put(struct pg_store *st, const char *train_id, const char *media_type,
                       const void *data, size_t len, int64_t now);
int pg_train_photo_get(struct pg_store *st, const char *train_id, char *media_type, size_t typelen,
                       void **data, size_t *len);
int pg_train_photo_delete(struct pg_store *st, const char *train_id);
int pg_status_get(struct pg_store *st, const char *train_id, json_t **out);
int pg_status_upsert(struct pg_store *st, const json_t *row);
int pg_plugin_list(struct pg_store *st, json_t **out);
int pg_plugin_get(struct pg_store *st, const char *name, json_t **out);
int pg_plugin_upsert(struct pg_store *st, const json_t *row);
int pg_setting_get(struct pg_store *st, const char *key, json_t **value);
int pg_setting_put(struct pg_store *st, const char *key, const json_t *value);
int pg_user_get(struct pg_store *st, const char *username, json_t **out);
int pg_user_list(struct pg_store *st, json_t **out);
int pg_user_put(struct pg_store *st, const json_t *row);
int pg_user_delete(struct pg_store *st, const char *username);
int pg_credential_get(struct pg_store *st, const char *secret_hash, json_t **out);
int pg_credential_list(struct pg_store *st, const char *username, json_t **out);
int pg_credential_insert(struct pg_store *st, const json_t *row);
int pg_credential_delete(struct pg_store *st, const char *secret_hash);
int pg_credential_prune(struct pg_store *st, int64_t now);

#endif
