/* The store itself: store_open picks the backend from the database string, and the lock,
 * the transaction protocol around the backend's begin/commit/end, the write-failure state
 * and the migrations' loop are here, once for both backends (store_backend.h). The row
 * operations are store_rows.c's. */
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

int store_backup_into(const char *path, const char *dest, char *err, size_t errlen)
{
    if (store_is_postgresql(path)) {
        snprintf(err, errlen, "the database is PostgreSQL: back it up with pg_dump");
        return -ENOTSUP;
    }
    return sq_backup_into(path, dest, err, errlen);
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

int store_checkpoint(struct store *st, struct store_wal *wal)
{
    struct store_wal none;
    if (wal == NULL)
        wal = &none;
    *wal = (struct store_wal){0, 0};
    if (st->be->checkpoint == NULL)
        return 0;
    pthread_mutex_lock(&st->lock);
    int rc = st->be->checkpoint(st, wal);
    store_unlock(st);
    return rc;
}

void store_finish_checkpoint(struct store *st)
{
    if (st->be->finish_checkpoint != NULL)
        st->be->finish_checkpoint(st);
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

/* store_begin with the backend's begin (its write or serialized form). */
static int begin_with(struct store *st, bool write, bool serialized)
{
    pthread_mutex_lock(&st->lock);
    int rc = serialized ? st->be->begin_serialized(st) : st->be->begin(st, write);
    if (rc < 0) {
        if (write)
            store_note_write_failed(st);
        store_unlock(st);
        return rc;
    }
    json_array_clear(st->bumped);
    return 0;
}

int store_begin(struct store *st, bool write)
{
    return begin_with(st, write, false);
}

int store_begin_serialized(struct store *st)
{
    return begin_with(st, true, store_serializes(st));
}

bool store_serializes(const struct store *st)
{
    return st->be->begin_serialized != NULL;
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

int store_end(struct store *st, int rc)
{
    if (rc != 0) {
        store_rollback(st);
        return rc;
    }
    return store_commit(st);
}

int store_ping(struct store *st)
{
    return st->be->ping(st);
}

int store_check(struct store *st)
{
    if (st->be->ping_alone != NULL) {
        pthread_mutex_lock(&st->lock);
        int rc = st->be->ping_alone(st);
        store_unlock(st);
        return rc;
    }
    int rc = store_begin(st, false);
    if (rc < 0)
        return rc;
    rc = store_ping(st);
    store_rollback(st);
    return rc;
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
