/* The PostgreSQL backend of store.h (--db postgresql://...), on libpq.
 *
 * Same tables, columns, row shapes, error codes and schema versions as store_sqlite.c; the
 * migrations are written again in PostgreSQL's dialect (BIGINT, BOOLEAN, BYTEA, BIGSERIAL)
 * under the same numbers. Every table whose lists are in insertion order has a BIGSERIAL column
 * named rowid, so that the ORDER BY clauses (store_tables.c) read the same on both backends;
 * rows never show it (row_to_json leaves it out).
 *
 * The operations of struct store_backend (store_backend.h): the row operations and their SQL
 * are store_rows.c's, for both backends.
 *
 * Transactions: one connection per store, guarded by the store's mutex as on SQLite, so that
 * one central keeps SQLite's one-writer-at-a-time behaviour. Write transactions are SERIALIZABLE:
 * when several centrals share the database (not yet supported, but not designed against), a
 * registration that read "no controller with this name" and inserted one conflicts with
 * another that did the same, and one of them fails with a serialization failure (-EAGAIN),
 * which the caller retries (http_api.c's registration does, a bounded number of times).
 * Key conflicts are detected by the database: an INSERT ends in ON CONFLICT DO NOTHING
 * (insert_suffix), so that a taken key inserts nothing and store_rows.c reports -EEXIST without
 * the transaction aborting (SQLite's callers go on after -EEXIST), and a statement that may hit
 * a unique column other than the key (exec's may_conflict) runs inside a savepoint for the
 * same reason. Any other failed statement aborts the transaction in PostgreSQL: the store
 * remembers that, answers every further call of the transaction with the same error without
 * sending it, and store_commit rolls back and returns it.
 *
 * Values travel as text parameters (typed by the server from the column they go to), except
 * photos, which go and come back as binary. Statements come with their parameters marked '?'
 * and are numbered ($1, $2, ...) when prepared; they are prepared once per connection and kept
 * (an LRU of 48, like SQLite's), so that the server does not parse and plan each one on every
 * request. */
#include "store_backend.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "jsonr.h"

/* Each is applied in its own transaction together with its row in schema_migrations, under
 * an advisory lock, so that two centrals starting at once do not both apply it. */
static const char *const migrations[] = {
    /* 1: initial registry */
    "CREATE TABLE controllers ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " name TEXT NOT NULL,"
    " description TEXT,"
    " address TEXT,"
    " enabled BOOLEAN NOT NULL DEFAULT true,"
    " first_seen BIGINT,"
    " last_seen BIGINT,"
    " config_hash TEXT,"
    " version TEXT,"
    " platform TEXT,"
    " memory_mb BIGINT,"
    " cpu_count BIGINT,"
    " config_version BIGINT NOT NULL DEFAULT 1,"
    " applied_config_version BIGINT,"
    " session_epoch BIGINT NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " rowid BIGSERIAL NOT NULL);"
    "CREATE TABLE trains ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " name TEXT NOT NULL,"
    " description TEXT,"
    " model TEXT,"
    " plugin_name TEXT NOT NULL,"
    " plugin_config TEXT NOT NULL DEFAULT '{}',"
    " invert_directions BOOLEAN NOT NULL DEFAULT false,"
    " desired_controller_id TEXT REFERENCES controllers(id) ON DELETE SET NULL,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " rowid BIGSERIAL NOT NULL);"
    "CREATE TABLE train_status ("
    " train_id TEXT PRIMARY KEY NOT NULL,"
    " speed BIGINT NOT NULL DEFAULT 0,"
    " direction TEXT,"
    " target_speed BIGINT,"
    " state TEXT,"
    " voltage DOUBLE PRECISION,"
    " current DOUBLE PRECISION,"
    " position TEXT,"
    " controller_id TEXT,"
    " reported_at TEXT,"
    " updated_at BIGINT NOT NULL);"
    "CREATE TABLE plugins ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " description TEXT,"
    " config TEXT NOT NULL DEFAULT '{}');",

    /* 2: desired vs actual placement, hardware identity and free-form metadata */
    "ALTER TABLE controllers ADD COLUMN hardware_id TEXT;"
    "ALTER TABLE controllers ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';"
    "ALTER TABLE trains ADD COLUMN actual_controller_id TEXT;"
    "ALTER TABLE trains ADD COLUMN reassignment_status TEXT;"
    "ALTER TABLE trains ADD COLUMN last_telemetry_at BIGINT;"
    "UPDATE trains SET reassignment_status = 'pending' WHERE desired_controller_id IS NOT NULL;"
    "CREATE INDEX controllers_name ON controllers(name);"
    "CREATE INDEX trains_desired ON trains(desired_controller_id);"
    "CREATE INDEX trains_actual ON trains(actual_controller_id);",

    /* 3: presence from the edge's MQTT birth and will */
    "ALTER TABLE controllers ADD COLUMN offline_epoch BIGINT;",

    /* 4: the numeric address of a train, 1-9999, unique; existing trains are numbered in
     * creation order */
    "ALTER TABLE trains ADD COLUMN address INTEGER;"
    "UPDATE trains SET address = (SELECT COUNT(*) FROM trains t2 WHERE"
    " t2.created_at < trains.created_at OR (t2.created_at = trains.created_at AND"
    " t2.rowid <= trains.rowid));"
    "CREATE UNIQUE INDEX trains_address ON trains(address);",

    /* 5: the central's own small state documents */
    "CREATE TABLE settings (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL DEFAULT '{}');",

    /* 6: a train's driving settings */
    "ALTER TABLE trains ADD COLUMN driving TEXT NOT NULL DEFAULT '{}';",

    /* 7: an optional photo per train */
    "CREATE TABLE train_photos (train_id TEXT PRIMARY KEY NOT NULL, media_type TEXT NOT NULL,"
    " data BYTEA NOT NULL);"
    "ALTER TABLE trains ADD COLUMN photo_at BIGINT;",

    /* 8: operator accounts */
    "CREATE TABLE users ("
    " username TEXT PRIMARY KEY NOT NULL,"
    " role TEXT NOT NULL,"
    " password_hash TEXT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL);"
    "CREATE TABLE credentials ("
    " secret_hash TEXT PRIMARY KEY NOT NULL,"
    " id TEXT NOT NULL UNIQUE,"
    " kind TEXT NOT NULL,"
    " username TEXT NOT NULL,"
    " name TEXT,"
    " created_at BIGINT NOT NULL,"
    " expires_at BIGINT,"
    " rowid BIGSERIAL NOT NULL);"
    "CREATE INDEX credentials_username ON credentials(username);",

    /* 9: the hash of the controller's own secret; null for controllers registered without one */
    "ALTER TABLE controllers ADD COLUMN secret_hash TEXT;",

    /* 10: the keys of the paged lists, in byte order as SQLite's (the queries say the same
     * COLLATE, so that these indexes serve them) */
    "CREATE INDEX controllers_name_id"
    " ON controllers (name COLLATE \"C\", id COLLATE \"C\");"
    "CREATE INDEX trains_name_id ON trains (name COLLATE \"C\", id COLLATE \"C\");",

    /* 11: the unpaged controller list's keyset */
    "CREATE INDEX controllers_created ON controllers (created_at, rowid);",

    /* 12: a controller's trains (assigned, and running) in their list order */
    "DROP INDEX trains_desired;"
    "CREATE INDEX trains_desired ON trains (desired_controller_id, created_at, rowid);"
    "DROP INDEX trains_actual;"
    "CREATE INDEX trains_actual ON trains (actual_controller_id, created_at, rowid);",
};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration per schema version");

/* pg_advisory_lock key of the migrations ("RHMIGRAT" would not fit; any constant does). */
#define MIGRATION_LOCK 720180001
#define STMT_CACHE_SIZE 48

/* A statement prepared on this connection under a name of its own. */
struct pg_stmt {
    char *sql;
    char name[16];
    uint64_t used; /* for eviction of the least recently used */
};

struct pg_store {
    struct store *owner; /* its error message and write-failure state */
    PGconn *conn;
    bool in_tx;
    bool write_tx;
    bool tx_wrote;    /* a statement of the open write transaction changed a row */
    int tx_failed;    /* the error that aborted the open transaction (0: none) */
    bool serial_lock; /* STORE_SERIAL_LOCK is held, until the transaction ends */
    struct pg_stmt cache[STMT_CACHE_SIZE];
    uint64_t clock;
    unsigned names;
};

/* Parameters of one statement, as text (or binary where lengths/formats say so). */
struct params {
    int n;
    const char *values[STORE_MAX_PARAMS];
    int lengths[STORE_MAX_PARAMS];
    int formats[STORE_MAX_PARAMS];
    char *owned[STORE_MAX_PARAMS]; /* freed by params_clear */
};

static void params_clear(struct params *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->owned[i]);
    p->n = 0;
}

static int params_add(struct params *p, const char *value)
{
    if (p->n == STORE_MAX_PARAMS)
        return -E2BIG;
    p->values[p->n] = value;
    p->lengths[p->n] = 0;
    p->formats[p->n] = 0;
    p->owned[p->n] = NULL;
    p->n++;
    return 0;
}

static int params_add_owned(struct params *p, char *value)
{
    if (value == NULL)
        return -ENOMEM;
    int rc = params_add(p, value);
    if (rc < 0)
        free(value);
    else
        p->owned[p->n - 1] = value;
    return rc;
}

static int params_add_int(struct params *p, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return params_add_owned(p, strdup(buf));
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void set_message(struct pg_store *st, const char *msg)
{
    char *error = st->owner->error;
    snprintf(error, sizeof st->owner->error, "%s", msg != NULL && *msg ? msg : "unknown error");
    /* libpq's messages run over lines ("\n\t") and end in a newline; a log line should not. */
    for (char *c = error; *c != '\0'; c++)
        if (*c == '\n' || *c == '\t')
            *c = ' ';
    size_t n = strlen(error);
    while (n > 0 && (error[n - 1] == '\n' || error[n - 1] == ' '))
        error[--n] = '\0';
}

/* Failures of the server or the link to it, rather than of the statement or its data:
 * connection (08), insufficient resources such as a full disk (53), operator intervention
 * such as a shutdown (57), system errors (58), internal errors (XX), read-only (25006). */
static bool storage_error(const char *state)
{
    if (state == NULL)
        return true; /* no answer from the server at all */
    return strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
           strncmp(state, "57", 2) == 0 || strncmp(state, "58", 2) == 0 ||
           strncmp(state, "XX", 2) == 0 || strcmp(state, "25006") == 0;
}

/* 0 for a result that worked; else the store's error code, with the store's error set, and the open
 * transaction marked aborted. */
static int check(struct pg_store *st, const PGresult *res)
{
    ExecStatusType s = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return 0;
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    set_message(st, res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(st->conn));
    if (st->write_tx && storage_error(state))
        store_note_write_failed(st->owner);
    int rc = -EIO;
    if (state != NULL && strncmp(state, "23", 2) == 0)
        rc = -EEXIST;
    else if (state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
        rc = -EAGAIN;
    if (st->in_tx && st->tx_failed == 0)
        st->tx_failed = rc;
    return rc;
}

/* Forgets the prepared statements (a new session has none). */
static void cache_clear(struct pg_store *st)
{
    for (int i = 0; i < STMT_CACHE_SIZE; i++) {
        free(st->cache[i].sql);
        st->cache[i].sql = NULL;
    }
}

/* sql with its parameters written as PostgreSQL does: every '?' outside quotes becomes $1, $2,
 * ... in order (the store's statements mark them '?' on both backends). NULL when out of
 * memory. */
static char *numbered(const char *sql)
{
    size_t marks = 0;
    for (const char *c = sql; *c != '\0'; c++)
        marks += *c == '?';
    size_t size = strlen(sql) + marks * 11 + 1; /* "$" and up to 10 digits for each */
    char *out = malloc(size);
    if (out == NULL)
        return NULL;
    size_t len = 0;
    unsigned n = 0;
    char quote = '\0';
    for (const char *c = sql; *c != '\0'; c++) {
        if (quote == '\0' && *c == '?') {
            len += (size_t)snprintf(out + len, size - len, "$%u", ++n);
            continue;
        }
        if (quote == '\0' && (*c == '\'' || *c == '"'))
            quote = *c;
        else if (*c == quote)
            quote = '\0';
        out[len++] = *c;
    }
    out[len] = '\0';
    return out;
}

/* The name of sql prepared on this connection: from the cache (whose key is sql as the store
 * wrote it), or prepared now (the least recently used one deallocated to make room). NULL with
 * *rc set when PREPARE failed. */
static const char *prepared(struct pg_store *st, const char *sql, int nparams, int *rc)
{
    struct pg_stmt *victim = &st->cache[0];
    for (int i = 0; i < STMT_CACHE_SIZE; i++) {
        struct pg_stmt *c = &st->cache[i];
        if (c->sql != NULL && strcmp(c->sql, sql) == 0) {
            c->used = ++st->clock;
            return c->name;
        }
        if (c->sql == NULL || (victim->sql != NULL && c->used < victim->used))
            victim = c;
    }
    if (victim->sql != NULL) {
        char dealloc[40];
        snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", victim->name);
        PQclear(PQexec(st->conn, dealloc));
        free(victim->sql);
        victim->sql = NULL;
    }
    char *copy = strdup(sql);
    if (copy == NULL) {
        *rc = -ENOMEM;
        return NULL;
    }
    char *text = numbered(sql);
    if (text == NULL) {
        free(copy);
        *rc = -ENOMEM;
        return NULL;
    }
    snprintf(victim->name, sizeof victim->name, "rh%u", ++st->names);
    PGresult *res = PQprepare(st->conn, victim->name, text, nparams, NULL);
    free(text);
    *rc = check(st, res);
    PQclear(res);
    if (*rc < 0) {
        free(copy);
        return NULL;
    }
    victim->sql = copy;
    victim->used = ++st->clock;
    return victim->name;
}

/* jansson's check (json_string refuses what is not UTF-8), rather than one more validator. */
static bool valid_utf8(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

/* Runs sql with p's parameters; *out (when given) receives the result to PQclear. */
static int exec_params(struct pg_store *st, const char *sql, const struct params *p,
                       int result_format, PGresult **out)
{
    if (st->in_tx && st->tx_failed != 0)
        return st->tx_failed; /* PostgreSQL would refuse it: the transaction is aborted */
    /* Text that is not UTF-8 (a key from a URL path: %ff) cannot equal anything stored (every
     * stored text came through jansson, which holds UTF-8 only). SQLite compares it and finds
     * nothing; PostgreSQL would refuse the statement. No row, as on SQLite. */
    for (int i = 0; p != NULL && i < p->n; i++) {
        if (p->formats[i] == 0 && p->values[i] != NULL && !valid_utf8(p->values[i])) {
            PGresult *empty = PQmakeEmptyPGresult(st->conn, PGRES_TUPLES_OK);
            if (empty == NULL)
                return -ENOMEM;
            if (out != NULL)
                *out = empty;
            else
                PQclear(empty);
            return 0;
        }
    }
    int rc = 0;
    const char *name = prepared(st, sql, p != NULL ? p->n : 0, &rc);
    if (name == NULL)
        return rc;
    PGresult *res =
        PQexecPrepared(st->conn, name, p != NULL ? p->n : 0, p != NULL ? p->values : NULL,
                       p != NULL ? p->lengths : NULL, p != NULL ? p->formats : NULL, result_format);
    rc = check(st, res);
    if (rc == 0 && st->write_tx) {
        const char *n = PQcmdTuples(res);
        if (n != NULL && *n != '\0' && strcmp(n, "0") != 0 &&
            PQresultStatus(res) == PGRES_COMMAND_OK)
            st->tx_wrote = true;
    }
    if (rc == 0 && out != NULL)
        *out = res;
    else
        PQclear(res);
    return rc;
}

/* Without parameters, several statements allowed (migrations). */
static int exec_simple(struct pg_store *st, const char *sql)
{
    PGresult *res = PQexec(st->conn, sql);
    int rc = check(st, res);
    PQclear(res);
    return rc;
}

/* Rows changed by the command in res. */
static long affected(PGresult *res)
{
    const char *n = PQcmdTuples(res);
    return n != NULL && *n != '\0' ? strtol(n, NULL, 10) : 0;
}

/* Runs a command; -ENOENT when it changed no row. */
static int exec_change(struct pg_store *st, const char *sql, const struct params *p)
{
    PGresult *res = NULL;
    int rc = exec_params(st, sql, p, 0, &res);
    if (rc == 0 && affected(res) == 0)
        rc = -ENOENT;
    PQclear(res);
    return rc;
}

/* ---- connection, migrations ---- */

static int pg_schema_version(struct store *owner, int *out)
{
    PGresult *res = NULL;
    int rc = exec_params(owner->pg, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", NULL,
                         0, &res);
    if (rc == 0) {
        *out = PQntuples(res) == 1 ? (int)strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
        PQclear(res);
    }
    return rc;
}

static int pg_script(struct store *owner, const char *sql)
{
    return exec_simple(owner->pg, sql);
}

/* store_migrate under an advisory lock, so that two centrals starting at once do not both
 * apply a migration. */
static int migrate(struct pg_store *st, int max_version, char *err, size_t errlen)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(%d)", MIGRATION_LOCK);
    if (exec_simple(st, sql) < 0) {
        snprintf(err, errlen, "cannot lock the schema for migrations: %s", st->owner->error);
        return -EIO;
    }
    int rc = store_migrate(st->owner, max_version, err, errlen);
    snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(%d)", MIGRATION_LOCK);
    exec_simple(st, sql);
    return rc;
}

/* What every new session gets: no notices on stderr (CREATE TABLE IF NOT EXISTS says
 * "skipping"), UTC for the one timestamp the schema writes. */
static int session_setup(struct pg_store *st)
{
    PQsetNoticeProcessor(st->conn, ignore_notice, NULL);
    if (exec_simple(st, "SET client_min_messages = warning") < 0 ||
        exec_simple(st, "SET TIME ZONE 'UTC'") < 0)
        return -EIO;
    return 0;
}

/* A new connection with the same parameters (PQreset). 0 when it is up. */
static int reconnect(struct pg_store *st)
{
    cache_clear(st);
    PQreset(st->conn);
    if (PQstatus(st->conn) != CONNECTION_OK) {
        set_message(st, PQerrorMessage(st->conn));
        return -EIO;
    }
    return session_setup(st);
}

static void pg_free(struct store *owner)
{
    struct pg_store *st = owner->pg;
    if (st == NULL)
        return;
    if (st->conn != NULL)
        PQfinish(st->conn);
    cache_clear(st);
    free(st);
    owner->pg = NULL;
}

/* ---- transactions ---- */

static int pg_begin(struct store *owner, bool write)
{
    struct pg_store *st = owner->pg;
    st->write_tx = false;
    st->in_tx = false;
    st->tx_failed = 0;
    /* A server restart or a dropped link: one new attempt per transaction. */
    if (PQstatus(st->conn) != CONNECTION_OK)
        reconnect(st);
    /* Left open by a ROLLBACK that failed: nobody else's work is in it, the lock is ours. */
    if (PQtransactionStatus(st->conn) != PQTRANS_IDLE)
        exec_simple(st, "ROLLBACK");
    const char *begin = write ? "BEGIN ISOLATION LEVEL SERIALIZABLE" : "BEGIN";
    int rc = exec_simple(st, begin);
    /* The link was found dead only now (the server restarted while we were idle): nothing of
     * the transaction has happened yet, so one new connection and one more try are safe. */
    if (rc < 0 && PQstatus(st->conn) != CONNECTION_OK && reconnect(st) == 0)
        rc = exec_simple(st, begin);
    if (rc < 0)
        return rc;
    st->in_tx = true;
    st->write_tx = write;
    st->tx_wrote = false;
    return 0;
}

#define SERIAL_LOCK_(x) #x
#define SERIAL_LOCK_TEXT(x) SERIAL_LOCK_(x)
#define SERIAL_LOCK SERIAL_LOCK_TEXT(STORE_SERIAL_LOCK)

/* The advisory lock is the session's, outside any transaction: taken before BEGIN, it is
 * granted only after the previous holder's COMMIT, so the snapshot that the transaction's
 * first statement takes sees that commit. */
static int pg_begin_serialized(struct store *owner)
{
    struct pg_store *st = owner->pg;
    if (PQstatus(st->conn) != CONNECTION_OK)
        reconnect(st);
    if (PQtransactionStatus(st->conn) != PQTRANS_IDLE)
        exec_simple(st, "ROLLBACK");
    int rc = exec_simple(st, "SELECT pg_advisory_lock(" SERIAL_LOCK ")");
    if (rc < 0)
        return rc;
    st->serial_lock = true;
    rc = pg_begin(owner, true);
    if (rc < 0) {
        exec_simple(st, "SELECT pg_advisory_unlock(" SERIAL_LOCK ")");
        st->serial_lock = false;
    }
    return rc;
}

static void pg_end(struct store *owner)
{
    struct pg_store *st = owner->pg;
    char saved[sizeof owner->error];
    snprintf(saved, sizeof saved, "%s", owner->error);
    if (PQstatus(st->conn) == CONNECTION_OK && PQtransactionStatus(st->conn) != PQTRANS_IDLE) {
        st->in_tx = false; /* the ROLLBACK must go out even after a failure */
        exec_simple(st, "ROLLBACK");
    }
    /* A lost connection took the lock with it. */
    if (st->serial_lock && PQstatus(st->conn) == CONNECTION_OK)
        exec_simple(st, "SELECT pg_advisory_unlock(" SERIAL_LOCK ")");
    snprintf(owner->error, sizeof owner->error, "%s", saved);
    st->serial_lock = false;
    st->in_tx = false;
    st->write_tx = false;
    st->tx_failed = 0;
}

static int pg_commit(struct store *owner, bool *wrote)
{
    struct pg_store *st = owner->pg;
    int rc = st->tx_failed;
    if (rc == 0) {
        PGresult *res = PQexec(st->conn, "COMMIT");
        rc = check(st, res);
        /* COMMIT of an aborted transaction "succeeds" as a ROLLBACK. */
        if (rc == 0 && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
            set_message(st, "the transaction was rolled back");
            rc = -EIO;
        }
        PQclear(res);
    }
    if (rc < 0)
        return rc;
    st->in_tx = false;
    *wrote = st->write_tx && st->tx_wrote;
    return 0;
}

static int pg_probe_write(struct store *owner)
{
    /* Rewrites one row with what it holds: a real write (a new row version, WAL) that changes
     * nothing anyone reads. */
    return exec_change(owner->pg,
                       "UPDATE schema_migrations SET applied_at = applied_at WHERE version ="
                       " (SELECT MAX(version) FROM schema_migrations)",
                       NULL);
}

static int pg_ping(struct store *owner)
{
    return exec_params(owner->pg, "SELECT 1", NULL, 0, NULL);
}

/* ---- statements ---- */

static json_t *column_value(const PGresult *res, int row, int col, char type)
{
    if (PQgetisnull(res, row, col))
        return json_null();
    const char *v = PQgetvalue(res, row, col);
    switch (type) {
    case 'I':
        return json_integer(strtoll(v, NULL, 10));
    case 'R':
        return json_real(strtod(v, NULL));
    case 'B':
        return json_boolean(v[0] == 't' || v[0] == '1');
    case 'J': {
        if (strcmp(v, "{}") == 0) /* the columns' default, most rows' value */
            return json_object();
        json_t *j = jsonr_loadb(v, (size_t)PQgetlength(res, row, col), 0, NULL);
        return j ? j : json_object();
    }
    default:
        return json_string(v);
    }
}

/* Row i of res as an object, like SQLite's: every column (a column not in store_tables.c as
 * text), except the rowid that only orders the lists here. */
static json_t *row_to_json(const PGresult *res, int i, const struct store_table *t)
{
    json_t *row = json_object();
    int n = PQnfields(res);
    for (int c = 0; c < n; c++) {
        const char *name = PQfname(res, c);
        if (strcmp(name, "rowid") == 0)
            continue;
        const struct store_column *col = store_find_column(t, name);
        json_object_set_new(row, name, column_value(res, i, c, col != NULL ? col->type : 'T'));
    }
    return row;
}

/* The values as parameters: text as PostgreSQL reads it for the column it goes to, blobs in
 * binary (the bytes as they are). */
static int bind_values(struct params *p, const struct store_value *v, int n)
{
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char buf[40];
        switch (v[i].kind) {
        case STORE_NULL:
            rc = params_add(p, NULL);
            break;
        case STORE_TEXT:
            rc = params_add(p, v[i].text);
            break;
        case STORE_INT:
            rc = params_add_int(p, v[i].integer);
            break;
        case STORE_BOOL:
            rc = params_add(p, v[i].integer != 0 ? "true" : "false");
            break;
        case STORE_REAL:
            snprintf(buf, sizeof buf, "%.17g", v[i].real);
            rc = params_add_owned(p, strdup(buf));
            break;
        case STORE_BLOB:
            rc = params_add(p, v[i].blob);
            if (rc == 0) {
                p->lengths[p->n - 1] = v[i].len;
                p->formats[p->n - 1] = 1;
            }
            break;
        }
    }
    return rc;
}

/* exec_params with the n values v as the parameters. */
static int query_values(struct pg_store *st, const char *sql, const struct store_value *v, int n,
                        int result_format, PGresult **res)
{
    struct params p = {0};
    int rc = bind_values(&p, v, n);
    if (rc == 0)
        rc = exec_params(st, sql, &p, result_format, res);
    params_clear(&p);
    return rc;
}

/* The rows come as one result (text, smaller than the objects) and become objects one at a
 * time, so that fn may use the store (libpq runs one query at a time per connection). */
static int pg_select(struct store *owner, const struct store_table *t, const char *sql,
                     const struct store_value *v, int n, store_row_fn fn, void *ctx)
{
    PGresult *res = NULL;
    int rc = query_values(owner->pg, sql, v, n, 0, &res);
    if (rc < 0)
        return rc;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && rc >= 0; i++) {
        json_t *row = row_to_json(res, i, t);
        rc = row != NULL ? fn(ctx, row) : -ENOMEM;
        json_decref(row);
    }
    PQclear(res);
    return rc < 0 ? rc : 0;
}

static int pg_select_cells(struct store *owner, const char *sql, const struct store_value *v, int n,
                           const char *types, store_cells_fn fn, void *ctx)
{
    PGresult *res = NULL;
    int rc = query_values(owner->pg, sql, v, n, 0, &res);
    if (rc < 0)
        return rc;
    int ncol = PQnfields(res);
    struct store_cell cells[32];
    if (ncol > (int)(sizeof cells / sizeof cells[0]) || (size_t)ncol != strlen(types)) {
        snprintf(owner->error, sizeof owner->error, "%d columns read as %zu", ncol, strlen(types));
        PQclear(res);
        return -EIO;
    }
    int rows = PQntuples(res);
    for (int i = 0; i < rows && rc == 0; i++) {
        for (int col = 0; col < ncol; col++) {
            struct store_cell *c = &cells[col];
            const char *text = PQgetvalue(res, i, col);
            c->null = PQgetisnull(res, i, col) != 0;
            c->text = c->null ? NULL : text;
            c->len = c->null ? 0 : (size_t)PQgetlength(res, i, col);
            c->integer = 0;
            if (!c->null && types[col] == 'I')
                c->integer = strtoll(text, NULL, 10);
            else if (!c->null && types[col] == 'B')
                c->integer = text[0] == 't' || text[0] == '1';
        }
        rc = fn(ctx, cells, ncol);
    }
    PQclear(res);
    return rc;
}

/* A statement that may break a unique column runs in a savepoint inside a transaction, so
 * that a conflict is -EEXIST and the transaction goes on, as on SQLite. */
static int pg_exec(struct store *owner, const char *sql, const struct store_value *v, int n,
                   bool may_conflict, int64_t *changes)
{
    struct pg_store *st = owner->pg;
    struct params p = {0};
    PGresult *res = NULL;
    int rc = bind_values(&p, v, n);
    bool savepoint = rc == 0 && st->in_tx && may_conflict;
    if (savepoint)
        rc = exec_params(st, "SAVEPOINT store_update", NULL, 0, NULL);
    if (rc == 0) {
        rc = exec_params(st, sql, &p, 0, &res);
        if (savepoint && rc == -EEXIST && st->tx_failed == -EEXIST) {
            st->tx_failed = 0; /* the savepoint undoes the failed statement only */
            char saved[sizeof owner->error];
            snprintf(saved, sizeof saved, "%s", owner->error);
            int r2 = exec_params(st, "ROLLBACK TO SAVEPOINT store_update", NULL, 0, NULL);
            snprintf(owner->error, sizeof owner->error, "%s", saved);
            if (r2 < 0)
                rc = r2;
        } else if (savepoint && st->tx_failed == 0) {
            exec_params(st, "RELEASE SAVEPOINT store_update", NULL, 0, NULL);
        }
    }
    if (rc == 0 && changes != NULL)
        *changes = affected(res);
    PQclear(res);
    params_clear(&p);
    return rc;
}

static int pg_select_blob(struct store *owner, const char *sql, const struct store_value *v, int n,
                          char *text, size_t textlen, void **data, size_t *len)
{
    PGresult *res = NULL;
    /* Binary results: the blob's bytes, and the text's (text in binary is itself). */
    int rc = query_values(owner->pg, sql, v, n, 1, &res);
    if (rc < 0)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return -ENOENT;
    }
    size_t bytes = (size_t)PQgetlength(res, 0, 1);
    void *copy = bytes > 0 ? malloc(bytes) : NULL;
    if (copy == NULL) {
        PQclear(res);
        return bytes > 0 ? -ENOMEM : -EIO;
    }
    memcpy(copy, PQgetvalue(res, 0, 1), bytes);
    snprintf(text, textlen, "%.*s", PQgetlength(res, 0, 0), PQgetvalue(res, 0, 0));
    PQclear(res);
    *data = copy;
    *len = bytes;
    return 0;
}

static int pg_presence_scan(struct store *owner, store_presence_fn fn, void *ctx)
{
    PGresult *res = NULL;
    int rc = exec_params(owner->pg,
                         "SELECT id, last_seen, session_epoch, offline_epoch FROM controllers",
                         NULL, 0, &res);
    if (rc < 0)
        return rc;
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        bool seen = !PQgetisnull(res, i, 1);
        bool went_offline = !PQgetisnull(res, i, 3);
        struct store_presence_row row = {
            .id = PQgetvalue(res, i, 0),
            .last_seen = seen ? strtoll(PQgetvalue(res, i, 1), NULL, 10) : -1,
            .session_epoch = strtoll(PQgetvalue(res, i, 2), NULL, 10),
            .offline_epoch = went_offline ? strtoll(PQgetvalue(res, i, 3), NULL, 10) : 0,
            .has_offline_epoch = went_offline,
        };
        fn(ctx, &row);
    }
    PQclear(res);
    return 0;
}

/* ---- opening ---- */

/* PostgreSQL checkpoints by itself: no defer_checkpoints, no checkpoint. */
static const struct store_backend postgresql_backend = {
    .name = "postgresql",
    .migrations_table = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version INTEGER PRIMARY KEY NOT NULL,"
                        " applied_at TEXT NOT NULL DEFAULT"
                        " (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')))",
    .migration_begin = "BEGIN",
    .migrations = migrations,
    .collate = " COLLATE \"C\"",
    .json_strings = "SELECT json_array_elements_text(?::json)",
    .insert_suffix = " ON CONFLICT DO NOTHING",
    .free = pg_free,
    .script = pg_script,
    .schema_version = pg_schema_version,
    .begin = pg_begin,
    .begin_serialized = pg_begin_serialized,
    .commit = pg_commit,
    .end = pg_end,
    .probe_write = pg_probe_write,
    .ping = pg_ping,
    .select = pg_select,
    .select_cells = pg_select_cells,
    .exec = pg_exec,
    .select_blob = pg_select_blob,
    .presence_scan = pg_presence_scan,
};

int pg_open(struct store *owner, const char *url, int max_version, bool maintenance, char *err,
            size_t errlen)
{
    struct pg_store *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    st->owner = owner;
    owner->pg = st;
    owner->be = &postgresql_backend;
    /* The URL's own settings win over these (libpq: later keywords override earlier ones, and
     * dbname is expanded in place). Without a connect timeout an unreachable server would
     * hold the start for minutes. */
    const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *const values[] = {"10", "roundhouse-central", url, NULL};
    st->conn = PQconnectdbParams(keys, values, 1);
    if (st->conn == NULL || PQstatus(st->conn) != CONNECTION_OK) {
        set_message(st, st->conn != NULL ? PQerrorMessage(st->conn) : "out of memory");
        snprintf(err, errlen, "cannot connect to the PostgreSQL database: %s", owner->error);
        return -EIO;
    }
    if (session_setup(st) < 0) {
        snprintf(err, errlen, "cannot configure the PostgreSQL session: %s", owner->error);
        return -EIO;
    }
    return maintenance ? 0 : migrate(st, max_version, err, errlen);
}
