/* The request-body reader: the bodies edges send are read by its own subset, to the value
 * jansson gives; everything outside the subset is left to jansson, whose value or error
 * jsonr_loadb then returns unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jsonr.h"

static json_t *subset(const char *text)
{
    return jsonr_subset(text, strlen(text));
}

/* text is read by the subset, to jansson's value. */
static void expect_read(const char *text)
{
    json_t *fast = subset(text);
    json_t *ref = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(fast);
    assert_non_null(ref);
    assert_true(json_equal(fast, ref));
    json_decref(fast);
    json_decref(ref);
}

static void test_reads_edge_bodies(void **state)
{
    (void)state;
    expect_read("{\"name\": \"pi-bench\", \"uuid\": \"5e1f0c2a-7b1d-4c1e-9a55-0f3c2d9b8a61\", "
                "\"address\": \"127.0.0.1\", \"version\": \"0.1.0\", \"platform\": \"linux\", "
                "\"config_version\": 12, \"issue_secret\": true}");
    expect_read("{\"config_version\": 2, \"session_epoch\": 7, \"trains\": [{\"train_id\": "
                "\"bench-1\", \"speed\": 0, \"direction\": \"FORWARD\"}], \"errors\": []}");
    expect_read(" {\"x\":[true,false,null,[],{}, -12 ,\"s\", -0]}\r\n\t");
    expect_read("{}");
    expect_read("{\"max\":999999999999999999,\"min\":-999999999999999999,\"del\":\"\x7f\"}");
    json_t *j = subset("{\"n\": 5}");
    assert_true(json_is_integer(json_object_get(j, "n"))); /* not a real */
    json_decref(j);
}

/* Outside the subset: jsonr_subset gives NULL, and jsonr_loadb jansson's value or error. */
static void test_leaves_the_rest_to_jansson(void **state)
{
    (void)state;
    static const char *const others[] = {
        "{\"a\":1,\"a\":2}",           /* a duplicate: jansson refuses it */
        "{\"a\":\"\\n\"}",             /* an escape */
        "{\"a\":\"\xc3\xa9\"}",        /* UTF-8 */
        "{\"r\":1.5}",                 /* a fraction */
        "{\"r\":1e3}",                 /* an exponent */
        "{\"m\":01}",                  /* a leading zero */
        "{\"b\":9223372036854775807}", /* 19 digits */
        "{\"x\":tru}",
        "{\"x\":truex}",
        "{\"x\":1,}",
        "{\"x\":1} x",
        "[1,2]",
        "\"s\"",
        "{\"x\" 1}",
        "{\"x\":1 \"y\":2}",
        "{x:1}",
        "{\"x\":",
        "",
        "{\"d\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}", /* deeper than JSONR_DEPTH_MAX */
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        const char *t = others[i];
        assert_null(subset(t));
        json_error_t e1, e2;
        json_t *ref = json_loadb(t, strlen(t), JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e1);
        json_t *got = jsonr_loadb(t, strlen(t), JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e2);
        assert_true((ref == NULL) == (got == NULL));
        if (ref != NULL)
            assert_true(json_equal(ref, got));
        else
            assert_string_equal(e1.text, e2.text);
        json_decref(ref);
        json_decref(got);
    }
    /* A NUL byte inside the text. */
    assert_null(jsonr_subset("{\"k\":\"a\0\"}", 9));
    /* Flags that change the reading go to jansson: integers as reals. */
    json_t *r = jsonr_loadb("{\"n\":5}", 7, JSON_DECODE_INT_AS_REAL, NULL);
    assert_true(json_is_real(json_object_get(r, "n")));
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_edge_bodies),
        cmocka_unit_test(test_leaves_the_rest_to_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
