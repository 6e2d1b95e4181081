/* The JSON writer gives the text json_dumps(json_pack(...), JSON_COMPACT) gives, for every
 * value specifier it takes; refuses what json_pack refuses (strings that are not UTF-8,
 * numbers that are not finite) and formats it does not write, leaving the buffer as it was. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jsonw.h"
#include "strbuf.h"

/* jansson's text of the object made from the same format and arguments. */
#define EXPECT_SAME(fmt, ...)                                                                      \
    do {                                                                                           \
        json_t *j_ = json_pack(fmt, __VA_ARGS__);                                                  \
        assert_non_null(j_);                                                                       \
        char *want_ = json_dumps(j_, JSON_COMPACT);                                                \
        json_decref(j_);                                                                           \
        char *got_ = NULL;                                                                         \
        size_t n_ = 0;                                                                             \
        assert_int_equal(jsonw_pack(&got_, &n_, fmt, __VA_ARGS__), 0);                             \
        assert_string_equal(got_, want_);                                                          \
        assert_int_equal(n_, strlen(want_));                                                       \
        free(got_);                                                                                \
        free(want_);                                                                               \
    } while (0)

static void test_scalars_as_jansson_writes_them(void **state)
{
    (void)state;
    EXPECT_SAME("{s:s, s:i, s:I, s:b, s:b, s:n}", "name", "pi-1", "n", -42, "big",
                (json_int_t)INT64_MIN, "yes", 1, "no", 0, "none");
    EXPECT_SAME("{s:I}", "max", (json_int_t)INT64_MAX);
    EXPECT_SAME("{s:f, s:f, s:f, s:f, s:f}", "a", 0.5, "b", 3.0, "c", 1e300, "d", -0.1, "e", 1e-7);
    EXPECT_SAME("{s:s?, s:s}", "gone", (const char *)NULL, "here", "x");
    EXPECT_SAME("{s:s*, s:s}", "gone", (const char *)NULL, "here", "x");
    EXPECT_SAME("{s:s*}", "gone", (const char *)NULL);
    EXPECT_SAME("{}", 0); /* no argument is read */
}

static void test_strings_escaped_as_jansson_does(void **state)
{
    (void)state;
    EXPECT_SAME("{s:s}", "q", "say \"hi\"\\ \n\t\r\b\f \x01\x1f end/");
    EXPECT_SAME("{s:s}", "utf8", "Zürich — 機関車 \xf0\x9f\x9a\x82");
    EXPECT_SAME("{s:s}", "key \"quoted\"", "");
}

static void test_json_values_dumped(void **state)
{
    (void)state;
    json_t *keep = json_pack("{s:[i,s], s:{}}", "list", 1, "a", "empty");
    json_t *seven = json_integer(7);
    EXPECT_SAME("{s:O, s:O, s:O?, s:O*}", "o", keep, "int", seven, "nul", (json_t *)NULL, "left",
                (json_t *)NULL);
    json_decref(seven);
    /* o steals: EXPECT_SAME packs twice (jansson, then ours), and each takes a reference. */
    json_incref(keep);
    json_incref(keep);
    EXPECT_SAME("{s:o}", "o", keep);
    EXPECT_SAME("{s:o, s:o, s:o}", "t", json_true(), "s", json_string("x\"y"), "r", json_real(2.5));
    json_decref(keep);
}

static int members(char **buf, size_t *len, size_t *cap, size_t start, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = jsonw_vmembers(buf, len, cap, start, fmt, &ap);
    va_end(ap);
    return rc;
}

static void test_refused_changes_nothing(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char *out = NULL;
    size_t n = 0;
    /* Not UTF-8: a lone continuation byte, an overlong form, a surrogate, past U+10FFFF, and
     * a sequence cut short; json_pack refuses each. */
    const char *bad[] = {"a\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(json_pack("{s:s}", "k", bad[i]));
        assert_int_equal(jsonw_pack(&out, &n, "{s:s}", "k", bad[i]), -EINVAL);
        assert_int_equal(jsonw_string(&buf, &len, &cap, bad[i], strlen(bad[i])), -EINVAL);
    }
    assert_int_equal(len, 0);
    assert_int_equal(jsonw_pack(&out, &n, "{s:f}", "k", NAN), -EINVAL);
    assert_int_equal(jsonw_pack(&out, &n, "{s:s}", "k", (const char *)NULL), -EINVAL);
    /* A failure after an o still releases it (ASan's leak check sees it otherwise). */
    assert_int_equal(jsonw_pack(&out, &n, "{s:o, s:s}", "o", json_string("x"), "k", "\xff"),
                     -EINVAL);
    assert_int_equal(jsonw_pack(&out, &n, "{s:s, s:o}", "k", "\xff", "o", json_string("x")),
                     -EINVAL);

    /* Members after text already there: a comma first; and when a later member fails, the
     * buffer is back where it was. */
    assert_int_equal(strbuf_append(&buf, &len, &cap, "{\"a\":1", 6), 0);
    assert_int_equal(members(&buf, &len, &cap, 1, "{s:s}", "b", "x"), 0);
    assert_string_equal(buf, "{\"a\":1,\"b\":\"x\"");
    assert_int_equal(members(&buf, &len, &cap, 1, "{s:s, s:s}", "c", "y", "d", "\xff"), -EINVAL);
    assert_string_equal(buf, "{\"a\":1,\"b\":\"x\"");
    assert_int_equal(len, strlen(buf));
    free(buf);
}

static void test_formats_it_does_not_write(void **state)
{
    (void)state;
    assert_true(jsonw_format_ok("{s:s, s:s?, s:I, s:i, s:b, s:f, s:n, s:o*, s:O?}"));
    assert_true(jsonw_format_ok("{}"));
    const char *other[] = {"[s, i]", "{s:[i]}", "{s:{s:s}}", "{s:s#}", "{s:i?}",
                           "{s:s",   "s:s}",    "{s:x}",     "{i:s}",  "{s:s} extra"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        assert_false(jsonw_format_ok(other[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_as_jansson_writes_them),
        cmocka_unit_test(test_strings_escaped_as_jansson_does),
        cmocka_unit_test(test_json_values_dumped),
        cmocka_unit_test(test_refused_changes_nothing),
        cmocka_unit_test(test_formats_it_does_not_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
