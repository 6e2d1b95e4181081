/* Controller secrets: shape, uniqueness, hash and constant-time comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "secret.h"

static void test_generate_shape_and_unique(void **state)
{
    (void)state;
    char a[SECRET_HEX_LEN + 1], b[SECRET_HEX_LEN + 1];
    assert_int_equal(secret_generate(a), 0);
    assert_int_equal(secret_generate(b), 0);
    assert_int_equal(strlen(a), SECRET_HEX_LEN);
    assert_true(secret_valid(a));
    assert_true(secret_valid(b));
    assert_string_not_equal(a, b);
}

static void test_valid(void **state)
{
    (void)state;
    char s[SECRET_HEX_LEN + 2];
    memset(s, 'a', SECRET_HEX_LEN);
    s[SECRET_HEX_LEN] = '\0';
    assert_true(secret_valid(s));
    s[3] = 'A'; /* upper case is not what the central issues */
    assert_false(secret_valid(s));
    s[3] = 'g';
    assert_false(secret_valid(s));
    s[3] = 'a';
    s[SECRET_HEX_LEN] = 'a';
    s[SECRET_HEX_LEN + 1] = '\0';
    assert_false(secret_valid(s)); /* one digit too many */
    s[SECRET_HEX_LEN - 1] = '\0';
    assert_false(secret_valid(s)); /* too few */
    assert_false(secret_valid(""));
    assert_false(secret_valid(NULL));
}

static void test_matches(void **state)
{
    (void)state;
    char s[SECRET_HEX_LEN + 1], other[SECRET_HEX_LEN + 1], h[SHA256_HEX_LEN + 1];
    assert_int_equal(secret_generate(s), 0);
    assert_int_equal(secret_generate(other), 0);
    secret_hash(s, h);
    assert_string_not_equal(h, s);
    assert_true(secret_matches(s, h));
    assert_false(secret_matches(other, h));
    assert_false(secret_matches(h, h)); /* the hash itself is no credential */
    assert_false(secret_matches(NULL, h));
    assert_false(secret_matches(s, NULL));
    assert_false(secret_matches(s, "abc"));
    /* Known vector: the hash is SHA-256 of the 64 hex characters. */
    memset(s, '0', SECRET_HEX_LEN);
    s[SECRET_HEX_LEN] = '\0';
    secret_hash(s, h);
    assert_string_equal(h, "60e05bd1b195af2f94112fa7197a5c88289058840ce7c6df9693756bc6250f55");
}

static void test_equal(void **state)
{
    (void)state;
    assert_true(secret_equal("abc", "abc"));
    assert_false(secret_equal("abc", "abd"));
    assert_false(secret_equal("abc", "abcd"));
    assert_false(secret_equal(NULL, "a"));
    assert_false(secret_equal("a", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_shape_and_unique),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
