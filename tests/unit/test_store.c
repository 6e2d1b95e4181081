/* The SQLite store: migrations from an older schema, and the basic row operations. */
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
#include <sqlite3.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrates_v1_database_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_operations, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
