/* The SQLite store: migrations from an older schema, the basic row operations, failed
 * commits and failing writes. */
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
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "store.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/rh-store-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/test.db", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int count_rows(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int n = -1;
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
    /* A version-2 column does not exist yet. */
    json_t *v2 = json_pack("{s:s}", "hardware_id", "x");
    assert_int_not_equal(store_controller_update(st, "0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e", v2),
                         0);
    assert_int_equal(store_commit(st), 0);
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
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "INSERT INTO schema_migrations(version) VALUES (99)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrates_v1_database_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_operations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_train_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_ends_transaction, setup, teardown),
#ifndef NDEBUG
        cmocka_unit_test_setup_teardown(test_second_release_aborts_in_debug_builds, setup,
                                        teardown),
#endif
        cmocka_unit_test_setup_teardown(test_write_failure_is_tracked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
