/* The growing heap buffer: formatted and raw appends, growth from empty, the NUL kept after
 * the bytes, and the buffer left as it was when an append cannot be done. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "strbuf.h"

static void test_append_grows_from_empty_and_keeps_a_nul(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    assert_int_equal(strbuf_append(&buf, &len, &cap, "ab", 2), 0);
    assert_int_equal(len, 2);
    assert_string_equal(buf, "ab");
    /* Bytes past the first capacity, with a NUL inside them (bodies are binary). */
    char big[5000];
    memset(big, 'x', sizeof big);
    big[100] = '\0';
    assert_int_equal(strbuf_append(&buf, &len, &cap, big, sizeof big), 0);
    assert_int_equal(len, 2 + sizeof big);
    assert_true(cap >= len + 1);
    assert_int_equal(buf[len], '\0');
    assert_memory_equal(buf + 2, big, sizeof big);
    assert_int_equal(strbuf_append(&buf, &len, &cap, NULL, 0), 0);
    assert_int_equal(len, 2 + sizeof big);
    free(buf);
}

static void test_append_too_much_changes_nothing(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    assert_int_equal(strbuf_append(&buf, &len, &cap, "abc", 3), 0);
    char *before = buf;
    size_t cap_before = cap;
    assert_int_equal(strbuf_append(&buf, &len, &cap, "x", SIZE_MAX - 1), -ENOMEM);
    assert_ptr_equal(buf, before);
    assert_int_equal(len, 3);
    assert_int_equal(cap, cap_before);
    assert_string_equal(buf, "abc");
    free(buf);
}

static void test_appendf_after_raw(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    assert_int_equal(strbuf_append(&buf, &len, &cap, "n=", 2), 0);
    assert_int_equal(strbuf_appendf(&buf, &len, &cap, "%d %s", 42, "trains"), 0);
    assert_string_equal(buf, "n=42 trains");
    assert_int_equal(len, strlen("n=42 trains"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_grows_from_empty_and_keeps_a_nul),
        cmocka_unit_test(test_append_too_much_changes_nothing),
        cmocka_unit_test(test_appendf_after_raw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
