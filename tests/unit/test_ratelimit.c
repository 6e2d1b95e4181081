/* Token bucket per client address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ratelimit.h"

static void test_burst_then_refill(void **state)
{
    struct ratelimit *rl = ratelimit_new(60, 3, 8); /* 1 per second, burst 3 */
    int retry = 0;
    assert_true(ratelimit_take(rl, "10.0.0.1", 0, &retry));
    assert_true(ratelimit_take(rl, "10.0.0.1", 0, &retry));
    assert_true(ratelimit_take(rl, "10.0.0.1", 0, &retry));
    assert_false(ratelimit_take(rl, "10.0.0.1", 0, &retry));
    assert_int_equal(retry, 1);
    /* Another address has its own bucket. */
    assert_true(ratelimit_take(rl, "10.0.0.2", 0, &retry));
    /* One token after a second, not two. */
    assert_true(ratelimit_take(rl, "10.0.0.1", 1000, &retry));
    assert_false(ratelimit_take(rl, "10.0.0.1", 1000, &retry));
    ratelimit_free(rl);
}

static void test_retry_after_reflects_rate(void **state)
{
    struct ratelimit *rl = ratelimit_new(6, 1, 8); /* one per 10 s */
    int retry = 0;
    assert_true(ratelimit_take(rl, "a", 0, &retry));
    assert_false(ratelimit_take(rl, "a", 0, &retry));
    assert_in_range(retry, 10, 11);
    ratelimit_free(rl);
}

static void test_bounded_keys(void **state)
{
    struct ratelimit *rl = ratelimit_new(60, 1, 2);
    int retry;
    char key[16];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_true(ratelimit_take(rl, key, i, &retry));
    }
    ratelimit_free(rl);
    ratelimit_free(NULL);
}

/* Capacity 0 (no keys), no refill or no burst: refused by the constructor. Before, zero keys
 * made the first take write through a NULL bucket, and a zero rate divided by zero. */
static void test_refuses_zero_capacity(void **state)
{
    errno = 0;
    assert_null(ratelimit_new(60, 3, 0));
    assert_int_equal(errno, EINVAL);
    assert_null(ratelimit_new(0, 3, 8));
    assert_null(ratelimit_new(60, 0, 8));
    assert_null(ratelimit_new(-1, 3, 8));
    /* The smallest valid limiter works: one key, one token. */
    struct ratelimit *rl = ratelimit_new(1, 1, 1);
    assert_non_null(rl);
    int retry = 0;
    assert_true(ratelimit_take(rl, "a", 0, &retry));
    assert_false(ratelimit_take(rl, "a", 0, &retry));
    assert_in_range(retry, 60, 61);
    assert_true(ratelimit_take(rl, "b", 0, &retry)); /* recycles the only bucket */
    ratelimit_free(rl);
}

/* A key longer than the bucket's key keeps its bucket (it used to get a full one each time). */
static void test_long_key_is_limited(void **state)
{
    struct ratelimit *rl = ratelimit_new(60, 1, 8);
    char key[200];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    int retry = 0;
    assert_true(ratelimit_take(rl, key, 0, &retry));
    assert_false(ratelimit_take(rl, key, 0, &retry));
    ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refill),
        cmocka_unit_test(test_retry_after_reflects_rate),
        cmocka_unit_test(test_bounded_keys),
        cmocka_unit_test(test_refuses_zero_capacity),
        cmocka_unit_test(test_long_key_is_limited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
