/* The HTTP server's pure rules: UTF-8 validity and scrubbing of echoed text, the
 * --cors-origins list, and same-origin by the Host header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http_rules.h"

static void test_utf8(void **state)
{
    (void)state;
    assert_true(http_utf8_valid(""));
    assert_true(http_utf8_valid("Zürich Hbf \xe2\x82\xac \xf0\x9f\x9a\x82"));
    assert_false(http_utf8_valid("\xc0\xaf"));         /* overlong '/' */
    assert_false(http_utf8_valid("\xed\xa0\x80"));     /* a surrogate */
    assert_false(http_utf8_valid("\xf4\x90\x80\x80")); /* past U+10FFFF */
    assert_false(http_utf8_valid("ab\xe2\x82"));       /* cut in the middle */
    char s[] = "ok \xff \xe2\x82\xac \xe2\x82";
    http_utf8_scrub(s);
    assert_string_equal(s, "ok ? \xe2\x82\xac ??");
    assert_true(http_utf8_valid(s));
}

static void test_origin_list(void **state)
{
    (void)state;
    bool any = true;
    assert_false(http_origin_listed(NULL, "http://a.lan", &any));
    assert_false(any);
    assert_false(http_origin_listed("", "http://a.lan", &any));
    assert_true(http_origin_listed("*", NULL, &any));
    assert_true(any);
    const char *list = "http://ui.lan:3000, HTTPS://Other.Lan ,http://x";
    assert_true(http_origin_listed(list, "http://ui.lan:3000", &any));
    assert_false(any);
    assert_true(http_origin_listed(list, "https://other.lan", &any));
    assert_true(http_origin_listed(list, "http://x", &any));
    assert_false(http_origin_listed(list, "http://ui.lan", &any));
    assert_false(http_origin_listed(list, "http://x.evil", &any));
    assert_false(http_origin_listed(list, NULL, &any));
}

static void test_same_origin(void **state)
{
    (void)state;
    assert_true(http_same_origin("http://pi.lan:8000", "pi.lan:8000"));
    assert_true(http_same_origin("HTTP://PI.lan:8000", "pi.LAN:8000"));
    assert_true(http_same_origin("http://pi.lan", "pi.lan:80"));
    assert_true(http_same_origin("https://pi.lan:443", "pi.lan"));
    assert_true(http_same_origin("http://[::1]:8000", "[::1]:8000"));
    assert_false(http_same_origin("http://pi.lan:8001", "pi.lan:8000"));
    assert_false(http_same_origin("https://pi.lan", "pi.lan:80"));
    assert_false(http_same_origin("http://pi.lan.evil", "pi.lan"));
    assert_false(http_same_origin("http://pi.lan/x", "pi.lan"));
    assert_false(http_same_origin("null", "pi.lan"));
    assert_false(http_same_origin("http://", "pi.lan"));
    assert_false(http_same_origin(NULL, "pi.lan"));
    assert_false(http_same_origin("http://pi.lan", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_origin_list),
        cmocka_unit_test(test_same_origin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
