/* Exponential backoff with full jitter: ceilings, bounds and overflow safety. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

#define BASE 1000
#define CAP 60000

static void test_ceiling_doubles_then_caps(void **state)
{
    static const int64_t expected[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000};
    for (unsigned n = 0; n < sizeof expected / sizeof expected[0]; n++)
        assert_int_equal(backoff_ceiling_ms(n, BASE, CAP), expected[n]);
    assert_int_equal(backoff_ceiling_ms(63, BASE, CAP), CAP);
    assert_int_equal(backoff_ceiling_ms(64, BASE, CAP), CAP);
    assert_int_equal(backoff_ceiling_ms(1000, BASE, CAP), CAP);
    assert_int_equal(backoff_ceiling_ms(UINT_MAX, BASE, CAP), CAP);
}

static void test_ceiling_exact_cap(void **state)
{
    assert_int_equal(backoff_ceiling_ms(5, 1000, 32000), 32000);
    assert_int_equal(backoff_ceiling_ms(4, 1000, 32000), 16000);
    assert_int_equal(backoff_ceiling_ms(0, 5000, 3000), 3000); /* base above cap */
    assert_int_equal(backoff_ceiling_ms(0, 3000, 3000), 3000);
}

/* The header promises overflow safety: with a cap near INT64_MAX the doubling must stop at the
 * cap instead of overflowing (UBSan reports signed overflow in the sanitizer build). */
static void test_ceiling_no_overflow(void **state)
{
    assert_true(backoff_ceiling_ms(UINT_MAX, BASE, INT64_MAX) == INT64_MAX);
    assert_true(backoff_ceiling_ms(200, 1, INT64_MAX) == INT64_MAX);
    assert_true(backoff_ceiling_ms(62, 1, INT64_MAX) == (INT64_C(1) << 62));
    assert_true(backoff_ceiling_ms(63, 1, INT64_MAX) == INT64_MAX);
    assert_true(backoff_ceiling_ms(UINT_MAX, INT64_MAX / 2 + 1, INT64_MAX) == INT64_MAX);
}

/* A zero base never grows; huge attempt numbers must still return at once. */
static void test_ceiling_zero_base(void **state)
{
    assert_int_equal(backoff_ceiling_ms(0, 0, CAP), 0);
    assert_int_equal(backoff_ceiling_ms(UINT_MAX, 0, CAP), 0);
    assert_int_equal(backoff_delay_ms(UINT_MAX, 0, CAP, UINT64_MAX), 0);
}

static void test_delay_extremes(void **state)
{
    assert_int_equal(backoff_delay_ms(0, BASE, CAP, 0), 0);
    assert_int_equal(backoff_delay_ms(0, BASE, CAP, 1000), 1000); /* ceiling is reachable */
    assert_int_equal(backoff_delay_ms(0, BASE, CAP, 1001), 0);
    assert_int_equal(backoff_delay_ms(6, BASE, CAP, 60000), 60000);
    assert_true(backoff_delay_ms(UINT_MAX, BASE, CAP, UINT64_MAX) <= CAP);
    assert_true(backoff_delay_ms(UINT_MAX, BASE, INT64_MAX, UINT64_MAX) >= 0);
}

static void test_delay_within_ceiling(void **state)
{
    uint64_t seed = 1;
    static const unsigned attempts[] = {0, 1, 2, 3, 5, 6, 7, 31, 32, 63, 64, 65, 1000, UINT_MAX};
    for (size_t a = 0; a < sizeof attempts / sizeof attempts[0]; a++) {
        int64_t ceil = backoff_ceiling_ms(attempts[a], BASE, CAP);
        for (int i = 0; i < 2000; i++) {
            int64_t d = backoff_delay_ms(attempts[a], BASE, CAP, backoff_rand(&seed));
            if (d < 0 || d > ceil)
                fail_msg("attempt %u: delay %lld outside [0, %lld]", attempts[a], (long long)d,
                         (long long)ceil);
        }
    }
}

/* Full jitter spreads over the whole range rather than clustering at the ceiling. */
static void test_delay_spread(void **state)
{
    uint64_t seed = 42;
    int low = 0, high = 0;
    for (int i = 0; i < 10000; i++) {
        int64_t d = backoff_delay_ms(10, BASE, CAP, backoff_rand(&seed));
        if (d < CAP / 10)
            low++;
        if (d > CAP - CAP / 10)
            high++;
    }
    assert_in_range(low, 700, 1300);
    assert_in_range(high, 700, 1300);
}

/* xorshift64* reference values for seed 1 (computed independently in Python). */
static void test_rand_sequence(void **state)
{
    uint64_t seed = 1;
    assert_true(backoff_rand(&seed) == UINT64_C(0x47e4ce4b896cdd1d));
    assert_true(backoff_rand(&seed) == UINT64_C(0xabcfa6a8e079651d));
    assert_true(backoff_rand(&seed) == UINT64_C(0xb9d10d8feb731f57));
    assert_true(seed == UINT64_C(0xd004003202803));
    for (int i = 0; i < 100000; i++) {
        backoff_rand(&seed);
        assert_true(seed != 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ceiling_doubles_then_caps),
        cmocka_unit_test(test_ceiling_exact_cap),
        cmocka_unit_test(test_ceiling_no_overflow),
        cmocka_unit_test(test_ceiling_zero_base),
        cmocka_unit_test(test_delay_extremes),
        cmocka_unit_test(test_delay_within_ceiling),
        cmocka_unit_test(test_delay_spread),
        cmocka_unit_test(test_rand_sequence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
