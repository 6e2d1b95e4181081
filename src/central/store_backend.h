/* The two backends behind store.h, for store.c and the backends only.
 *
 * Both are compiled in and store.c switches between them: struct store holds exactly one of a
 * struct sq_store (store_sqlite.c) or a struct pg_store (store_pg.c), and every public
 * store_x calls sq_x or pg_x with the same arguments. store_open chooses once, from the
 * database string. A switch rather than a table of function pointers: each backend function
 * keeps its own typed state (no casts from a common base), the compiler checks every call
 * against the prototypes below, and adding a store function is one prototype per backend here
 * plus one line in store.c.
 *
 * Each sq_x / pg_x means exactly what store_x in store.h says. */
#ifndef ROUNDHOUSE_STORE_BACKEND_H
#define ROUNDHOUSE_STORE_BACKEND_H

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

struct store {
    struct sq_store *sq; /* exactly one of the two is set */
    struct pg_store *pg;
};

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

/* ---- SQLite (store_sqlite.c) ---- */
int sq_open(const char *path, int max_version, struct sq_store **out, char *err, size_t errlen);
int sq_open_maintenance(const char *path, struct sq_store **out, char *err, size_t errlen);
void sq_free(struct sq_store *st);
int sq_defer_checkpoints(struct sq_store *st);
int sq_checkpoint(struct sq_store *st);
const char *sq_last_error(struct sq_store *st);
int sq_schema_version(struct sq_store *st, int *out);
void sq_set_commit_hook(struct sq_store *st, struct store *owner, store_commit_hook hook,
                        void *ctx);
int sq_begin(struct sq_store *st, bool write);
int sq_commit(struct sq_store *st);
void sq_rollback(struct sq_store *st);
int sq_ping(struct sq_store *st);
bool sq_write_state(struct sq_store *st, char *error, size_t errlen);
int sq_probe_write(struct sq_store *st);
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
int pg_open(const char *url, int max_version, struct pg_store **out, char *err, size_t errlen);
int pg_open_maintenance(const char *url, struct pg_store **out, char *err, size_t errlen);
void pg_free(struct pg_store *st);
int pg_defer_checkpoints(struct pg_store *st);
int pg_checkpoint(struct pg_store *st);
const char *pg_last_error(struct pg_store *st);
int pg_schema_version(struct pg_store *st, int *out);
void pg_set_commit_hook(struct pg_store *st, struct store *owner, store_commit_hook hook,
                        void *ctx);
int pg_begin(struct pg_store *st, bool write);
int pg_commit(struct pg_store *st);
void pg_rollback(struct pg_store *st);
int pg_ping(struct pg_store *st);
bool pg_write_state(struct pg_store *st, char *error, size_t errlen);
int pg_probe_write(struct pg_store *st);
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
