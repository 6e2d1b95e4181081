/* Strict option parsing: whole string consumed, ranges checked, outputs untouched on failure. */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parse.h"

static void test_long_ok(void **state)
{
    long v = 0;
    assert_int_equal(parse_long("0", -10, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse_long("-10", -10, 10, &v), 0);
    assert_int_equal(v, -10);
    assert_int_equal(parse_long("10", -10, 10, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(parse_long("007", 0, 10, &v), 0); /* decimal, not octal */
    assert_int_equal(v, 7);

    char buf[32];
    snprintf(buf, sizeof buf, "%ld", LONG_MAX);
    assert_int_equal(parse_long(buf, LONG_MIN, LONG_MAX, &v), 0);
    assert_true(v == LONG_MAX);
    snprintf(buf, sizeof buf, "%ld", LONG_MIN);
    assert_int_equal(parse_long(buf, LONG_MIN, LONG_MAX, &v), 0);
    assert_true(v == LONG_MIN);
}

static void test_long_errors(void **state)
{
    static const struct {
        const char *s;
        int rc;
    } cases[] = {
        {"", -EINVAL},
        {" 1", -EINVAL},
        {"1 ", -EINVAL},
        {"1x", -EINVAL},
        {"x1", -EINVAL},
        {"-", -EINVAL},
        {"0x10", -EINVAL},
        {"1e3", -EINVAL},
        {"1.0", -EINVAL},
        {"11", -ERANGE},
        {"-11", -ERANGE},
        {"9223372036854775808", -ERANGE},
        {"-9223372036854775809", -ERANGE},
        {"99999999999999999999999999", -ERANGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long v = 12345;
        int rc = parse_long(cases[i].s, -10, 10, &v);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d", cases[i].s, rc, cases[i].rc);
        assert_int_equal(v, 12345);
    }
    long v = 12345;
    assert_int_equal(parse_long(NULL, 0, 10, &v), -EINVAL);
    assert_int_equal(v, 12345);
}

static void test_int(void **state)
{
    int v = 77;
    char buf[32];
    snprintf(buf, sizeof buf, "%d", INT_MAX);
    assert_int_equal(parse_int(buf, INT_MIN, INT_MAX, &v), 0);
    assert_int_equal(v, INT_MAX);
    snprintf(buf, sizeof buf, "%d", INT_MIN);
    assert_int_equal(parse_int(buf, INT_MIN, INT_MAX, &v), 0);
    assert_int_equal(v, INT_MIN);

    v = 77;
    snprintf(buf, sizeof buf, "%lld", (long long)INT_MAX + 1);
    assert_int_equal(parse_int(buf, INT_MIN, INT_MAX, &v), -ERANGE);
    snprintf(buf, sizeof buf, "%lld", (long long)INT_MIN - 1);
    assert_int_equal(parse_int(buf, INT_MIN, INT_MAX, &v), -ERANGE);
    assert_int_equal(parse_int("65536", 0, 65535, &v), -ERANGE);
    assert_int_equal(parse_int("-1", 0, 65535, &v), -ERANGE);
    assert_int_equal(parse_int("5 ", 0, 65535, &v), -EINVAL);
    assert_int_equal(parse_int("", 0, 65535, &v), -EINVAL);
    assert_int_equal(v, 77);
    assert_int_equal(parse_int("65535", 0, 65535, &v), 0);
    assert_int_equal(v, 65535);
}

static void test_double(void **state)
{
    double v = 0;
    assert_int_equal(parse_double("1.5", 0, 2, &v), 0);
    assert_true(v == 1.5);
    assert_int_equal(parse_double("-0.25", -1, 1, &v), 0);
    assert_true(v == -0.25);
    assert_int_equal(parse_double("1e3", 0, 1000, &v), 0); /* max is inclusive */
    assert_true(v == 1000.0);
    assert_int_equal(parse_double("0", 0, 1, &v), 0); /* min is inclusive */
    assert_true(v == 0.0);
    assert_int_equal(parse_double("7", 0, 10, &v), 0);
    assert_true(v == 7.0);

    static const struct {
        const char *s;
        int rc;
    } cases[] = {
        {"", -EINVAL},         {" 1", -EINVAL},     {"1 ", -EINVAL},  {"1.5x", -EINVAL},
        {".", -EINVAL},        {"nan", -EINVAL},    {"NaN", -EINVAL}, {"abc", -EINVAL},
        {"1000.001", -ERANGE}, {"-0.001", -ERANGE}, {"inf", -ERANGE}, {"-inf", -ERANGE},
        {"1e400", -ERANGE},    {"-1e400", -ERANGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        v = 42.0;
        int rc = parse_double(cases[i].s, 0, 1000, &v);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d", cases[i].s, rc, cases[i].rc);
        assert_true(v == 42.0);
    }
    v = 42.0;
    assert_int_equal(parse_double("1e308", -DBL_MAX, DBL_MAX, &v), 0);
    assert_true(v == 1e308);
    assert_int_equal(parse_double(NULL, 0, 1, &v), -EINVAL);
}

static void test_bool(void **state)
{
    static const char *const yes[] = {"true", "TRUE", "True", "yes", "YES", "on", "On", "1"};
    static const char *const no[] = {"false", "FALSE", "no", "No", "off", "OFF", "0"};
    static const char *const bad[] = {"",  " true", "true ", "t",     "y",      "n",
                                      "2", "-1",    "01",    "truex", "enabled"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        bool v = false;
        assert_int_equal(parse_bool(yes[i], &v), 0);
        assert_true(v);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        bool v = true;
        assert_int_equal(parse_bool(no[i], &v), 0);
        assert_false(v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool v = true;
        if (parse_bool(bad[i], &v) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(v);
    }
    bool v = true;
    assert_int_equal(parse_bool(NULL, &v), -EINVAL);
    assert_true(v);
}

static void check_host_port(const char *s, const char *host, int port)
{
    char h[64];
    int p = -1;
    int rc = parse_host_port(s, h, sizeof h, &p);
    if (rc != 0)
        fail_msg("\"%s\": rc %d", s, rc);
    assert_string_equal(h, host);
    assert_int_equal(p, port);
}

static void test_host_port_ok(void **state)
{
    check_host_port("localhost:1883", "localhost", 1883);
    check_host_port("127.0.0.1:0", "127.0.0.1", 0);
    check_host_port("broker.example.org:65535", "broker.example.org", 65535);
    check_host_port("[::1]:8883", "::1", 8883);
    check_host_port("[2001:db8::17]:80", "2001:db8::17", 80);
    check_host_port("[fe80::1%eth0]:1883", "fe80::1%eth0", 1883);
}

static void test_host_port_errors(void **state)
{
    static const struct {
        const char *s;
        int rc;
    } cases[] = {
        {"", -EINVAL},
        {"localhost", -EINVAL},
        {"localhost:", -EINVAL},
        {":1883", -EINVAL},
        {"localhost:18x3", -EINVAL},
        {"localhost:1883 ", -EINVAL},
        {"localhost: 1883", -EINVAL},
        {"localhost:65536", -ERANGE},
        {"localhost:-1", -ERANGE},
        {"localhost:99999999999999999999", -ERANGE},
        {"::1:1883", -EINVAL}, /* IPv6 needs brackets */
        {"[::1]", -EINVAL},
        {"[::1]1883", -EINVAL},
        {"[::1]:", -EINVAL},
        {"[::1:1883", -EINVAL},
        {"[]:1883", -EINVAL},
        {"[::1]:1883x", -EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char h[64] = "untouched";
        int p = -7;
        int rc = parse_host_port(cases[i].s, h, sizeof h, &p);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d", cases[i].s, rc, cases[i].rc);
        assert_string_equal(h, "untouched");
        assert_int_equal(p, -7);
    }
    char h[64] = "untouched";
    int p = -7;
    assert_int_equal(parse_host_port(NULL, h, sizeof h, &p), -EINVAL);
}

/* The host buffer needs room for the NUL. */
static void test_host_port_buffer_size(void **state)
{
    char h[10];
    int p = -1;
    assert_int_equal(parse_host_port("localhost:1", h, 9, &p), -EINVAL);
    assert_int_equal(p, -1);
    assert_int_equal(parse_host_port("localhost:1", h, 10, &p), 0);
    assert_string_equal(h, "localhost");
    assert_int_equal(p, 1);
    assert_int_equal(parse_host_port("[::1]:2", h, 3, &p), -EINVAL);
    assert_int_equal(parse_host_port("[::1]:2", h, 4, &p), 0);
    assert_string_equal(h, "::1");
    assert_int_equal(p, 2);
}

static void test_rate_per_min(void **state)
{
    static const struct {
        const char *s;
        long v;
    } ok[] = {{"1", 1}, {"60", 60}, {"60/min", 60}, {"60/MIN", 60}, {"5/m", 5}, {"5/M", 5}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        long v = -1;
        int rc = parse_rate_per_min(ok[i].s, &v);
        if (rc != 0)
            fail_msg("\"%s\": rc %d", ok[i].s, rc);
        assert_int_equal(v, ok[i].v);
    }
    static const struct {
        const char *s;
        int rc;
    } bad[] = {
        {"", -EINVAL},        {"/min", -EINVAL},    {"60/", -EINVAL},
        {"60/s", -EINVAL},    {"60/hour", -EINVAL}, {"60/minute/min", -EINVAL},
        {"60 /min", -EINVAL}, {"60/ min", -EINVAL}, {"abc/min", -EINVAL},
        {"6o", -EINVAL},      {"1.5", -EINVAL},     {"0", -ERANGE},
        {"0/min", -ERANGE},   {"-5", -ERANGE},      {"99999999999999999999/min", -ERANGE},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long v = -1;
        int rc = parse_rate_per_min(bad[i].s, &v);
        if (rc != bad[i].rc)
            fail_msg("\"%s\": rc %d, want %d", bad[i].s, rc, bad[i].rc);
        assert_int_equal(v, -1);
    }
    long v = -1;
    assert_true(parse_rate_per_min("1234567890123456789012345678901234567890/min", &v) < 0);
    assert_int_equal(parse_rate_per_min(NULL, &v), -EINVAL);
    assert_int_equal(v, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_ok),
        cmocka_unit_test(test_long_errors),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_double),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_host_port_ok),
        cmocka_unit_test(test_host_port_errors),
        cmocka_unit_test(test_host_port_buffer_size),
        cmocka_unit_test(test_rate_per_min),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
