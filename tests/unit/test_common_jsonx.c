/* Typed JSON getters: absent -> 0, valid -> 1, invalid -> negative with the key in err.field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jsonx.h"

#define UUID_LOWER "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"
#define UUID_UPPER "6F1C2A9E-3B4D-4E5F-8A7B-9C0D1E2F3A4B"

static int setup(void **state)
{
    json_error_t jerr;
    json_t *doc = json_loads("{\"name\":\"yard\",\"empty\":\"\",\"count\":7,\"real\":7.0,"
                             "\"neg\":-3,\"flag\":true,\"off\":false,\"nothing\":null,"
                             "\"obj\":{\"a\":1},\"arr\":[1],\"numstr\":\"5\","
                             "\"nul\":\"a\\u0000b\",\"utf\":\"\\u00e9\\u00e9\","
                             "\"big\":9223372036854775807,\"small\":-9223372036854775808,"
                             "\"lower\":\"" UUID_LOWER "\",\"upper\":\" " UUID_UPPER "\","
                             "\"baduuid\":\"6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4\"}",
                             JSON_ALLOW_NUL, &jerr);
    if (doc == NULL)
        return -1;
    *state = doc;
    return 0;
}

static int teardown(void **state)
{
    json_decref(*state);
    return 0;
}

static void assert_err(const struct jsonx_err *err, const char *field)
{
    assert_string_equal(err->field, field);
    assert_true(strlen(err->detail) > 0);
    assert_non_null(strstr(err->detail, field));
}

static void test_string(void **state)
{
    const json_t *doc = *state;
    struct jsonx_err err = {0};
    const char *s = "untouched";

    assert_int_equal(jsonx_string(doc, "absent", 0, 10, false, &s, &err), 0);
    assert_string_equal(s, "untouched");
    assert_int_equal(jsonx_string(doc, "name", 1, 64, false, &s, &err), 1);
    assert_string_equal(s, "yard");
    assert_int_equal(jsonx_string(doc, "name", 4, 4, false, &s, &err), 1); /* inclusive */
    assert_int_equal(jsonx_string(doc, "empty", 0, 4, false, &s, &err), 1);
    assert_string_equal(s, "");
    assert_string_equal(err.field, ""); /* no error so far */

    s = "untouched";
    assert_true(jsonx_string(doc, "name", 5, 64, false, &s, &err) < 0);
    assert_err(&err, "name");
    assert_string_equal(s, "untouched");
    memset(&err, 0, sizeof err);
    assert_true(jsonx_string(doc, "name", 0, 3, false, &s, &err) < 0);
    assert_err(&err, "name");
    memset(&err, 0, sizeof err);
    assert_true(jsonx_string(doc, "empty", 1, 3, false, &s, &err) < 0);
    assert_err(&err, "empty");
    assert_string_equal(s, "untouched");
}

static void test_string_types_and_null(void **state)
{
    const json_t *doc = *state;
    static const char *const wrong[] = {"count", "flag", "obj", "arr", "real"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        struct jsonx_err err = {0};
        const char *s = "untouched";
        assert_true(jsonx_string(doc, wrong[i], 0, 64, true, &s, &err) < 0);
        assert_err(&err, wrong[i]);
        assert_string_equal(s, "untouched");
    }
    struct jsonx_err err = {0};
    const char *s = "untouched";
    assert_true(jsonx_string(doc, "nothing", 0, 64, false, &s, &err) < 0);
    assert_err(&err, "nothing");
    assert_string_equal(s, "untouched");
    assert_int_equal(jsonx_string(doc, "nothing", 1, 64, true, &s, &err), 1);
    assert_null(s);
}

/* Lengths are in characters (UTF-8 code points), as people count a name; embedded NULs would
 * truncate the C string and are refused. */
static void test_string_chars_and_nul(void **state)
{
    const json_t *doc = *state;
    struct jsonx_err err = {0};
    const char *s = NULL;
    assert_int_equal(jsonx_string(doc, "utf", 2, 2, false, &s, &err), 1);
    assert_string_equal(s, "\xc3\xa9\xc3\xa9");
    assert_true(jsonx_string(doc, "utf", 0, 1, false, &s, &err) < 0);
    assert_true(jsonx_string(doc, "utf", 3, 4, false, &s, &err) < 0);
    memset(&err, 0, sizeof err);
    s = "untouched";
    assert_true(jsonx_string(doc, "nul", 0, 64, false, &s, &err) < 0);
    assert_err(&err, "nul");
    assert_string_equal(s, "untouched");
}

static void test_int(void **state)
{
    const json_t *doc = *state;
    struct jsonx_err err = {0};
    int64_t v = 99;
    assert_int_equal(jsonx_int(doc, "absent", 0, 10, &v, &err), 0);
    assert_int_equal(v, 99);
    assert_int_equal(jsonx_int(doc, "count", 0, 10, &v, &err), 1);
    assert_int_equal(v, 7);
    assert_int_equal(jsonx_int(doc, "count", 7, 7, &v, &err), 1);
    assert_int_equal(jsonx_int(doc, "neg", -3, 0, &v, &err), 1);
    assert_true(v == -3);
    assert_int_equal(jsonx_int(doc, "big", INT64_MIN, INT64_MAX, &v, &err), 1);
    assert_true(v == INT64_MAX);
    assert_int_equal(jsonx_int(doc, "small", INT64_MIN, INT64_MAX, &v, &err), 1);
    assert_true(v == INT64_MIN);

    v = 99;
    assert_true(jsonx_int(doc, "count", 8, 10, &v, &err) < 0);
    assert_err(&err, "count");
    memset(&err, 0, sizeof err);
    assert_true(jsonx_int(doc, "count", 0, 6, &v, &err) < 0);
    assert_err(&err, "count");
    memset(&err, 0, sizeof err);
    assert_true(jsonx_int(doc, "neg", 0, 10, &v, &err) < 0);
    assert_err(&err, "neg");
    assert_int_equal(v, 99);

    static const char *const wrong[] = {"real", "numstr", "nothing", "flag", "obj", "arr"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_true(jsonx_int(doc, wrong[i], INT64_MIN, INT64_MAX, &v, &err) < 0);
        assert_err(&err, wrong[i]);
        assert_int_equal(v, 99);
    }
}

static void test_bool(void **state)
{
    const json_t *doc = *state;
    struct jsonx_err err = {0};
    bool b = false;
    assert_int_equal(jsonx_bool(doc, "absent", &b, &err), 0);
    assert_false(b);
    assert_int_equal(jsonx_bool(doc, "flag", &b, &err), 1);
    assert_true(b);
    assert_int_equal(jsonx_bool(doc, "off", &b, &err), 1);
    assert_false(b);
    static const char *const wrong[] = {"count", "name", "nothing", "obj"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        memset(&err, 0, sizeof err);
        b = true;
        assert_true(jsonx_bool(doc, wrong[i], &b, &err) < 0);
        assert_err(&err, wrong[i]);
        assert_true(b);
    }
}

static void test_object(void **state)
{
    const json_t *doc = *state;
    struct jsonx_err err = {0};
    json_t *o = (json_t *)doc;
    assert_int_equal(jsonx_object(doc, "absent", false, &o, &err), 0);
    assert_ptr_equal(o, doc);
    assert_int_equal(jsonx_object(doc, "obj", false, &o, &err), 1);
    assert_ptr_equal(o, json_object_get(doc, "obj"));
    assert_int_equal(jsonx_object(doc, "nothing", true, &o, &err), 1);
    assert_null(o);

    o = (json_t *)doc;
    assert_true(jsonx_object(doc, "nothing", false, &o, &err) < 0);
    assert_err(&err, "nothing");
    static const char *const wrong[] = {"arr", "name", "count"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_true(jsonx_object(doc, wrong[i], true, &o, &err) < 0);
        assert_err(&err, wrong[i]);
    }
    assert_ptr_equal(o, doc);
}

static void test_uuid(void **state)
{
    const json_t *doc = *state;
    struct jsonx_err err = {0};
    char out[37] = "untouched";
    bool is_null = true;
    assert_int_equal(jsonx_uuid(doc, "absent", false, out, &is_null, &err), 0);
    assert_string_equal(out, "untouched");
    assert_int_equal(jsonx_uuid(doc, "lower", false, out, &is_null, &err), 1);
    assert_string_equal(out, UUID_LOWER);
    assert_false(is_null);
    memset(out, 0, sizeof out);
    is_null = true;
    assert_int_equal(jsonx_uuid(doc, "upper", false, out, &is_null, &err), 1);
    assert_string_equal(out, UUID_LOWER);
    assert_false(is_null);
    assert_int_equal(jsonx_uuid(doc, "lower", false, out, NULL, &err), 1);

    assert_int_equal(jsonx_uuid(doc, "nothing", true, out, &is_null, &err), 1);
    assert_true(is_null);
    assert_int_equal(jsonx_uuid(doc, "nothing", true, out, NULL, &err), 1);

    static const char *const wrong[] = {"baduuid", "name", "count", "nothing", "obj"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        memset(&err, 0, sizeof err);
        char keep[37] = "untouched";
        assert_true(jsonx_uuid(doc, wrong[i], false, keep, &is_null, &err) < 0);
        assert_err(&err, wrong[i]);
        assert_string_equal(keep, "untouched");
    }
}

/* A body that is not an object has no keys; a NULL err is allowed. */
static void test_non_object_and_null_err(void **state)
{
    json_t *arr = json_pack("[i]", 1);
    int64_t v = 5;
    const char *s = "untouched";
    assert_int_equal(jsonx_int(arr, "count", 0, 10, &v, NULL), 0);
    assert_int_equal(jsonx_string(NULL, "name", 0, 10, false, &s, NULL), 0);
    assert_int_equal(v, 5);
    json_decref(arr);

    const json_t *doc = *state;
    assert_true(jsonx_int(doc, "name", 0, 10, &v, NULL) < 0);
    assert_true(jsonx_string(doc, "count", 0, 10, false, &s, NULL) < 0);
    bool b;
    assert_true(jsonx_bool(doc, "count", &b, NULL) < 0);
}

static void test_err_set(void **state)
{
    struct jsonx_err err;
    memset(&err, 'x', sizeof err);
    jsonx_err_set(&err, "speed", "'%s' must be at most %d", "speed", 100);
    assert_string_equal(err.field, "speed");
    assert_string_equal(err.detail, "'speed' must be at most 100");

    char longkey[200];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    jsonx_err_set(&err, longkey, "%s", longkey);
    assert_int_equal(strlen(err.field), sizeof err.field - 1);
    assert_int_equal(strlen(err.detail), sizeof err.detail - 1);
    jsonx_err_set(&err, NULL, "x");
    assert_string_equal(err.field, "");
    jsonx_err_set(NULL, "f", "x");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_string_types_and_null),
        cmocka_unit_test(test_string_chars_and_nul),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_object),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_non_object_and_null_err),
        cmocka_unit_test(test_err_set),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
