/* ISO-8601 UTC formatting and parsing, including the earlier system's zone-less format. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backoff.h"
#include "timeutil.h"

#define T_2026 INT64_C(1795774500) /* 2026-11-27T10:15:00Z */

static void test_format(void **state)
{
    char out[TIMEUTIL_ISO_LEN + 1];
    assert_int_equal(timeutil_format(0, out), 0);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    assert_int_equal(timeutil_format(T_2026, out), 0);
    assert_string_equal(out, "2026-11-27T10:15:00Z");
    assert_int_equal(timeutil_format(-1, out), 0);
    assert_string_equal(out, "1969-12-31T23:59:59Z");
    assert_int_equal(timeutil_format(1709208000, out), 0);
    assert_string_equal(out, "2024-02-29T12:00:00Z");
    assert_int_equal(timeutil_format(INT64_C(253402300799), out), 0);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
}

/* Years that do not fit four digits cannot be represented and must not be truncated. */
static void test_format_out_of_range(void **state)
{
    char out[TIMEUTIL_ISO_LEN + 1];
    assert_int_equal(timeutil_format(INT64_C(253402300800), out), -EINVAL);
    assert_int_equal(timeutil_format(INT64_MAX, out), -EINVAL);
    assert_int_equal(timeutil_format(INT64_MIN, out), -EINVAL);
}

static void test_format_ms(void **state)
{
    char out[32];
    assert_int_equal(timeutil_format_ms(0, out, sizeof out), 0);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    assert_int_equal(timeutil_format_ms(T_2026 * 1000 + 123, out, sizeof out), 0);
    assert_string_equal(out, "2026-11-27T10:15:00.123Z");
    assert_int_equal(timeutil_format_ms(T_2026 * 1000 + 7, out, sizeof out), 0);
    assert_string_equal(out, "2026-11-27T10:15:00.007Z");
    assert_int_equal(timeutil_format_ms(-1, out, sizeof out), 0);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    assert_int_equal(timeutil_format_ms(-1000, out, sizeof out), 0);
    assert_string_equal(out, "1969-12-31T23:59:59.000Z");
    assert_int_equal(timeutil_format_ms(-1001, out, sizeof out), 0);
    assert_string_equal(out, "1969-12-31T23:59:58.999Z");
}

static void test_format_ms_buffer(void **state)
{
    char out[25];
    assert_int_equal(timeutil_format_ms(T_2026 * 1000, out, 25), 0);
    assert_int_equal(strlen(out), 24);
    assert_true(timeutil_format_ms(T_2026 * 1000, out, 24) < 0);
    assert_true(timeutil_format_ms(INT64_MAX, out, sizeof out) < 0);
}

static void check_parse(const char *s, int64_t expected)
{
    int64_t v = -12345;
    int rc = timeutil_parse_ms(s, &v);
    if (rc != 0)
        fail_msg("\"%s\": rc %d", s, rc);
    if (v != expected)
        fail_msg("\"%s\": %lld, want %lld", s, (long long)v, (long long)expected);
}

static void test_parse_zones(void **state)
{
    const int64_t t = T_2026 * 1000;
    check_parse("2026-11-27T10:15:00Z", t);
    check_parse("2026-11-27T10:15:00z", t);
    check_parse("2026-11-27t10:15:00Z", t);
    check_parse("2026-11-27T10:15:00+00:00", t);
    check_parse("2026-11-27T10:15:00-00:00", t);
    check_parse("2026-11-27T04:45:00-05:30", t);
    check_parse("2026-11-27T15:45:00+05:30", t);
    check_parse("2026-11-27T23:15:00+13:00", t);
    /* Offsets move the date across midnight. */
    check_parse("2026-11-26T23:15:00-11:00", t);
    check_parse("2026-11-27 10:15:00Z", t);
}

/* The earlier system wrote "YYYY-MM-DD HH:MM:SS" in UTC without a zone. */
static void test_parse_legacy(void **state)
{
    check_parse("2026-11-27 10:15:00", T_2026 * 1000);
    check_parse("1970-01-01 00:00:00", 0);
    check_parse("2024-02-29 12:00:00", INT64_C(1709208000) * 1000);
}

static void test_parse_fractions(void **state)
{
    const int64_t t = T_2026 * 1000;
    check_parse("2026-11-27T10:15:00.123Z", t + 123);
    check_parse("2026-11-27T10:15:00.5Z", t + 500);
    check_parse("2026-11-27T10:15:00.05Z", t + 50);
    check_parse("2026-11-27T10:15:00.000Z", t);
    check_parse("2026-11-27T10:15:00.999999999Z", t + 999); /* truncated to ms */
    check_parse("2026-11-27T10:15:00.123456+00:00", t + 123);
    check_parse("2026-11-27T04:45:00.250-05:30", t + 250);
    check_parse("2026-11-27 10:15:00.1", t + 100);
}

static void test_parse_epoch_and_calendar(void **state)
{
    check_parse("1970-01-01T00:00:00Z", 0);
    check_parse("1970-01-01T00:00:00.000+00:00", 0);
    check_parse("1970-01-01T01:00:00+01:00", 0);
    check_parse("1969-12-31T23:59:59.999Z", -1);
    check_parse("1900-01-01T00:00:00Z", INT64_C(-2208988800) * 1000);
    check_parse("2000-02-29T00:00:00Z", INT64_C(951782400) * 1000);
    check_parse("2024-02-29T12:00:00Z", INT64_C(1709208000) * 1000);
    check_parse("9999-12-31T23:59:59Z", INT64_C(253402300799) * 1000);
}

static void test_parse_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "2026-11-27",
        "2026-11-27T10:15",
        "2026-11-27T10:15:0Z",
        "2026-1-27T10:15:00Z",
        "26-11-27T10:15:00Z",
        "2026/11/27T10:15:00Z",
        "2026-11-27X10:15:00Z",
        "2026-11-27T10-15-00Z",
        "2026-11-27T10:15:00ZZ",
        "2026-11-27T10:15:00Z ",
        " 2026-11-27T10:15:00Z",
        "2026-11-27T10:15:00.Z",
        "2026-11-27T10:15:00.",
        "2026-11-27T10:15:00+05",
        "2026-11-27T10:15:00+5:30",
        "2026-11-27T10:15:00+24:00",
        "2026-11-27T10:15:00+05:60",
        "2026-11-27T10:15:00 UTC",
        "2025-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z", /* century, not a leap year */
        "2024-02-30T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-32T00:00:00Z",
        "2026-11-27T24:00:00Z",
        "2026-11-27T10:60:00Z",
        "2026-11-27T10:15:61Z",
        "2026-11-27 10:15:00 ",
        "2026-11-27T1O:15:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = -12345;
        if (timeutil_parse_ms(bad[i], &v) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(v == -12345);
    }
    int64_t v = -12345;
    assert_int_equal(timeutil_parse_ms(NULL, &v), -EINVAL);
    assert_true(v == -12345);
}

static void test_round_trip(void **state)
{
    static const int64_t fixed[] = {0,
                                    1,
                                    -1,
                                    999,
                                    1000,
                                    T_2026 * 1000 + 123,
                                    INT64_C(951782400) * 1000 - 1,
                                    INT64_C(253402300799) * 1000 + 999,
                                    INT64_C(-2208988800) * 1000};
    char out[32];
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        int64_t back = 0;
        assert_int_equal(timeutil_format_ms(fixed[i], out, sizeof out), 0);
        assert_int_equal(timeutil_parse_ms(out, &back), 0);
        if (back != fixed[i])
            fail_msg("%lld -> %s -> %lld", (long long)fixed[i], out, (long long)back);
    }
    /* Pseudo-random instants between 1900 and 2100 (fixed seed: reproducible). */
    uint64_t seed = 0x5eed;
    const int64_t lo = INT64_C(-2208988800) * 1000, span = INT64_C(6311433600) * 1000;
    for (int i = 0; i < 20000; i++) {
        int64_t ms = lo + (int64_t)(backoff_rand(&seed) % (uint64_t)span), back = 0;
        assert_int_equal(timeutil_format_ms(ms, out, sizeof out), 0);
        assert_int_equal(timeutil_parse_ms(out, &back), 0);
        if (back != ms)
            fail_msg("%lld -> %s -> %lld", (long long)ms, out, (long long)back);
        if (ms % 1000 == 0 || i % 7 == 0) {
            char whole[TIMEUTIL_ISO_LEN + 1];
            int64_t s = ms / 1000 - (ms % 1000 < 0);
            assert_int_equal(timeutil_format(s, whole), 0);
            assert_int_equal(timeutil_parse_ms(whole, &back), 0);
            assert_true(back == s * 1000);
        }
    }
}

static void test_clocks(void **state)
{
    int64_t now = timeutil_now_ms();
    assert_true(now > INT64_C(1577836800000)); /* after 2020-01-01 */
    int64_t a = timeutil_mono_ms(), b = timeutil_mono_ms();
    assert_true(b >= a);
}

/* A deadline ms from now on the monotonic clock: normalised, never in the past. */
static void test_mono_after(void **state)
{
    (void)state;
    const int64_t steps[] = {0, 1, 999, 1000, 1001, 1999, 86400000, -5};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int64_t before = timeutil_mono_us();
        struct timespec t = timeutil_mono_after(steps[i]);
        int64_t after = timeutil_mono_us();
        assert_true(t.tv_nsec >= 0 && t.tv_nsec < 1000000000L);
        int64_t at_us = (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
        int64_t want = steps[i] < 0 ? 0 : steps[i] * 1000;
        assert_true(at_us >= before + want);
        assert_true(at_us <= after + want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mono_after),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_out_of_range),
        cmocka_unit_test(test_format_ms),
        cmocka_unit_test(test_format_ms_buffer),
        cmocka_unit_test(test_parse_zones),
        cmocka_unit_test(test_parse_legacy),
        cmocka_unit_test(test_parse_fractions),
        cmocka_unit_test(test_parse_epoch_and_calendar),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
