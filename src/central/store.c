/* The public store.h functions: store_open picks the backend from the database string and
 * every other call goes to that backend's namesake (store_backend.h says why a switch).
 * Nothing here touches a database. */
#include "store_backend.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool store_is_postgresql(const char *db)
{
    return db != NULL &&
           (strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0);
}

void store_redact(const char *db, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    snprintf(out, outlen, "%s", db);
    if (!store_is_postgresql(db))
        return;
    /* userinfo: between "://" and the last '@' before the path */
    char *auth = strstr(out, "://") + 3;
    size_t authlen = strcspn(auth, "/?");
    char *at = NULL;
    for (char *p = auth; p < auth + authlen; p++)
        if (*p == '@')
            at = p;
    char *colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    char masked[PATH_MAX];
    if (colon != NULL) {
        snprintf(masked, sizeof masked, "%.*s***%s", (int)(colon + 1 - out), out, at);
        snprintf(out, outlen, "%s", masked);
    }
    char *pw = strstr(out, "password=");
    if (pw != NULL) {
        char *end = pw + strlen("password=");
        end += strcspn(end, "&");
        snprintf(masked, sizeof masked, "%.*s***%s", (int)(pw + strlen("password=") - out), out,
                 end);
        snprintf(out, outlen, "%s", masked);
    }
}

const char *store_backend_name(const struct store *st)
{
    return st->be->name;
}

static struct store *store_new(void)
{
    struct store *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->bumped = json_array();
    if (st->bumped == NULL) {
        free(st);
        return NULL;
    }
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
#ifndef NDEBUG
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
#endif
    pthread_mutex_init(&st->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    pthread_mutex_init(&st->write_lock, NULL);
    return st;
}

static int store_connect(const char *path, int max_version, bool maintenance, struct store **out,
                         char *err, size_t errlen)
{
    struct store *st = store_new();
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = store_is_postgresql(path) ? pg_open(st, path, max_version, maintenance, err, errlen)
                                       : sq_open(st, path, max_version, maintenance, err, errlen);
    if (rc < 0) {
        store_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

int store_open(const char *path, int max_version, struct store **out, char *err, size_t errlen)
{
    return store_connect(path, max_version, false, out, err, errlen);
}

int store_open_maintenance(const char *path, struct store **out, char *err, size_t errlen)
{
    return store_connect(path, STORE_SCHEMA_VERSION, true, out, err, errlen);
}

void store_free(struct store *st)
{
    if (st == NULL)
        return;
    if (st->be != NULL)
        st->be->free(st);
    json_decref(st->bumped);
    pthread_mutex_destroy(&st->lock);
    pthread_mutex_destroy(&st->write_lock);
    free(st);
}

/* Debug builds use an error-checking mutex and stop at the first unlock of a lock this
 * thread does not hold (a transaction ended twice): that would release another thread's
 * transaction. */
static void store_unlock(struct store *st)
{
    int rc = pthread_mutex_unlock(&st->lock);
#ifndef NDEBUG
    if (rc != 0) {
        fprintf(stderr, "store: unlock of a store lock not held (%s): transaction ended twice\n",
                strerror(rc));
        abort();
    }
#endif
    (void)rc;
}

int store_migrate(struct store *st, int max_version, char *err, size_t errlen)
{
    const struct store_backend *be = st->be;
    if (be->script(st, be->migrations_table) < 0) {
        snprintf(err, errlen, "cannot create schema_migrations: %s", st->error);
        return -EIO;
    }
    int current = 0;
    if (be->schema_version(st, &current) < 0) {
        snprintf(err, errlen, "cannot read schema version: %s", st->error);
        return -EIO;
    }
    if (current > STORE_SCHEMA_VERSION) {
        snprintf(err, errlen, "database schema version %d is newer than this program supports (%d)",
                 current, STORE_SCHEMA_VERSION);
        return -EPROTO;
    }
    for (int v = current + 1; v <= max_version && v <= STORE_SCHEMA_VERSION; v++) {
        char record[96];
        snprintf(record, sizeof record, "INSERT INTO schema_migrations(version) VALUES (%d)", v);
        /* cppcheck-suppress negativeIndex ; v starts at current + 1 >= 1 */
        if (be->script(st, be->migration_begin) < 0 || be->script(st, be->migrations[v - 1]) < 0 ||
            be->script(st, record) < 0 || be->script(st, "COMMIT") < 0) {
            snprintf(err, errlen, "migration to schema version %d failed: %s", v, st->error);
            be->script(st, "ROLLBACK");
            return -EIO;
        }
    }
    return 0;
}

int store_defer_checkpoints(struct store *st)
{
    if (st->be->defer_checkpoints == NULL)
        return 0;
    pthread_mutex_lock(&st->lock);
    int rc = st->be->defer_checkpoints(st);
    store_unlock(st);
    return rc;
}

int store_checkpoint(struct store *st)
{
    if (st->be->checkpoint == NULL)
        return 0;
    pthread_mutex_lock(&st->lock);
    int rc = st->be->checkpoint(st);
    store_unlock(st);
    return rc;
}

const char *store_last_error(struct store *st)
{
    return st->error;
}

int store_schema_version(struct store *st, int *out)
{
    pthread_mutex_lock(&st->lock);
    int rc = st->be->schema_version(st, out);
    store_unlock(st);
    return rc;
}

void store_set_commit_hook(struct store *st, store_commit_hook hook, void *ctx)
{
    st->hook = hook;
    st->hook_ctx = ctx;
}

void store_note_write_failed(struct store *st)
{
    pthread_mutex_lock(&st->write_lock);
    snprintf(st->write_error, sizeof st->write_error, "%s", st->error);
    pthread_mutex_unlock(&st->write_lock);
    atomic_store(&st->write_failing, true);
}

int store_begin(struct store *st, bool write)
{
    pthread_mutex_lock(&st->lock);
    int rc = st->be->begin(st, write);
    if (rc < 0) {
        if (write)
            store_note_write_failed(st);
        store_unlock(st);
        return rc;
    }
    json_array_clear(st->bumped);
    return 0;
}

int store_commit(struct store *st)
{
    bool wrote = false;
    int rc = st->be->commit(st, &wrote);
    if (rc == 0) {
        if (wrote)
            atomic_store(&st->write_failing, false);
        if (st->hook != NULL && json_array_size(st->bumped) > 0)
            st->hook(st->hook_ctx, st, st->bumped);
    }
    st->be->end(st);
    json_array_clear(st->bumped);
    store_unlock(st);
    return rc;
}

void store_rollback(struct store *st)
{
    st->be->end(st);
    json_array_clear(st->bumped);
    store_unlock(st);
}

int store_ping(struct store *st)
{
    return st->be->ping(st);
}

bool store_write_state(struct store *st, char *error, size_t errlen)
{
    if (!atomic_load(&st->write_failing))
        return true;
    if (error != NULL && errlen > 0) {
        pthread_mutex_lock(&st->write_lock);
        snprintf(error, errlen, "%s", st->write_error);
        pthread_mutex_unlock(&st->write_lock);
    }
    return false;
}

int store_probe_write(struct store *st)
{
    int rc = store_begin(st, true);
    if (rc < 0)
        return rc;
    rc = st->be->probe_write(st);
    if (rc < 0) {
        store_note_write_failed(st);
        store_rollback(st);
        return rc;
    }
    return store_commit(st);
}

int store_controller_get(struct store *st, const char *id, json_t **out)
{
    return st->pg != NULL ? pg_controller_get(st->pg, id, out) : sq_controller_get(st->sq, id, out);
}

int store_controller_list(struct store *st, json_t **out)
{
    return st->pg != NULL ? pg_controller_list(st->pg, out) : sq_controller_list(st->sq, out);
}

int store_controller_foreach(struct store *st, int (*fn)(void *ctx, const json_t *row), void *ctx)
{
    return st->pg != NULL ? pg_controller_foreach(st->pg, fn, ctx)
                          : sq_controller_foreach(st->sq, fn, ctx);
}

struct keyed {
    struct store_list_key *key;
    int (*fn)(void *ctx, const json_t *row);
    void *ctx;
};

/* Both backends select the row's rowid with it, as list_rowid (a text column to the row
 * readers, which know no such column): the key of the next page. */
static int note_key(void *ctx, const json_t *row)
{
    struct keyed *k = ctx;
    const char *rowid = json_string_value(json_object_get(row, "list_rowid"));
    k->key->created_at = json_integer_value(json_object_get(row, "created_at"));
    k->key->rowid = rowid != NULL ? strtoll(rowid, NULL, 10) : INT64_MAX;
    return k->fn(k->ctx, row);
}

int store_controller_foreach_after(struct store *st, struct store_list_key *after, int limit,
                                   int (*fn)(void *ctx, const json_t *row), void *ctx)
{
    struct keyed k = {after, fn, ctx};
    int64_t c = after->created_at, r = after->rowid;
    return st->pg != NULL ? pg_controller_foreach_after(st->pg, c, r, limit, note_key, &k)
                          : sq_controller_foreach_after(st->sq, c, r, limit, note_key, &k);
}

int store_controller_page(struct store *st, const struct store_page_query *q,
                          int (*fn)(void *ctx, const json_t *row), void *ctx)
{
    return st->pg != NULL ? pg_page(st->pg, &store_controllers_table, q, fn, ctx)
                          : sq_page(st->sq, &store_controllers_table, q, fn, ctx);
}

int store_train_page(struct store *st, const struct store_page_query *q,
                     int (*fn)(void *ctx, const json_t *row), void *ctx)
{
    return st->pg != NULL ? pg_page(st->pg, &store_trains_table, q, fn, ctx)
                          : sq_page(st->sq, &store_trains_table, q, fn, ctx);
}

int store_controller_presence_scan(struct store *st, store_presence_fn fn, void *ctx)
{
    return st->pg != NULL ? pg_controller_presence_scan(st->pg, fn, ctx)
                          : sq_controller_presence_scan(st->sq, fn, ctx);
}

int store_controller_find_by_name(struct store *st, const char *name, json_t **out)
{
    return st->pg != NULL ? pg_controller_find_by_name(st->pg, name, out)
                          : sq_controller_find_by_name(st->sq, name, out);
}

int store_controller_insert(struct store *st, const json_t *row)
{
    return st->pg != NULL ? pg_controller_insert(st->pg, row) : sq_controller_insert(st->sq, row);
}

int store_controller_update(struct store *st, const char *id, const json_t *fields)
{
    return st->pg != NULL ? pg_controller_update(st->pg, id, fields)
                          : sq_controller_update(st->sq, id, fields);
}

int store_controller_bump_config(struct store *st, const char *id, int64_t now)
{
    return st->pg != NULL ? pg_controller_bump_config(st->pg, id, now)
                          : sq_controller_bump_config(st->sq, id, now);
}

int store_controller_delete(struct store *st, const char *id)
{
    return st->pg != NULL ? pg_controller_delete(st->pg, id) : sq_controller_delete(st->sq, id);
}

int store_train_get(struct store *st, const char *id, json_t **out)
{
    return st->pg != NULL ? pg_train_get(st->pg, id, out) : sq_train_get(st->sq, id, out);
}

int store_train_list(struct store *st, const char *controller_id, json_t **out)
{
    return st->pg != NULL ? pg_train_list(st->pg, controller_id, out)
                          : sq_train_list(st->sq, controller_id, out);
}

int store_train_list_for(struct store *st, const json_t *controller_ids, json_t **out)
{
    return st->pg != NULL ? pg_train_list_for(st->pg, controller_ids, out)
                          : sq_train_list_for(st->sq, controller_ids, out);
}

int store_train_list_actual(struct store *st, const char *controller_id, json_t **out)
{
    return st->pg != NULL ? pg_train_list_actual(st->pg, controller_id, out)
                          : sq_train_list_actual(st->sq, controller_id, out);
}

int store_train_insert(struct store *st, const json_t *row)
{
    return st->pg != NULL ? pg_train_insert(st->pg, row) : sq_train_insert(st->sq, row);
}

int store_train_update(struct store *st, const char *id, const json_t *fields)
{
    return st->pg != NULL ? pg_train_update(st->pg, id, fields)
                          : sq_train_update(st->sq, id, fields);
}

int store_train_find_by_address(struct store *st, int address, json_t **out)
{
    return st->pg != NULL ? pg_train_find_by_address(st->pg, address, out)
                          : sq_train_find_by_address(st->sq, address, out);
}

int store_train_assign_addresses(struct store *st)
{
    return st->pg != NULL ? pg_train_assign_addresses(st->pg) : sq_train_assign_addresses(st->sq);
}

int store_train_delete(struct store *st, const char *id)
{
    return st->pg != NULL ? pg_train_delete(st->pg, id) : sq_train_delete(st->sq, id);
}

int store_train_photo_put(struct store *st, const char *train_id, const char *media_type,
                          const void *data, size_t len, int64_t now)
{
    return st->pg != NULL ? pg_train_photo_put(st->pg, train_id, media_type, data, len, now)
                          : sq_train_photo_put(st->sq, train_id, media_type, data, len, now);
}

int store_train_photo_get(struct store *st, const char *train_id, char *media_type, size_t typelen,
                          void **data, size_t *len)
{
    return st->pg != NULL ? pg_train_photo_get(st->pg, train_id, media_type, typelen, data, len)
                          : sq_train_photo_get(st->sq, train_id, media_type, typelen, data, len);
}

int store_train_photo_delete(struct store *st, const char *train_id)
{
    return st->pg != NULL ? pg_train_photo_delete(st->pg, train_id)
                          : sq_train_photo_delete(st->sq, train_id);
}

int store_status_get(struct store *st, const char *train_id, json_t **out)
{
    return st->pg != NULL ? pg_status_get(st->pg, train_id, out)
                          : sq_status_get(st->sq, train_id, out);
}

int store_status_upsert(struct store *st, const json_t *row)
{
    return st->pg != NULL ? pg_status_upsert(st->pg, row) : sq_status_upsert(st->sq, row);
}

int store_plugin_list(struct store *st, json_t **out)
{
    return st->pg != NULL ? pg_plugin_list(st->pg, out) : sq_plugin_list(st->sq, out);
}

int store_plugin_get(struct store *st, const char *name, json_t **out)
{
    return st->pg != NULL ? pg_plugin_get(st->pg, name, out) : sq_plugin_get(st->sq, name, out);
}

int store_plugin_upsert(struct store *st, const json_t *row)
{
    return st->pg != NULL ? pg_plugin_upsert(st->pg, row) : sq_plugin_upsert(st->sq, row);
}

int store_setting_get(struct store *st, const char *key, json_t **value)
{
    return st->pg != NULL ? pg_setting_get(st->pg, key, value) : sq_setting_get(st->sq, key, value);
}

int store_setting_put(struct store *st, const char *key, const json_t *value)
{
    return st->pg != NULL ? pg_setting_put(st->pg, key, value) : sq_setting_put(st->sq, key, value);
}

int store_user_get(struct store *st, const char *username, json_t **out)
{
    return st->pg != NULL ? pg_user_get(st->pg, username, out) : sq_user_get(st->sq, username, out);
}

int store_user_list(struct store *st, json_t **out)
{
    return st->pg != NULL ? pg_user_list(st->pg, out) : sq_user_list(st->sq, out);
}

int store_user_put(struct store *st, const json_t *row)
{
    return st->pg != NULL ? pg_user_put(st->pg, row) : sq_user_put(st->sq, row);
}

int store_user_delete(struct store *st, const char *username)
{
    return st->pg != NULL ? pg_user_delete(st->pg, username) : sq_user_delete(st->sq, username);
}

int store_credential_get(struct store *st, const char *secret_hash, json_t **out)
{
    return st->pg != NULL ? pg_credential_get(st->pg, secret_hash, out)
                          : sq_credential_get(st->sq, secret_hash, out);
}

int store_credential_list(struct store *st, const char *username, json_t **out)
{
    return st->pg != NULL ? pg_credential_list(st->pg, username, out)
                          : sq_credential_list(st->sq, username, out);
}

int store_credential_insert(struct store *st, const json_t *row)
{
    return st->pg != NULL ? pg_credential_insert(st->pg, row) : sq_credential_insert(st->sq, row);
}

int store_credential_delete(struct store *st, const char *secret_hash)
{
    return st->pg != NULL ? pg_credential_delete(st->pg, secret_hash)
                          : sq_credential_delete(st->sq, secret_hash);
}

int store_credential_prune(struct store *st, int64_t now)
{
    return st->pg != NULL ? pg_credential_prune(st->pg, now) : sq_credential_prune(st->sq, now);
}
