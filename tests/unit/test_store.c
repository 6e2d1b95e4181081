/* The store on both backends: migrations from an older schema and the row operations run
 * against SQLite and against PostgreSQL (a throwaway cluster, tests/support/pg-cluster.sh, one
 * database per test); failed commits and failing writes are SQLite's (they provoke failures
 * through SQLite's own hooks), serialization conflicts PostgreSQL's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#if RH_HAVE_POSTGRES
#include <libpq-fe.h>
#endif
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "store.h"

static char dir[64];
/* What store_open gets: a SQLite file, or a PostgreSQL URL (on_pg). */
static char path[256];
static bool on_pg;
static char pg_url[256]; /* the cluster's superuser URL, .../postgres */
static char pg_dir[128];
static int pg_databases;

static int setup(void **state)
{
    (void)state;
    on_pg = false;
    snprintf(dir, sizeof dir, "/tmp/rh-store-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/test.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* One cluster for all the PostgreSQL tests. */
static int pg_group_setup(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s start %ld", RH_PG_CLUSTER, (long)getpid());
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        return -1;
    bool ok = fgets(pg_url, sizeof pg_url, f) != NULL && fgets(pg_dir, sizeof pg_dir, f) != NULL;
    int status = pclose(f);
    if (!ok || status != 0) {
        fprintf(stderr, "cannot start a PostgreSQL cluster (%s)\n", RH_PG_CLUSTER);
        return -1;
    }
    pg_url[strcspn(pg_url, "\n")] = '\0';
    pg_dir[strcspn(pg_dir, "\n")] = '\0';
    return 0;
}

static int pg_group_teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s stop '%s'", RH_PG_CLUSTER, pg_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int pg_exec(const char *url, const char *sql, int *count)
{
#if !RH_HAVE_POSTGRES
    (void)url, (void)sql, (void)count;
    return -1; /* a build without PostgreSQL runs only the SQLite half */
#else
    PGconn *conn = PQconnectdb(url);
    int rc = -1;
    if (PQstatus(conn) == CONNECTION_OK) {
        PGresult *res = PQexec(conn, sql);
        ExecStatusType s = PQresultStatus(res);
        if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
            rc = 0;
            if (count != NULL)
                *count = PQntuples(res) == 1 ? (int)strtol(PQgetvalue(res, 0, 0), NULL, 10) : -1;
        } else {
            fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(res));
        }
        PQclear(res);
    } else {
        fprintf(stderr, "%s", PQerrorMessage(conn));
    }
    PQfinish(conn);
    return rc;
#endif
}

/* A new, empty database for each PostgreSQL test. */
static int pg_setup(void **state)
{
    if (setup(state) < 0)
        return -1;
    on_pg = true;
    char sql[64];
    snprintf(sql, sizeof sql, "CREATE DATABASE t%d", ++pg_databases);
    if (pg_exec(pg_url, sql, NULL) < 0)
        return -1;
    size_t base = strlen(pg_url) - strlen("postgres");
    snprintf(path, sizeof path, "%.*st%d", (int)base, pg_url, pg_databases);
    return 0;
}

/* Runs sql on the test's database through the backend's own client, not the store. */
static int db_exec(const char *sql)
{
    if (on_pg)
        return pg_exec(path, sql, NULL);
    sqlite3 *db = NULL;
    int rc =
        sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
            ? 0
            : -1;
    sqlite3_close(db);
    return rc;
}

static int count_rows(const char *sql)
{
    int n = -1;
    if (on_pg)
        return pg_exec(path, sql, &n) == 0 ? n : -1;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void test_migrates_v1_database_in_place(void **state)
{
    char err[256];
    struct store *st = NULL;
    /* A database as schema version 1 made it, with data in it. */
    assert_int_equal(store_open(path, 1, &st, err, sizeof err), 0);
    int v = 0;
    assert_int_equal(store_schema_version(st, &v), 0);
    assert_int_equal(v, 1);
    json_t *ctl = json_pack(
        "{s:s, s:s, s:I, s:I, s:I}", "id", "0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e", "name", "pi-1",
        "config_version", (json_int_t)4, "created_at", (json_int_t)1, "updated_at", (json_int_t)1);
    json_t *train = json_pack("{s:s, s:s, s:s, s:{}, s:s, s:I, s:I}", "id", "t1", "name", "Express",
                              "plugin_name", "dc_motor", "plugin_config", "desired_controller_id",
                              "0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e", "created_at", (json_int_t)1,
                              "updated_at", (json_int_t)1);
    assert_int_equal(store_begin(st, true), 0);
    assert_int_equal(store_controller_insert(st, ctl), 0);
    assert_int_equal(store_train_insert(st, train), 0);
    assert_int_equal(store_commit(st), 0);
    /* A version-2 column does not exist yet (on PostgreSQL the failure ends the transaction:
     * roll back). */
    json_t *v2 = json_pack("{s:s}", "hardware_id", "x");
    assert_int_equal(store_begin(st, true), 0);
    assert_int_not_equal(store_controller_update(st, "0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e", v2),
                         0);
    store_rollback(st);
    store_free(st);
    assert_int_equal(count_rows("SELECT COUNT(*) FROM schema_migrations"), 1);

    /* Opening with this program upgrades it and keeps the data. */
    st = NULL;
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &st, err, sizeof err), 0);
    assert_int_equal(store_schema_version(st, &v), 0);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    json_t *row = NULL;
    assert_int_equal(store_begin(st, true), 0);
    assert_int_equal(store_controller_get(st, "0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e", &row), 0);
    assert_string_equal(json_string_value(json_object_get(row, "name")), "pi-1");
    assert_int_equal(json_integer_value(json_object_get(row, "config_version")), 4);
    assert_true(json_is_object(json_object_get(row, "metadata")));
    json_decref(row);
    assert_int_equal(store_controller_update(st, "0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e", v2), 0);
    assert_int_equal(store_train_get(st, "t1", &row), 0);
    assert_string_equal(json_string_value(json_object_get(row, "reassignment_status")), "pending");
    assert_true(json_is_null(json_object_get(row, "actual_controller_id")));
    json_decref(row);
    assert_int_equal(store_commit(st), 0);
    store_free(st);

    /* Each migration is recorded once; opening again applies nothing. */
    st = NULL;
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &st, err, sizeof err), 0);
    store_free(st);
    assert_int_equal(count_rows("SELECT COUNT(*) FROM schema_migrations"), STORE_SCHEMA_VERSION);
    json_decref(ctl);
    json_decref(train);
    json_decref(v2);
}

static void test_refuses_newer_schema(void **state)
{
    char err[256];
    struct store *st = NULL;
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &st, err, sizeof err), 0);
    store_free(st);
    assert_int_equal(db_exec("INSERT INTO schema_migrations(version) VALUES (99)"), 0);
    st = NULL;
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &st, err, sizeof err), -EPROTO);
    assert_null(st);
    assert_non_null(strstr(err, "newer"));
}

static void test_row_operations(void **state)
{
    char err[256];
    struct store *st = NULL;
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &st, err, sizeof err), 0);
    const char *id = "11111111-2222-4333-8444-555555555555";
    json_t *ctl = json_pack("{s:s, s:s, s:I, s:I}", "id", id, "name", "pi", "created_at",
                            (json_int_t)1, "updated_at", (json_int_t)1);
    json_t *row = NULL, *list = NULL;
    assert_int_equal(store_begin(st, true), 0);
    assert_int_equal(store_controller_insert(st, ctl), 0);
    assert_int_equal(store_controller_insert(st, ctl), -EEXIST);
    assert_int_equal(store_controller_bump_config(st, id, 5), 0);
    assert_int_equal(store_controller_get(st, id, &row), 0);
    assert_int_equal(json_integer_value(json_object_get(row, "config_version")), 2);
    assert_true(json_is_true(json_object_get(row, "enabled")));
    json_decref(row);
    assert_int_equal(store_controller_get(st, "nope", &row), -ENOENT);
    assert_int_equal(store_controller_bump_config(st, "nope", 5), -ENOENT);
    json_t *bad = json_pack("{s:s}", "no_such_column", "x");
    assert_int_equal(store_controller_update(st, id, bad), -EINVAL);
    assert_int_equal(store_controller_find_by_name(st, "pi", &list), 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    assert_int_equal(store_controller_delete(st, id), 0);
    assert_int_equal(store_controller_delete(st, id), -ENOENT);
    assert_int_equal(store_commit(st), 0);
    store_free(st);
    store_free(NULL);
    json_decref(ctl);
    json_decref(bad);
}

/* The typed writes and the brief read (registration's and heartbeat's) on both backends:
 * the same row as through the jansson operations, NULLs and booleans included, and the same
 * errors. */
static void test_typed_fields(void **state)
{
    char err[256];
    struct store *st = NULL;
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &st, err, sizeof err), 0);
    const char *id = "11111111-2222-4333-8444-666666666666";
    struct store_fields f = {0};
    store_fields_put(&f, "id", store_text(id));
    store_fields_put(&f, "name", store_text("pi-typed"));
    store_fields_put(&f, "config_version", store_int(7));
    store_fields_put(&f, "session_epoch", store_int(3));
    store_fields_put(&f, "enabled", (struct store_value){.kind = STORE_BOOL, .integer = 1});
    store_fields_put(&f, "metadata", store_text("{\"reports_placement\":true}"));
    store_fields_put(&f, "created_at", store_int(1));
    store_fields_put(&f, "updated_at", store_int(1));
    assert_int_equal(store_begin(st, true), 0);
    assert_int_equal(store_controller_insert_fields(st, &f), 0);
    assert_int_equal(store_controller_insert_fields(st, &f), -EEXIST);

    struct store_controller_brief b;
    assert_int_equal(store_controller_get_brief(st, id, &b), 0);
    assert_string_equal(b.id, id);
    assert_string_equal(b.name, "pi-typed");
    assert_null(b.address);
    assert_null(b.secret_hash);
    assert_int_equal(b.config_version, 7);
    assert_int_equal(b.session_epoch, 3);
    assert_int_equal(b.applied_config_version, -1);
    assert_false(b.first_seen);
    assert_string_equal(b.metadata, "{\"reports_placement\":true}");
    store_controller_brief_clear(&b);
    assert_int_equal(store_controller_get_brief(st, "nope", &b), -ENOENT);
    assert_null(b.name);

    struct store_fields u = {0};
    store_fields_put(&u, "address", store_text("10.0.0.9"));
    store_fields_put(&u, "applied_config_version", store_int(7));
    store_fields_put(&u, "first_seen", store_int(42));
    store_fields_put(&u, "secret_hash", store_text("ab"));
    assert_int_equal(store_controller_update_fields(st, id, &u), 0);
    assert_int_equal(store_controller_update_fields(st, "nope", &u), -ENOENT);
    assert_int_equal(store_controller_get_brief(st, id, &b), 0);
    assert_string_equal(b.address, "10.0.0.9");
    assert_string_equal(b.secret_hash, "ab");
    assert_int_equal(b.applied_config_version, 7);
    assert_true(b.first_seen);
    store_controller_brief_clear(&b);
    json_t *row = NULL;
    assert_int_equal(store_controller_get(st, id, &row), 0);
    assert_true(json_is_true(json_object_get(row, "enabled")));
    assert_int_equal(json_integer_value(json_object_get(row, "first_seen")), 42);
    assert_true(
        json_is_true(json_object_get(json_object_get(row, "metadata"), "reports_placement")));
    json_decref(row);

    /* More fields than a statement takes: refused, nothing written. */
    struct store_fields many = {0};
    for (int i = 0; i <= STORE_FIELDS_MAX; i++)
        store_fields_put(&many, "name", store_text("x"));
    assert_int_equal(store_controller_update_fields(st, id, &many), -E2BIG);
    assert_int_equal(store_commit(st), 0);
    store_free(st);
}

/* The connection the store opened last, caught by an SQLite auto-extension, so that a test
 * can make its COMMIT fail the ways SQLite lets a COMMIT fail. */
static sqlite3 *last_db;

static int catch_connection(sqlite3 *db, const char **err, const struct sqlite3_api_routines *api)
{
    last_db = db;
    return SQLITE_OK;
}

static int refuse_commit(void *ctx)
{
    return 1; /* turns the COMMIT into a ROLLBACK: SQLite ends the transaction itself */
}

static json_t *controller_row(const char *id)
{
    return json_pack("{s:s, s:s, s:I, s:I}", "id", id, "name", "pi", "created_at", (json_int_t)1,
                     "updated_at", (json_int_t)1);
}

static json_t *train_row(const char *id, const char *owner)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "id", id, "name", id, "plugin_name", "p",
                     "desired_controller_id", owner, "created_at", (json_int_t)1, "updated_at",
                     (json_int_t)1);
}

/* One write transaction on the controller of test_wal_is_started_over. */
static void touch(struct store *st, const char *id, int64_t v)
{
    struct store_fields f = {0};
    store_fields_put(&f, "last_seen", store_int(v));
    assert_int_equal(store_begin(st, true), 0);
    assert_int_equal(store_controller_update_fields(st, id, &f), 0);
    assert_int_equal(store_commit(st), 0);
}

/* The WAL is started over under writes that never pause: when the maintenance connection's
 * checkpoint leaves frames behind (here a reader's snapshot holds them back, as the writer
 * going on does under load), store_finish_checkpoint has the writer copy the rest after its
 * next commit, and the write after that starts the WAL from its beginning. */
static void test_wal_is_started_over(void **state)
{
    char err[256];
    struct store *st = NULL, *maint = NULL;
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &st, err, sizeof err), 0);
    assert_int_equal(store_open_maintenance(path, &maint, err, sizeof err), 0);
    assert_int_equal(store_defer_checkpoints(st), 0);
    json_t *ctl = controller_row("11111111-2222-4333-8444-777777777777");
    const char *id = json_string_value(json_object_get(ctl, "id"));
    assert_int_equal(store_begin(st, true), 0);
    assert_int_equal(store_controller_insert(st, ctl), 0);
    assert_int_equal(store_commit(st), 0);
    for (int i = 0; i < 50; i++)
        touch(st, id, i);
    /* The maintenance connection has read (the sweeper's presence pass): a connection that
     * never read the database does not know it is in WAL mode yet. */
    struct store_controller_brief b;
    assert_int_equal(store_begin(maint, false), 0);
    assert_int_equal(store_controller_get_brief(maint, id, &b), 0);
    store_controller_brief_clear(&b);
    store_rollback(maint);
    sqlite3 *reader = NULL;
    assert_int_equal(sqlite3_open(path, &reader), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(reader, "BEGIN; SELECT COUNT(*) FROM controllers", NULL, NULL, NULL),
        SQLITE_OK);
    for (int i = 0; i < 50; i++)
        touch(st, id, 100 + i);
    struct store_wal wal;
    assert_int_equal(store_checkpoint(maint, &wal), 1);
    assert_true(wal.left >= 50); /* held back by the reader */
    assert_true(wal.frames >= 100);
    sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(reader);

    store_finish_checkpoint(st);
    touch(st, id, 200); /* its commit copies the rest */
    touch(st, id, 201); /* and this one starts the WAL over */
    assert_true(store_checkpoint(maint, &wal) >= 0);
    assert_true(wal.frames < 10);
    assert_int_equal(wal.left, 0);
    json_decref(ctl);
    store_free(maint);
    store_free(st);
}

/* Schema 4: trains of an older database are numbered in creation order; new ones get the
 * smallest free address; an address is unique. */
static void test_train_addresses(void **state)
{
    (void)state;
    char err[256];
    struct store *st = NULL;
    assert_int_equal(store_open(path, 3, &st, err, sizeof err), 0);
    json_t *ctl = controller_row("0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e");
    assert_int_equal(store_begin(st, true), 0);
    assert_int_equal(store_controller_insert(st, ctl), 0);
    const char *ids[] = {"b", "a", "c"};
    for (int i = 0; i < 3; i++) {
        json_t *t = train_row(ids[i], "0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e");
        json_object_set_new(t, "created_at", json_integer(10 + i));
        assert_int_equal(store_train_insert(st, t), 0);
        json_decref(t);
    }
    assert_int_equal(store_commit(st), 0);
    store_free(st);
    st = NULL;
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &st, err, sizeof err), 0);
    assert_int_equal(store_begin(st, true), 0);
    json_t *row = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_train_get(st, ids[i], &row), 0);
        assert_int_equal(json_integer_value(json_object_get(row, "address")), i + 1);
        json_decref(row);
    }
    json_t *f = json_pack("{s:i}", "address", 7);
    assert_int_equal(store_train_update(st, "a", f), 0);
    assert_int_equal(store_train_update(st, "b", f), -EEXIST);
    json_decref(f);
    json_t *t = train_row("d", "0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e");
    assert_int_equal(store_train_insert(st, t), 0);
    json_decref(t);
    assert_int_equal(store_train_assign_addresses(st), 0);
    assert_int_equal(store_train_get(st, "d", &row), 0);
    assert_int_equal(json_integer_value(json_object_get(row, "address")), 2);
    json_decref(row);
    assert_int_equal(store_train_find_by_address(st, 7, &row), 0);
    assert_string_equal(json_string_value(json_object_get(row, "id")), "a");
    json_decref(row);
    assert_int_equal(store_train_find_by_address(st, 9, &row), -ENOENT);
    assert_int_equal(store_commit(st), 0);
    store_free(st);
    json_decref(ctl);
}

static int collect_id(void *ctx, const json_t *row)
{
    json_array_append_new(ctx, json_string(json_string_value(json_object_get(row, "id"))));
    return 0;
}

static void count_presence(void *ctx, const struct store_presence_row *row)
{
    int *n = ctx;
    if (row->last_seen == 42 && row->session_epoch == 3 && !row->has_offline_epoch)
        (*n)++;
}

static void on_commit(void *ctx, struct store *st, const json_t *bumped)
{
    (void)st;
    json_array_extend(ctx, (json_t *)bumped);
}

/* The rest of the tables: photos, status, plugins, settings, accounts; lists in insertion
 * order; the commit hook; a unique column other than the key. */
static void test_other_tables(void **state)
{
    (void)state;
    char err[256];
    struct store *st = NULL;
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &st, err, sizeof err), 0);
    assert_string_equal(store_backend_name(st), on_pg ? "postgresql" : "sqlite");
    json_t *bumped = json_array();
    store_set_commit_hook(st, on_commit, bumped);
    const char *ids[] = {"c3", "c1", "c2"};
    assert_int_equal(store_begin(st, true), 0);
    for (int i = 0; i < 3; i++) {
        json_t *c = controller_row(ids[i]);
        json_object_set_new(c, "last_seen", json_integer(42));
        json_object_set_new(c, "session_epoch", json_integer(3));
        json_object_set_new(c, "metadata", json_pack("{s:[i,s]}", "k", 1, "v"));
        json_object_set_new(c, "enabled", json_false());
        assert_int_equal(store_controller_insert(st, c), 0);
        json_decref(c);
    }
    assert_int_equal(store_controller_bump_config(st, "c1", 9), 0);
    assert_int_equal(store_controller_bump_config(st, "c1", 9), 0);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(json_array_size(bumped), 1);
    assert_string_equal(json_string_value(json_array_get(bumped, 0)), "c1");

    assert_int_equal(store_begin(st, false), 0);
    json_t *order = json_array(), *row = NULL, *list = NULL;
    /* Pages by keyset: one row, then the next two after it, then nothing. */
    struct store_list_key after = STORE_LIST_START;
    assert_int_equal(store_controller_foreach_after(st, &after, 1, collect_id, order), 0);
    assert_int_equal(json_array_size(order), 1);
    assert_string_equal(json_string_value(json_array_get(order, 0)), "c3");
    assert_int_equal(store_controller_foreach_after(st, &after, 2, collect_id, order), 0);
    assert_int_equal(json_array_size(order), 3);
    assert_string_equal(json_string_value(json_array_get(order, 1)), "c1");
    assert_string_equal(json_string_value(json_array_get(order, 2)), "c2");
    assert_int_equal(store_controller_foreach_after(st, &after, 2, collect_id, order), 0);
    assert_int_equal(json_array_size(order), 3);
    json_decref(order);
    int seen = 0;
    assert_int_equal(store_controller_presence_scan(st, count_presence, &seen), 0);
    assert_int_equal(seen, 3);
    assert_int_equal(store_controller_get(st, "c2", &row), 0);
    assert_true(json_is_false(json_object_get(row, "enabled")));
    assert_int_equal(json_integer_value(
                         json_array_get(json_object_get(json_object_get(row, "metadata"), "k"), 0)),
                     1);
    assert_null(json_object_get(row, "rowid"));
    json_decref(row);
    store_rollback(st);

    /* Trains, status, photos. */
    assert_int_equal(store_begin(st, true), 0);
    json_t *t = train_row("t1", "c1");
    json_object_set_new(t, "invert_directions", json_true());
    json_object_set_new(t, "driving", json_pack("{s:f}", "max", 0.5));
    assert_int_equal(store_train_insert(st, t), 0);
    json_decref(t);
    assert_int_equal(store_train_assign_addresses(st), 0);
    json_t *status = json_pack("{s:s, s:i, s:s, s:f, s:s, s:I}", "train_id", "t1", "speed", 40,
                               "direction", "forward", "voltage", 11.5, "reported_at",
                               "2024-01-01T00:00:00Z", "updated_at", (json_int_t)5);
    assert_int_equal(store_status_upsert(st, status), 0);
    json_object_set_new(status, "speed", json_integer(50));
    assert_int_equal(store_status_upsert(st, status), 0);
    json_decref(status);
    assert_int_equal(store_status_get(st, "t1", &row), 0);
    assert_int_equal(json_integer_value(json_object_get(row, "speed")), 50);
    assert_true(json_real_value(json_object_get(row, "voltage")) == 11.5);
    json_decref(row);
    const unsigned char png[] = {0x89, 'P', 'N', 'G', 0, 1, 2, 0xff};
    assert_int_equal(store_train_photo_put(st, "t1", "image/png", png, sizeof png, 77), 0);
    assert_int_equal(store_train_photo_put(st, "nope", "image/png", png, sizeof png, 77), -ENOENT);
    char type[32];
    void *data = NULL;
    size_t len = 0;
    assert_int_equal(store_train_photo_get(st, "t1", type, sizeof type, &data, &len), 0);
    assert_string_equal(type, "image/png");
    assert_int_equal(len, sizeof png);
    assert_memory_equal(data, png, sizeof png);
    free(data);
    assert_int_equal(store_train_get(st, "t1", &row), 0);
    assert_int_equal(json_integer_value(json_object_get(row, "photo_at")), 77);
    assert_true(json_is_true(json_object_get(row, "invert_directions")));
    assert_int_equal(json_integer_value(json_object_get(row, "address")), 1);
    json_decref(row);
    assert_int_equal(store_train_list(st, "c1", &list), 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    assert_int_equal(store_train_photo_delete(st, "t1"), 0);
    assert_int_equal(store_train_photo_delete(st, "t1"), -ENOENT);
    assert_int_equal(store_train_delete(st, "t1"), 0);
    assert_int_equal(store_status_get(st, "t1", &row), -ENOENT);

    /* Plugins and settings: upserts. */
    json_t *plugin =
        json_pack("{s:s, s:s, s:{s:i}}", "name", "p", "description", "d", "config", "a", 1);
    assert_int_equal(store_plugin_upsert(st, plugin), 0);
    json_object_set_new(plugin, "description", json_string("e"));
    assert_int_equal(store_plugin_upsert(st, plugin), 0);
    json_decref(plugin);
    assert_int_equal(store_plugin_list(st, &list), 0);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "description")),
                        "e");
    json_decref(list);
    json_t *v = json_pack("{s:b}", "stopped", 1);
    assert_int_equal(store_setting_put(st, "layout", v), 0);
    assert_int_equal(store_setting_put(st, "layout", v), 0);
    json_decref(v);
    assert_int_equal(store_setting_get(st, "layout", &v), 0);
    assert_true(json_is_true(json_object_get(v, "stopped")));
    json_decref(v);
    assert_int_equal(store_setting_get(st, "none", &v), -ENOENT);

    /* Accounts: a taken credential id is -EEXIST and the transaction goes on. */
    json_t *user =
        json_pack("{s:s, s:s, s:s, s:I, s:I}", "username", "ann", "role", "admin", "password_hash",
                  "$argon2id$x", "created_at", (json_int_t)1, "updated_at", (json_int_t)1);
    assert_int_equal(store_user_put(st, user), 0);
    json_object_set_new(user, "role", json_string("viewer"));
    assert_int_equal(store_user_put(st, user), 0);
    json_decref(user);
    json_t *cred = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "secret_hash", "h1", "id", "i1",
                             "kind", "token", "username", "ann", "created_at", (json_int_t)1,
                             "expires_at", (json_int_t)10);
    assert_int_equal(store_credential_insert(st, cred), 0);
    json_object_set_new(cred, "secret_hash", json_string("h2"));
    assert_int_equal(store_credential_insert(st, cred), -EEXIST); /* id i1 taken */
    json_object_set_new(cred, "id", json_string("i2"));
    json_object_set_new(cred, "expires_at", json_null());
    assert_int_equal(store_credential_insert(st, cred), 0);
    json_decref(cred);
    assert_int_equal(store_credential_prune(st, 10), 0);
    assert_int_equal(store_credential_list(st, "ann", &list), 0);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), "i2");
    json_decref(list);
    assert_int_equal(store_user_get(st, "ann", &row), 0);
    assert_string_equal(json_string_value(json_object_get(row, "role")), "viewer");
    json_decref(row);
    assert_int_equal(store_user_delete(st, "ann"), 0);
    assert_int_equal(store_credential_get(st, "h2", &row), -ENOENT);
    assert_int_equal(store_user_delete(st, "ann"), -ENOENT);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(store_probe_write(st), 0);
    assert_true(store_write_state(st, NULL, 0));
    assert_int_equal(store_begin(st, false), 0);
    assert_int_equal(store_ping(st), 0);
    store_rollback(st);
    assert_int_equal(store_check(st), 0); /* outside a transaction, on either backend */
    store_free(st);
    json_decref(bumped);
}

/* PostgreSQL: two connections that both find no controller named "pi" and both insert one
 * (the registration pattern, as two centrals on one database would run it) cannot both
 * commit: the second gets -EAGAIN (a serialization failure), and its retry sees the first's
 * row. */
static void test_pg_conflicting_registrations(void **state)
{
    (void)state;
    char err[256];
    struct store *a = NULL, *b = NULL;
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &a, err, sizeof err), 0);
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &b, err, sizeof err), 0);
    json_t *list = NULL;
    assert_int_equal(store_begin(a, true), 0);
    assert_int_equal(store_begin(b, true), 0);
    assert_int_equal(store_controller_find_by_name(a, "pi", &list), 0);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    assert_int_equal(store_controller_find_by_name(b, "pi", &list), 0);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    json_t *ca = controller_row("11111111-0000-4000-8000-000000000001");
    json_t *cb = controller_row("11111111-0000-4000-8000-000000000002");
    assert_int_equal(store_controller_insert(a, ca), 0);
    int rc = store_controller_insert(b, cb);
    assert_int_equal(store_commit(a), 0);
    if (rc == 0)
        rc = store_commit(b);
    else
        store_rollback(b);
    assert_int_equal(rc, -EAGAIN);
    /* The retry finds the row and would adopt it. */
    assert_int_equal(store_begin(b, true), 0);
    assert_int_equal(store_controller_find_by_name(b, "pi", &list), 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    assert_int_equal(store_commit(b), 0);
    assert_int_equal(count_rows("SELECT COUNT(*) FROM controllers"), 1);
    /* A failed statement ends the transaction's usefulness: every later call and the commit
     * say so, and the next transaction works. */
    assert_int_equal(store_begin(a, true), 0);
    json_t *t = train_row("t1", "99999999-0000-4000-8000-000000000009"); /* no such controller */
    assert_int_equal(store_train_insert(a, t), -EEXIST);                 /* a foreign key */
    assert_int_not_equal(store_controller_get(a, "11111111-0000-4000-8000-000000000001", &list), 0);
    assert_int_not_equal(store_commit(a), 0);
    assert_int_equal(store_begin(a, false), 0);
    assert_int_equal(store_controller_get(a, "11111111-0000-4000-8000-000000000001", &list), 0);
    json_decref(list);
    store_rollback(a);
    json_decref(t);
    json_decref(ca);
    json_decref(cb);
    store_free(a);
    store_free(b);
}

static void *begin_elsewhere(void *arg)
{
    struct store *st = arg;
    int rc = store_begin(st, false);
    if (rc == 0)
        store_rollback(st);
    return (void *)(intptr_t)(rc == 0 ? 1 : 2);
}

/* After a failed COMMIT the store is out of the transaction and unlocked exactly once:
 * another thread can take it, the next transaction works, and nothing of the failed one was
 * kept. Both ways a COMMIT fails: SQLite keeps the transaction open (a deferred foreign key
 * violation) or has ended it already (a commit hook, like a disk full or I/O error). */
static void test_failed_commit_ends_transaction(void **state)
{
    char err[256];
    struct store *st = NULL;
    sqlite3_auto_extension((void (*)(void))catch_connection);
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &st, err, sizeof err), 0);
    sqlite3_reset_auto_extension();
    assert_non_null(last_db);
    sqlite3 *db = last_db;
    const char *ctl = "11111111-2222-4333-8444-555555555555";
    const char *ghost = "99999999-2222-4333-8444-555555555555";
    json_t *row = NULL;

    /* 1: a deferred foreign key violation; the transaction is still open after COMMIT. */
    assert_int_equal(store_begin(st, true), 0);
    assert_int_equal(sqlite3_exec(db, "PRAGMA defer_foreign_keys=ON", NULL, NULL, NULL), SQLITE_OK);
    json_t *t = train_row("t1", ghost);
    assert_int_equal(store_train_insert(st, t), 0);
    json_decref(t);
    assert_int_equal(store_commit(st), -EIO);
    assert_non_null(strstr(store_last_error(st), "FOREIGN KEY"));
    assert_int_not_equal(sqlite3_get_autocommit(db), 0);
    pthread_t th;
    void *res = NULL;
    assert_int_equal(pthread_create(&th, NULL, begin_elsewhere, st), 0);
    assert_int_equal(pthread_join(th, &res), 0);
    assert_int_equal((intptr_t)res, 1);
    assert_int_equal(store_begin(st, true), 0);
    assert_int_equal(store_train_get(st, "t1", &row), -ENOENT);
    store_rollback(st);

    /* 2: SQLite rolls back by itself; the error stays the COMMIT's, not "cannot rollback". */
    assert_int_equal(store_begin(st, true), 0);
    json_t *c = controller_row(ctl);
    assert_int_equal(store_controller_insert(st, c), 0);
    sqlite3_commit_hook(db, refuse_commit, NULL);
    assert_int_equal(store_commit(st), -EIO);
    sqlite3_commit_hook(db, NULL, NULL);
    assert_null(strstr(store_last_error(st), "cannot rollback"));
    assert_non_null(strstr(store_last_error(st), "constraint failed"));
    assert_int_equal(pthread_create(&th, NULL, begin_elsewhere, st), 0);
    assert_int_equal(pthread_join(th, &res), 0);
    assert_int_equal((intptr_t)res, 1);
    /* Usable afterwards: the same row commits now. */
    assert_int_equal(store_begin(st, true), 0);
    assert_int_equal(store_controller_get(st, ctl, &row), -ENOENT);
    assert_int_equal(store_controller_insert(st, c), 0);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(count_rows("SELECT COUNT(*) FROM controllers"), 1);
    json_decref(c);
    store_free(st);
}

#ifndef NDEBUG
/* A caller that rolls back after a failed commit releases the store a second time (it was
 * h_controller_delete's error path): debug builds stop there instead of letting it release
 * another thread's transaction. Checked in a child process, which must abort. */
static void test_second_release_aborts_in_debug_builds(void **state)
{
    char err[256];
    struct store *st = NULL;
    sqlite3_auto_extension((void (*)(void))catch_connection);
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &st, err, sizeof err), 0);
    sqlite3_reset_auto_extension();
    sqlite3 *db = last_db;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        json_t *c = controller_row("11111111-2222-4333-8444-555555555555");
        if (store_begin(st, true) != 0 || store_controller_insert(st, c) != 0)
            _exit(3);
        sqlite3_commit_hook(db, refuse_commit, NULL);
        if (store_commit(st) != -EIO)
            _exit(4);
        store_rollback(st); /* the second release */
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    store_free(st);
}
#endif

/* Writes that fail for real (a file size limit: SQLite gets EFBIG) are reported by
 * store_write_state with a message that says "disk full" and names the file, and a write that works
 * again clears it. */
static void test_write_failure_is_tracked(void **state)
{
    char err[256], why[512];
    struct store *st = NULL;
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &st, err, sizeof err), 0);
    assert_true(store_write_state(st, why, sizeof why));
    const char *id = "11111111-2222-4333-8444-555555555555";
    json_t *c = controller_row(id);
    assert_int_equal(store_begin(st, true), 0);
    assert_int_equal(store_controller_insert(st, c), 0);
    assert_int_equal(store_commit(st), 0);
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    /* SQLite sees EFBIG (an I/O error to it) once the WAL reaches the limit. */
    struct rlimit lim = {.rlim_cur = 262144 + 1000, .rlim_max = old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char *blob = malloc(1024 * 1024 + 1);
    assert_non_null(blob);
    memset(blob, 'x', 1024 * 1024);
    blob[1024 * 1024] = '\0';
    json_t *plugin = json_pack("{s:s, s:{s:s}}", "name", "big", "config", "blob", blob);
    free(blob);
    int rc = store_begin(st, true);
    assert_int_equal(rc, 0);
    rc = store_plugin_upsert(st, plugin);
    if (rc == 0)
        rc = store_commit(st);
    else
        store_rollback(st);
    json_decref(plugin);
    assert_int_equal(rc, -EIO);
    assert_non_null(strstr(store_last_error(st), "disk full"));
    assert_non_null(strstr(store_last_error(st), path));
    assert_false(store_write_state(st, why, sizeof why));
    assert_non_null(strstr(why, "disk full"));
    /* Reads still work, and a transaction that writes nothing does not clear the state. */
    json_t *list = NULL;
    assert_int_equal(store_begin(st, true), 0);
    assert_int_equal(store_plugin_list(st, &list), 0);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    assert_int_equal(store_commit(st), 0);
    assert_false(store_write_state(st, NULL, 0));
    json_decref(c);
    /* A small write fits below the limit: the probe works and writes work again. */
    assert_int_equal(store_probe_write(st), 0);
    assert_true(store_write_state(st, why, sizeof why));
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    store_free(st);
}

/* Logs never show a database password. */
static void test_redact(void **state)
{
    (void)state;
    char out[256];
    store_redact("postgresql://rh:s3cret@db.example:5432/roundhouse", out, sizeof out);
    assert_string_equal(out, "postgresql://rh:***@db.example:5432/roundhouse");
    store_redact("postgres://rh@db/roundhouse?sslmode=require&password=s3cret&x=1", out,
                 sizeof out);
    assert_string_equal(out, "postgres://rh@db/roundhouse?sslmode=require&password=***&x=1");
    store_redact("postgresql:///roundhouse", out, sizeof out);
    assert_string_equal(out, "postgresql:///roundhouse");
    store_redact("./dir:with@odd/roundhouse.db", out, sizeof out);
    assert_string_equal(out, "./dir:with@odd/roundhouse.db");
    assert_true(store_is_postgresql("postgresql://x"));
    assert_false(store_is_postgresql("/var/lib/roundhouse/postgresql://x"));
}

/* Paged lists on both backends: pages in (name, id) byte order with no row twice or missing,
 * the name filter with ASCII letters folded and LIKE's own characters taken literally, and
 * the presence filter agreeing with presence_state for every controller (and for a train,
 * with the presence of the controller its status is reported for). */
struct collected {
    json_t *rows;
};

static int collect(void *ctx, const json_t *row)
{
    struct collected *c = ctx;
    json_array_append(c->rows, (json_t *)row);
    return 0;
}

static json_t *page_of(struct store *st, bool trains, const struct store_page_query *q)
{
    struct collected c = {.rows = json_array()};
    assert_int_equal(store_begin(st, false), 0);
    int rc =
        trains ? store_train_page(st, q, collect, &c) : store_controller_page(st, q, collect, &c);
    store_rollback(st);
    assert_int_equal(rc, 0);
    return c.rows;
}

static const char *str(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

static void test_pages(void **state)
{
    char err[256];
    struct store *st = NULL;
    assert_int_equal(store_open(path, STORE_SCHEMA_VERSION, &st, err, sizeof err), 0);
    const int64_t now = 1800000000;
    const struct presence_rules rules = {.stale_after = 25, .offline_after = 50};
    /* Names that sort differently by bytes than by a language's rules, duplicates, and LIKE's
     * own characters. */
    static const char *const names[] = {"pi-b", "Pi-A",       "pi-a", "pi-a",   "pi_%x", "pi-10",
                                        "pi-2", "\u00c4rger", "zeta", "ZETA-2", "pi-a"};
    const int n = (int)(sizeof names / sizeof names[0]);
    /* ages: never seen, online, stale, offline, in the future; every third one's will came */
    const int64_t ages[] = {-1, 0, 30, 60, -10, 24, 25, 49, 50, 1, 3};
    assert_int_equal(store_begin(st, true), 0);
    for (int i = 0; i < n; i++) {
        char id[37];
        snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", (i * 7) % n);
        json_t *row =
            json_pack("{s:s, s:s, s:I, s:I, s:I}", "id", id, "name", names[i], "created_at",
                      (json_int_t)i, "updated_at", (json_int_t)i, "session_epoch", (json_int_t)2);
        if (ages[i] >= -10 && ages[i] != -1)
            json_object_set_new(row, "last_seen", json_integer(now - ages[i]));
        if (i % 3 == 2)
            json_object_set_new(row, "offline_epoch", json_integer(2));
        if (i % 3 == 1)
            json_object_set_new(row, "offline_epoch", json_integer(1)); /* an older session's */
        assert_int_equal(store_controller_insert(st, row), 0);
        json_decref(row);
        /* One train per controller, named like it; a status row for every other one, from
         * no controller for the last (the holder counts then). */
        char tid[8];
        snprintf(tid, sizeof tid, "t%02d", i);
        json_t *t = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "id", tid, "name", names[i],
                              "plugin_name", "p", "desired_controller_id", id, "created_at",
                              (json_int_t)i, "updated_at", (json_int_t)i);
        if (i % 4 == 0)
            json_object_set_new(t, "desired_controller_id", json_null());
        assert_int_equal(store_train_insert(st, t), 0);
        json_decref(t);
        if (i % 2 == 1) {
            json_t *s = json_pack("{s:s, s:s, s:I}", "train_id", tid, "controller_id", id,
                                  "updated_at", (json_int_t)now);
            assert_int_equal(store_status_upsert(st, s), 0);
            json_decref(s);
        }
    }
    assert_int_equal(store_train_assign_addresses(st), 0);
    assert_int_equal(store_commit(st), 0);

    struct store_page_query q = {.limit = 3};
    presence_bounds(now, &rules, &q.bounds);
    for (int trains = 0; trains <= 1; trains++) {
        /* Every row once, in byte order of (name, id). */
        json_t *seen = json_array();
        char last_name[64] = "", last_id[64] = "";
        q.after_name = q.after_id = NULL;
        q.name_part = NULL;
        q.presence = 0;
        for (int pages = 0; pages < 2 * n; pages++) {
            json_t *rows = page_of(st, trains, &q);
            size_t i;
            json_t *row;
            json_array_foreach(rows, i, row)
            {
                int by_name = strcmp(str(row, "name"), last_name);
                assert_true(by_name > 0 || (by_name == 0 && strcmp(str(row, "id"), last_id) > 0));
                snprintf(last_name, sizeof last_name, "%s", str(row, "name"));
                snprintf(last_id, sizeof last_id, "%s", str(row, "id"));
                json_array_append(seen, row);
            }
            size_t got = json_array_size(rows);
            json_decref(rows);
            if (got < (size_t)q.limit)
                break;
            q.after_name = last_name;
            q.after_id = last_id;
        }
        assert_int_equal(json_array_size(seen), n);
        assert_string_equal(str(json_array_get(seen, 0), "name"), "Pi-A");
        assert_string_equal(str(json_array_get(seen, n - 1), "name"), "\u00c4rger");
        json_decref(seen);

        /* The name filter: "PI-A" as "pi-a" matches Pi-A and the three pi-a; "_%" only
         * itself. */
        q.after_name = q.after_id = NULL;
        q.limit = 100;
        q.name_part = "pi-a";
        json_t *rows = page_of(st, trains, &q);
        assert_int_equal(json_array_size(rows), 4);
        json_decref(rows);
        q.name_part = "_%";
        rows = page_of(st, trains, &q);
        assert_int_equal(json_array_size(rows), 1);
        assert_string_equal(str(json_array_get(rows, 0), "name"), "pi_%x");
        json_decref(rows);
        q.name_part = NULL;
    }

    /* Presence: each state alone, then two together, against the rule row by row. */
    json_t *all = NULL;
    assert_int_equal(store_begin(st, false), 0);
    assert_int_equal(store_controller_list(st, &all), 0);
    store_rollback(st);
    for (unsigned mask = 1; mask < 16; mask++) {
        q.presence = mask;
        json_t *rows = page_of(st, false, &q);
        size_t want = 0, i;
        json_t *row;
        json_array_foreach(all, i, row)
        {
            json_t *off = json_object_get(row, "offline_epoch");
            bool will = json_is_integer(off) && json_integer_value(off) >= 2;
            json_t *ls = json_object_get(row, "last_seen");
            enum presence p = presence_state(json_is_integer(ls) ? json_integer_value(ls) : -1, now,
                                             will, &rules);
            if (mask & (1u << p))
                want++;
        }
        assert_int_equal(json_array_size(rows), want);
        json_array_foreach(rows, i, row)
        {
            json_t *off = json_object_get(row, "offline_epoch");
            bool will = json_is_integer(off) && json_integer_value(off) >= 2;
            json_t *ls = json_object_get(row, "last_seen");
            enum presence p = presence_state(json_is_integer(ls) ? json_integer_value(ls) : -1, now,
                                             will, &rules);
            assert_true(mask & (1u << p));
        }
        json_decref(rows);
    }
    /* Trains: unknown are those with no controller to take presence from (t00, t04, t08:
     * unassigned and never reported) plus those whose controller is unknown. */
    q.presence = 1u << PRESENCE_UNKNOWN;
    json_t *rows = page_of(st, true, &q);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *cid = str(row, "desired_controller_id");
        if (cid == NULL)
            continue;
        json_t *ctl = NULL;
        assert_int_equal(store_begin(st, false), 0);
        assert_int_equal(store_controller_get(st, cid, &ctl), 0);
        store_rollback(st);
        assert_true(json_is_null(json_object_get(ctl, "last_seen")));
        json_decref(ctl);
    }
    assert_true(json_array_size(rows) >= 3);
    json_decref(rows);
    /* The trains of several controllers in one query: two of them hold one train each. */
    json_t *ids = json_pack("[s, s, s]", "00000000-0000-4000-8000-000000000007",
                            "00000000-0000-4000-8000-000000000003", "nope");
    assert_int_equal(store_begin(st, false), 0);
    assert_int_equal(store_train_list_for(st, ids, &rows), 0);
    store_rollback(st);
    assert_int_equal(json_array_size(rows), 2);
    assert_string_equal(str(json_array_get(rows, 0), "id"), "t01"); /* creation order */
    assert_string_equal(str(json_array_get(rows, 1), "id"), "t02");
    json_decref(rows);
    json_decref(ids);
    json_decref(all);
    store_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrates_v1_database_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_operations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_typed_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_is_started_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_train_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pages, setup, teardown),
        cmocka_unit_test(test_redact),
        cmocka_unit_test_setup_teardown(test_failed_commit_ends_transaction, setup, teardown),
#ifndef NDEBUG
        cmocka_unit_test_setup_teardown(test_second_release_aborts_in_debug_builds, setup,
                                        teardown),
#endif
        cmocka_unit_test_setup_teardown(test_write_failure_is_tracked, setup, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test_setup_teardown(test_migrates_v1_database_in_place, pg_setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_newer_schema, pg_setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_operations, pg_setup, teardown),
        cmocka_unit_test_setup_teardown(test_typed_fields, pg_setup, teardown),
        cmocka_unit_test_setup_teardown(test_train_addresses, pg_setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_tables, pg_setup, teardown),
        cmocka_unit_test_setup_teardown(test_pages, pg_setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_conflicting_registrations, pg_setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
    if (RH_HAVE_POSTGRES)
        failed +=
            cmocka_run_group_tests_name("postgresql", pg_tests, pg_group_setup, pg_group_teardown);
    return failed;
}
