/* The SQLite backend of store.h (the embedded default): one connection, WAL journal, schema
 * migrations, the statement cache. store_open chooses it for every database that is not a
 * postgresql:// URL; it provides the operations of struct store_backend (store_backend.h),
 * and the row operations and their SQL are store_rows.c's. */
#include "store_backend.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "jsonr.h"
#include "timeutil.h"

/* How long a statement waits for another connection's lock. */
#define BUSY_TIMEOUT_MS 5000

/* SQLite's "unix-excl" VFS: the central's process takes an exclusive lock on the database
 * file at its first read and holds it, and the WAL index lives in the process's memory
 * instead of a -shm file. The connections of this process (the writer and the sweeper's
 * maintenance connection) share it as before; another process cannot open the database
 * while the central runs. So no transaction takes or drops a file lock: that was six
 * fcntl calls per write transaction and four per read, half of a registration's system
 * calls (docs/performance.md). It also keeps a second central off the same file. A copy of
 * the live database is taken by the central itself (store_backup, GET /api/backup). */
#define SQLITE_VFS "unix-excl"

/* Each migration is applied in its own transaction together with its row in
 * schema_migrations, so a migration is recorded exactly when it was applied. */
static const char *const migrations[] = {
    /* 1: initial registry */
    "CREATE TABLE controllers ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " name TEXT NOT NULL,"
    " description TEXT,"
    " address TEXT,"
    " enabled INTEGER NOT NULL DEFAULT 1,"
    " first_seen INTEGER,"
    " last_seen INTEGER,"
    " config_hash TEXT,"
    " version TEXT,"
    " platform TEXT,"
    " memory_mb INTEGER,"
    " cpu_count INTEGER,"
    " config_version INTEGER NOT NULL DEFAULT 1,"
    " applied_config_version INTEGER,"
    " session_epoch INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE TABLE trains ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " name TEXT NOT NULL,"
    " description TEXT,"
    " model TEXT,"
    " plugin_name TEXT NOT NULL,"
    " plugin_config TEXT NOT NULL DEFAULT '{}',"
    " invert_directions INTEGER NOT NULL DEFAULT 0,"
    " desired_controller_id TEXT REFERENCES controllers(id) ON DELETE SET NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE TABLE train_status ("
    " train_id TEXT PRIMARY KEY NOT NULL,"
    " speed INTEGER NOT NULL DEFAULT 0,"
    " direction TEXT,"
    " target_speed INTEGER,"
    " state TEXT,"
    " voltage REAL,"
    " current REAL,"
    " position TEXT,"
    " controller_id TEXT,"
    " reported_at TEXT,"
    " updated_at INTEGER NOT NULL);"
    "CREATE TABLE plugins ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " description TEXT,"
    " config TEXT NOT NULL DEFAULT '{}');",

    /* 2: desired vs actual placement, hardware identity and free-form metadata */
    "ALTER TABLE controllers ADD COLUMN hardware_id TEXT;"
    "ALTER TABLE controllers ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';"
    "ALTER TABLE trains ADD COLUMN actual_controller_id TEXT;"
    "ALTER TABLE trains ADD COLUMN reassignment_status TEXT;"
    "ALTER TABLE trains ADD COLUMN last_telemetry_at INTEGER;"
    "UPDATE trains SET reassignment_status = 'pending' WHERE desired_controller_id IS NOT NULL;"
    "CREATE INDEX controllers_name ON controllers(name);"
    "CREATE INDEX trains_desired ON trains(desired_controller_id);"
    "CREATE INDEX trains_actual ON trains(actual_controller_id);",

    /* 3: presence from the edge's MQTT birth and will */
    "ALTER TABLE controllers ADD COLUMN offline_epoch INTEGER;",

    /* 4: the numeric address throttles (WiThrottle, DCC) know a train by, 1-9999, unique;
     * existing trains are numbered 1, 2, ... in creation order. */
    "ALTER TABLE trains ADD COLUMN address INTEGER;"
    "UPDATE trains SET address = (SELECT COUNT(*) FROM trains t2 WHERE"
    " t2.created_at < trains.created_at OR (t2.created_at = trains.created_at AND"
    " t2.rowid <= trains.rowid));"
    "CREATE UNIQUE INDEX trains_address ON trains(address);",

    /* 5: the central's own small state documents (the layout's stopped state) */
    "CREATE TABLE settings (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL DEFAULT '{}');",

    /* 6: a train's driving settings (driving.h), carried in the runtime config */
    "ALTER TABLE trains ADD COLUMN driving TEXT NOT NULL DEFAULT '{}';",

    /* 7: an optional photo per train, kept apart so that reading trains never reads images;
     * trains.photo_at says when it was set (null: none) */
    "CREATE TABLE train_photos (train_id TEXT PRIMARY KEY NOT NULL, media_type TEXT NOT NULL,"
    " data BLOB NOT NULL);"
    "ALTER TABLE trains ADD COLUMN photo_at INTEGER;",
    /* 8: operator accounts (--auth): users with an Argon2id password hash, and their web
     * sessions and API tokens, kept only as SHA-256 hashes of the secret. */
    "CREATE TABLE users ("
    " username TEXT PRIMARY KEY NOT NULL,"
    " role TEXT NOT NULL,"
    " password_hash TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE TABLE credentials ("
    " secret_hash TEXT PRIMARY KEY NOT NULL,"
    " id TEXT NOT NULL UNIQUE,"
    " kind TEXT NOT NULL,"
    " username TEXT NOT NULL,"
    " name TEXT,"
    " created_at INTEGER NOT NULL,"
    " expires_at INTEGER);"
    "CREATE INDEX credentials_username ON credentials(username);",
    /* 9: the hash of the controller's own secret (docs/security.md); null for controllers
     * registered without one (the earlier system's edges) */
    "ALTER TABLE controllers ADD COLUMN secret_hash TEXT;",
    /* 10: the keys of the paged lists (store_controller_page, store_train_page) */
    "CREATE INDEX controllers_name_id"
    " ON controllers(name, id);"
    "CREATE INDEX trains_name_id ON trains(name, id);",
    /* 11: the unpaged controller list's keyset (created_at, then the rowid every SQLite index
     * ends with) */
    "CREATE INDEX controllers_created ON controllers(created_at);",
    /* 12: a controller's trains (assigned, and running) in their list order, read on every
     * config download and heartbeat without sorting them */
    "DROP INDEX trains_desired;"
    "CREATE INDEX trains_desired ON trains(desired_controller_id, created_at);"
    "DROP INDEX trains_actual;"
    "CREATE INDEX trains_actual ON trains(actual_controller_id, created_at);",
};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration per schema version");

#define STMT_CACHE_SIZE 48
/* Result columns whose types a cached statement keeps (more are looked up by name). */
#define STORE_ROW_COLUMNS_MAX 64

/* Prepared statements are kept and reused (reset, bindings cleared): compiling the SQL again
 * on every request was a third of the central's CPU under load. Statements are never used
 * by two callers at once: every store function finishes with its statement before it
 * returns, and the store's mutex serialises callers. */
struct cached_stmt {
    char *sql;
    const char *key; /* the caller's pointer when cached: most SQL is a literal */
    sqlite3_stmt *stmt;
    uint64_t used; /* for eviction of the least recently used */
    /* The store_column types of its result columns as rows of typed_for, found once rather
     * than by name for every column of every row. */
    const struct store_table *typed_for;
    int typed_n; /* the column count they were found for */
    char types[STORE_ROW_COLUMNS_MAX];
};

struct sq_store {
    struct store *owner; /* its error message and write-failure state */
    sqlite3 *db;
    struct cached_stmt cache[STMT_CACHE_SIZE];
    struct cached_stmt *last; /* the entry of stmt_prepare's last statement; NULL: uncached */
    uint64_t clock;
    bool write_tx;                 /* the open transaction was begun with write = true */
    int writes_begin;              /* SQLITE_DBSTATUS_CACHE_WRITE when it began */
    int wal_frames;                /* the WAL's length at the last checkpoint (sq_checkpoint) */
    bool wal_grew;                 /* since the last truncate_idle_wal */
    int64_t wal_changed_at;        /* monotonic ms of the last change sq_checkpoint saw */
    atomic_bool finish_checkpoint; /* sq_finish_checkpoint asked: finish_checkpoint */
};

/* The message for a failed call: SQLite's, and for the failures of the storage underneath
 * (disk full, I/O error, read-only or corrupt file) which file and what the system said, so
 * that the log names the real cause. */
static void describe_error(struct sq_store *st, int rc, const char *msg)
{
    int thread_errno = errno; /* first: the failed write's (see below) */
    char *error = st->owner->error;
    size_t errlen = sizeof st->owner->error;
    const char *file = sqlite3_db_filename(st->db, "main");
    if (file == NULL || *file == '\0')
        file = "(memory)";
    int sys = sqlite3_system_errno(st->db);
    /* SQLite does not always keep the errno of a failed write (3.40 loses EFBIG): the
     * thread's errno right after the call is that write's. */
    if (sys == 0 && (rc & 0xff) == SQLITE_IOERR)
        sys = thread_errno;
    /* SQLite says FULL for ENOSPC only; a quota, or a file size limit (ulimit -f, systemd
     * LimitFSIZE=; SQLite sees EFBIG), is the same thing for the operator. */
    if ((rc & 0xff) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT || sys == EFBIG))
        rc = SQLITE_FULL;
    switch (rc & 0xff) {
    case SQLITE_FULL:
        if (sys == EFBIG || sys == EDQUOT)
            snprintf(error, errlen, "disk full writing %s: %s (%s)", file,
                     sys == EFBIG ? "file size limit reached" : "disk quota exceeded",
                     strerror(sys));
        else
            snprintf(error, errlen, "disk full writing %s: %s", file, msg);
        break;
    case SQLITE_IOERR:
        snprintf(error, errlen, "I/O error on %s: %s (%s)", file, msg,
                 sys != 0 ? strerror(sys) : "no system error");
        break;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        snprintf(error, errlen, "%s: %s", file, msg);
        break;
    default:
        snprintf(error, errlen, "%s", msg);
        break;
    }
}

static void set_error(struct sq_store *st)
{
    describe_error(st, sqlite3_extended_errcode(st->db), sqlite3_errmsg(st->db));
}

/* Pages this connection has written to the database or its WAL so far. */
static int pages_written(struct sq_store *st)
{
    int cur = 0, high = 0;
    sqlite3_db_status(st->db, SQLITE_DBSTATUS_CACHE_WRITE, &cur, &high, 0);
    return cur;
}

/* Failures of the storage rather than of the statement or its data (constraints, types). */
static bool storage_error(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
        return true;
    default:
        return false;
    }
}

static int map_rc(struct sq_store *st, int rc)
{
    if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    set_error(st);
    if (st->write_tx && storage_error(rc))
        store_note_write_failed(st->owner);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return -EEXIST;
    return -EIO;
}

static int exec(struct sq_store *st, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        describe_error(st, rc, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -EIO;
    }
    return 0;
}

static int stmt_prepare(struct sq_store *st, const char *sql, sqlite3_stmt **out);
static void stmt_release(struct sq_store *st, sqlite3_stmt *stmt);

/* Like exec, for the statements run on every request (BEGIN, COMMIT, ROLLBACK): through the
 * statement cache rather than compiled each time. */
static int exec_cached(struct sq_store *st, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    int rc = stmt_prepare(st, sql, &stmt);
    if (rc != SQLITE_OK) {
        set_error(st);
        return -EIO;
    }
    rc = sqlite3_step(stmt);
    /* The message (and the system's errno) before the reset in stmt_release. */
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        set_error(st);
    stmt_release(st, stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

static int sq_schema_version(struct store *owner, int *out)
{
    struct sq_store *st = owner->sq;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(st->db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                                -1, &stmt, NULL);
    if (rc == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
        *out = sqlite3_column_int(stmt, 0);
        sqlite3_finalize(stmt);
        return 0;
    }
    set_error(st);
    sqlite3_finalize(stmt);
    return -EIO;
}

static int sq_script(struct store *owner, const char *sql)
{
    return exec(owner->sq, sql);
}

static void sq_free(struct store *owner)
{
    struct sq_store *st = owner->sq;
    if (st == NULL)
        return;
    for (int i = 0; i < STMT_CACHE_SIZE; i++) {
        sqlite3_finalize(st->cache[i].stmt);
        free(st->cache[i].sql);
    }
    if (st->db != NULL)
        sqlite3_close(st->db);
    free(st);
    owner->sq = NULL;
}

static int sq_defer_checkpoints(struct store *owner)
{
    return exec(owner->sq, "PRAGMA wal_autocheckpoint=0");
}

/* Nothing written for WAL_IDLE_MS after the WAL grew: a WAL file over STORE_WAL_KEEP_BYTES (a
 * burst's, which the writer started over without shrinking it: truncating it there cost the
 * request tens of milliseconds) is truncated now, by a TRUNCATE checkpoint that does not
 * wait: a writer or reader at work makes it busy, and the next pass tries again. Not at every
 * pause: a WAL grown again from nothing in the next burst slowed that burst's writes. */
#define WAL_IDLE_MS 30000
static void truncate_idle_wal(struct sq_store *st)
{
    const char *db = sqlite3_db_filename(st->db, "main");
    char wal[PATH_MAX];
    struct stat sb;
    if (db == NULL || snprintf(wal, sizeof wal, "%s-wal", db) >= (int)sizeof wal ||
        stat(wal, &sb) != 0 || sb.st_size <= STORE_WAL_KEEP_BYTES) {
        st->wal_grew = false;
        return;
    }
    sqlite3_busy_timeout(st->db, 0);
    int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK) {
        st->wal_grew = false;
        st->wal_frames = 0;
    }
}

static int sq_checkpoint(struct store *owner, struct store_wal *wal)
{
    struct sq_store *st = owner->sq;
    int frames = -1, copied = -1;
    int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
    /* Busy: a writer was starting; what is left is copied on the next call. */
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        rc = SQLITE_OK;
    if (rc != SQLITE_OK)
        set_error(st);
    wal->frames = frames > 0 ? frames : 0;
    wal->left = frames > copied && copied >= 0 ? frames - copied : 0;
    /* The WAL keeps its frames until a writer starts it over, so an unchanged length means
     * nothing was written since the last call. */
    bool changed = frames != st->wal_frames;
    st->wal_frames = frames;
    int64_t now = timeutil_mono_ms();
    if (rc == SQLITE_OK && changed) {
        st->wal_grew = true;
        st->wal_changed_at = now;
    } else if (rc == SQLITE_OK && st->wal_grew && now - st->wal_changed_at >= WAL_IDLE_MS) {
        truncate_idle_wal(st);
    }
    return rc != SQLITE_OK ? -EIO : changed ? 1 : 0;
}

static void sq_finish_checkpoint(struct store *owner)
{
    atomic_store(&owner->sq->finish_checkpoint, true);
}

/* After a commit on the writer's connection, when asked (sq_finish_checkpoint): no other
 * write can start meanwhile (the store's lock is held, and this is the only connection that
 * writes), so the checkpoint copies the WAL whole. Its failure fails nothing: the commit is
 * done, and the sweeper's next checkpoint meets (and logs) the same failure. */
static void finish_checkpoint(struct sq_store *st)
{
    if (atomic_exchange(&st->finish_checkpoint, false))
        sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

static int sq_begin(struct store *owner, bool write)
{
    struct sq_store *st = owner->sq;
    /* IMMEDIATE takes the write lock up front, so two registrations can never both read
     * "no such controller" and both insert. */
    st->write_tx = false;
    /* A transaction left open by a ROLLBACK that failed would make every BEGIN fail: the lock
     * is ours, so nobody else's work is in it. */
    if (!sqlite3_get_autocommit(st->db))
        exec_cached(st, "ROLLBACK");
    int rc = exec_cached(st, write ? "BEGIN IMMEDIATE" : "BEGIN");
    if (rc < 0)
        return rc;
    st->write_tx = write;
    st->writes_begin = pages_written(st);
    return 0;
}

/* Ends what is left of the transaction. After a failed COMMIT SQLite may already have
 * rolled back by itself (disk full, I/O error): a second ROLLBACK would then only replace
 * the real error with "cannot rollback - no transaction is active". */
static void sq_end(struct store *owner)
{
    struct sq_store *st = owner->sq;
    if (!sqlite3_get_autocommit(st->db)) {
        char saved[sizeof owner->error];
        size_t n = strnlen(owner->error, sizeof owner->error - 1);
        memcpy(saved, owner->error, n);
        saved[n] = '\0';
        exec_cached(st, "ROLLBACK");
        memcpy(owner->error, saved, n + 1);
    }
    st->write_tx = false;
}

static int sq_commit(struct store *owner, bool *wrote)
{
    struct sq_store *st = owner->sq;
    int rc = exec_cached(st, "COMMIT");
    if (rc < 0) {
        if (st->write_tx)
            store_note_write_failed(owner);
        return rc;
    }
    /* Only a commit that put pages on disk shows that writes work again: SQLite writes no
     * page for a transaction that only read, or whose UPDATEs stored what was there. */
    *wrote = st->write_tx && pages_written(st) != st->writes_begin;
    finish_checkpoint(st);
    return 0;
}

static int sq_probe_write(struct store *owner)
{
    struct sq_store *st = owner->sq;
    /* Flips the header's user_version (unused otherwise) between 0 and 1: one page written
     * like any commit, and no row changed. */
    sqlite3_stmt *stmt = NULL;
    if (stmt_prepare(st, "PRAGMA user_version", &stmt) != SQLITE_OK) {
        set_error(st);
        return -EIO;
    }
    int v = 0;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int(stmt, 0);
    stmt_release(st, stmt);
    return exec_cached(st, v == 0 ? "PRAGMA user_version = 1" : "PRAGMA user_version = 0");
}

static int sq_ping(struct store *owner)
{
    return exec_cached(owner->sq, "SELECT 1");
}

/* A ready statement for sql, from the cache or freshly prepared (and then cached). Returns
 * an SQLite result code. */
static int stmt_prepare(struct sq_store *st, const char *sql, sqlite3_stmt **out)
{
    struct cached_stmt *victim = &st->cache[0];
    /* The same literal again: one comparison instead of one per entry. The text is still
     * compared, as a buffer reused for other SQL has the same address. */
    for (int i = 0; i < STMT_CACHE_SIZE; i++) {
        struct cached_stmt *c = &st->cache[i];
        if (c->key == sql && c->sql != NULL && strcmp(c->sql, sql) == 0) {
            c->used = ++st->clock;
            *out = c->stmt;
            st->last = c;
            return SQLITE_OK;
        }
    }
    for (int i = 0; i < STMT_CACHE_SIZE; i++) {
        struct cached_stmt *c = &st->cache[i];
        if (c->sql != NULL && strcmp(c->sql, sql) == 0) {
            c->used = ++st->clock;
            *out = c->stmt;
            st->last = c;
            return SQLITE_OK;
        }
        if (c->sql == NULL || (victim->sql != NULL && c->used < victim->used))
            victim = c;
    }
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    char *copy = strdup(sql);
    st->last = NULL;
    if (copy != NULL) {
        sqlite3_finalize(victim->stmt);
        free(victim->sql);
        victim->sql = copy;
        victim->key = sql;
        victim->stmt = stmt;
        victim->used = ++st->clock;
        victim->typed_for = NULL;
        st->last = victim;
    }
    *out = stmt;
    return SQLITE_OK;
}

/* Done with a statement from stmt_prepare: cached ones are reset for the next use, others
 * (the cache could not hold them) finalised. */
static void stmt_release(struct sq_store *st, sqlite3_stmt *stmt)
{
    for (int i = 0; i < STMT_CACHE_SIZE; i++) {
        if (st->cache[i].stmt == stmt) {
            sqlite3_reset(stmt);
            sqlite3_clear_bindings(stmt);
            return;
        }
    }
    sqlite3_finalize(stmt);
}

/* ---- statements ---- */

static json_t *column_value(sqlite3_stmt *stmt, int i, char type)
{
    int ctype = sqlite3_column_type(stmt, i);
    if (ctype == SQLITE_NULL)
        return json_null();
    switch (type) {
    case 'I':
        return json_integer(sqlite3_column_int64(stmt, i));
    case 'R':
        return json_real(sqlite3_column_double(stmt, i));
    case 'B':
        return json_boolean(sqlite3_column_int64(stmt, i) != 0);
    case 'J': {
        const char *text = (const char *)sqlite3_column_text(stmt, i);
        if (text == NULL || strcmp(text, "{}") == 0) /* the columns' default, most rows' value */
            return json_object();
        json_t *v = jsonr_loadb(text, (size_t)sqlite3_column_bytes(stmt, i), 0, NULL);
        return v ? v : json_object();
    }
    default:
        return json_string((const char *)sqlite3_column_text(stmt, i));
    }
}

/* types: the columns' types, as column_types found them. */
static json_t *row_to_json(sqlite3_stmt *stmt, const char *types)
{
    json_t *row = json_object();
    int n = sqlite3_column_count(stmt);
    for (int i = 0; i < n; i++) /* column names are the schema's own, plain ASCII */
        json_object_set_new_nocheck(
            row, sqlite3_column_name(stmt, i),
            column_value(stmt, i, i < STORE_ROW_COLUMNS_MAX ? types[i] : 'T'));
    return row;
}

/* The types of stmt's result columns as columns of t ('T' for one t does not have): kept
 * with the cached statement (entry, NULL when not cached) or put in local. */
static const char *column_types(sqlite3_stmt *stmt, struct cached_stmt *entry,
                                const struct store_table *t, char local[STORE_ROW_COLUMNS_MAX])
{
    int n = sqlite3_column_count(stmt);
    if (n > STORE_ROW_COLUMNS_MAX)
        n = STORE_ROW_COLUMNS_MAX; /* no table is that wide: row_to_json reads the rest as text */
    if (entry != NULL && entry->typed_for == t && entry->typed_n == n)
        return entry->types;
    char *types = entry != NULL ? entry->types : local;
    for (int i = 0; i < n; i++) {
        const struct store_column *c = store_find_column(t, sqlite3_column_name(stmt, i));
        types[i] = c != NULL ? c->type : 'T';
    }
    if (entry != NULL) {
        entry->typed_for = t;
        entry->typed_n = n;
    }
    return types;
}

/* The values are the caller's until the call returns, and stmt_release clears the bindings
 * before that: SQLITE_STATIC, no copies. */
static int bind_value(sqlite3_stmt *stmt, int i, const struct store_value *v)
{
    switch (v->kind) {
    case STORE_NULL:
        return sqlite3_bind_null(stmt, i);
    case STORE_TEXT:
        return sqlite3_bind_text(stmt, i, v->text, v->len, SQLITE_STATIC);
    case STORE_INT:
    case STORE_BOOL:
        return sqlite3_bind_int64(stmt, i, v->integer);
    case STORE_REAL:
        return sqlite3_bind_double(stmt, i, v->real);
    case STORE_BLOB:
        return sqlite3_bind_blob(stmt, i, v->blob, v->len, SQLITE_STATIC);
    }
    return SQLITE_MISUSE;
}

/* A ready statement for sql with the n values v bound to its parameters. */
static int prepare_bound(struct sq_store *st, const char *sql, const struct store_value *v, int n,
                         sqlite3_stmt **out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = stmt_prepare(st, sql, &stmt);
    if (rc != SQLITE_OK)
        return map_rc(st, rc);
    for (int i = 0; i < n; i++) {
        rc = bind_value(stmt, i + 1, &v[i]);
        if (rc != SQLITE_OK) {
            int result = map_rc(st, rc);
            stmt_release(st, stmt);
            return result;
        }
    }
    *out = stmt;
    return 0;
}

/* Steps a statement without rows, and is done with it. */
static int run(struct sq_store *st, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    int result = map_rc(st, rc);
    stmt_release(st, stmt);
    return result;
}

static int sq_select(struct store *owner, const struct store_table *t, const char *sql,
                     const struct store_value *v, int n, store_row_fn fn, void *ctx)
{
    struct sq_store *st = owner->sq;
    sqlite3_stmt *stmt = NULL;
    int rc = prepare_bound(st, sql, v, n, &stmt);
    if (rc < 0)
        return rc;
    struct cached_stmt *entry = st->last;
    int stopped = 0;
    char local[STORE_ROW_COLUMNS_MAX] = {0};
    const char *types = NULL;
    while (stopped == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        /* After the first step, which may have prepared the statement again (the schema
         * changed: a column added, so the count differs). */
        if (types == NULL)
            types = column_types(stmt, entry, t, local);
        json_t *row = row_to_json(stmt, types);
        stopped = row != NULL ? fn(ctx, row) : -ENOMEM;
        json_decref(row);
    }
    int result = stopped < 0 ? stopped : map_rc(st, rc);
    stmt_release(st, stmt);
    return result;
}

static int sq_select_cells(struct store *owner, const char *sql, const struct store_value *v, int n,
                           const char *types, store_cells_fn fn, void *ctx)
{
    struct sq_store *st = owner->sq;
    sqlite3_stmt *stmt = NULL;
    int rc = prepare_bound(st, sql, v, n, &stmt);
    if (rc < 0)
        return rc;
    int ncol = sqlite3_column_count(stmt);
    if (ncol > STORE_ROW_COLUMNS_MAX || (size_t)ncol != strlen(types)) {
        stmt_release(st, stmt);
        snprintf(owner->error, sizeof owner->error, "%d columns read as %zu", ncol, strlen(types));
        return -EIO;
    }
    struct store_cell cells[STORE_ROW_COLUMNS_MAX];
    int stopped = 0;
    while (stopped == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        for (int i = 0; i < ncol; i++) {
            struct store_cell *c = &cells[i];
            *c = (struct store_cell){0};
            if (types[i] == 'I' || types[i] == 'B') {
                c->null = sqlite3_column_type(stmt, i) == SQLITE_NULL;
                c->integer = c->null ? 0 : sqlite3_column_int64(stmt, i);
                continue;
            }
            /* Text is NULL for a NULL, or when SQLite could not allocate it. */
            c->text = (const char *)sqlite3_column_text(stmt, i);
            c->len = c->text != NULL ? (size_t)sqlite3_column_bytes(stmt, i) : 0;
            c->null = c->text == NULL;
            if (c->null && sqlite3_column_type(stmt, i) != SQLITE_NULL) {
                stopped = -ENOMEM;
                break;
            }
        }
        if (stopped == 0)
            stopped = fn(ctx, cells, ncol);
    }
    int result = stopped != 0 ? stopped : map_rc(st, rc);
    stmt_release(st, stmt);
    return result;
}

/* A failed statement leaves a SQLite transaction going: may_conflict needs nothing. */
static int sq_exec(struct store *owner, const char *sql, const struct store_value *v, int n,
                   bool may_conflict, int64_t *changes)
{
    (void)may_conflict;
    struct sq_store *st = owner->sq;
    sqlite3_stmt *stmt = NULL;
    int rc = prepare_bound(st, sql, v, n, &stmt);
    if (rc < 0)
        return rc;
    rc = run(st, stmt);
    if (rc == 0 && changes != NULL)
        *changes = sqlite3_changes(st->db);
    return rc;
}

static int sq_select_blob(struct store *owner, const char *sql, const struct store_value *v, int n,
                          char *text, size_t textlen, void **data, size_t *len)
{
    struct sq_store *st = owner->sq;
    sqlite3_stmt *stmt = NULL;
    int rc = prepare_bound(st, sql, v, n, &stmt);
    if (rc < 0)
        return rc;
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        int result = rc == SQLITE_DONE ? -ENOENT : map_rc(st, rc);
        stmt_release(st, stmt);
        return result;
    }
    const char *type = (const char *)sqlite3_column_text(stmt, 0);
    const void *blob = sqlite3_column_blob(stmt, 1);
    size_t bytes = (size_t)sqlite3_column_bytes(stmt, 1);
    void *copy = bytes > 0 ? malloc(bytes) : NULL;
    if (copy == NULL || type == NULL) {
        free(copy);
        stmt_release(st, stmt);
        return bytes > 0 && type != NULL ? -ENOMEM : -EIO;
    }
    memcpy(copy, blob, bytes);
    snprintf(text, textlen, "%s", type);
    stmt_release(st, stmt);
    *data = copy;
    *len = bytes;
    return 0;
}

static int sq_presence_scan(struct store *owner, store_presence_fn fn, void *ctx)
{
    struct sq_store *st = owner->sq;
    sqlite3_stmt *stmt = NULL;
    int rc = stmt_prepare(st, "SELECT id, last_seen, session_epoch, offline_epoch FROM controllers",
                          &stmt);
    if (rc != SQLITE_OK)
        return map_rc(st, rc);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        bool seen = sqlite3_column_type(stmt, 1) != SQLITE_NULL;
        bool went_offline = sqlite3_column_type(stmt, 3) != SQLITE_NULL;
        struct store_presence_row row = {
            .id = (const char *)sqlite3_column_text(stmt, 0),
            .last_seen = seen ? sqlite3_column_int64(stmt, 1) : -1,
            .session_epoch = sqlite3_column_int64(stmt, 2),
            .offline_epoch = sqlite3_column_int64(stmt, 3),
            .has_offline_epoch = went_offline,
        };
        if (row.id != NULL)
            fn(ctx, &row);
    }
    int result = map_rc(st, rc);
    stmt_release(st, stmt);
    return result;
}

/* ---- opening ---- */

static const struct store_backend sqlite_backend = {
    .name = "sqlite",
    .migrations_table = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version INTEGER PRIMARY KEY NOT NULL,"
                        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')))",
    .migration_begin = "BEGIN IMMEDIATE",
    .migrations = migrations,
    .collate = "",
    .json_strings = "SELECT value FROM json_each(?)",
    .insert_suffix = "",
    .free = sq_free,
    .script = sq_script,
    .schema_version = sq_schema_version,
    .defer_checkpoints = sq_defer_checkpoints,
    .checkpoint = sq_checkpoint,
    .finish_checkpoint = sq_finish_checkpoint,
    .begin = sq_begin,
    .commit = sq_commit,
    .end = sq_end,
    .probe_write = sq_probe_write,
    .ping = sq_ping,
    .ping_alone = sq_ping,
    .select = sq_select,
    .select_cells = sq_select_cells,
    .exec = sq_exec,
    .select_blob = sq_select_blob,
    .presence_scan = sq_presence_scan,
};

int sq_backup_into(const char *path, const char *dest, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, SQLITE_VFS);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
        rc = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &s, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, dest, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_DONE)
        rc = SQLITE_OK;
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "cannot copy database %s to %s: %s", path, dest,
                 db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -EIO;
}

int sq_open(struct store *owner, const char *path, int max_version, bool maintenance, char *err,
            size_t errlen)
{
    struct sq_store *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    st->owner = owner;
    owner->sq = st;
    owner->be = &sqlite_backend;
    /* No memory statistics: they cost a global mutex on every allocation. Refused (and
     * harmless) once SQLite is initialised, e.g. by a second store in one process. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* The maintenance connection: the database exists (store_open made it) and is in WAL
     * mode, which is persistent. NOMUTEX: the store's own lock serialises its use. */
    int flags = SQLITE_OPEN_READWRITE | (maintenance ? 0 : SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, SQLITE_VFS);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        return -EIO;
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    if (maintenance)
        return 0;
    /* WAL + synchronous=NORMAL: a committed transaction survives a crash of this process
     * (kill -9); only an OS crash or power cut can lose the last commits. */
    if (exec(st, "PRAGMA journal_mode=WAL") < 0 || exec(st, "PRAGMA synchronous=NORMAL") < 0 ||
        exec(st, "PRAGMA foreign_keys=ON") < 0) {
        if (sqlite3_errcode(st->db) == SQLITE_BUSY) {
            snprintf(err, errlen,
                     "database %s is in use by another process (another roundhouse-central, "
                     "or a sqlite3 shell): one central per database file",
                     path);
            return -EBUSY;
        }
        snprintf(err, errlen, "cannot configure database %s: %s", path, owner->error);
        return -EIO;
    }
    return store_migrate(owner, max_version, err, errlen);
}
