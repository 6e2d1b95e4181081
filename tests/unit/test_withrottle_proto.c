/* The WiThrottle line protocol: lines, commands, speed mapping, roster and names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "withrottle_proto.h"

static int parse(const char *line, struct withrottle_cmd *c)
{
    return withrottle_parse(line, strlen(line), c);
}

static void test_session_commands(void **state)
{
    (void)state;
    struct withrottle_cmd c;
    assert_int_equal(parse("NMy phone", &c), 0);
    assert_int_equal(c.kind, WT_NAME);
    assert_string_equal(c.text, "My phone");
    assert_int_equal(parse("HUabc", &c), 0);
    assert_int_equal(c.kind, WT_HWID);
    assert_int_equal(parse("*", &c), 0);
    assert_int_equal(c.kind, WT_HEARTBEAT);
    assert_int_equal(parse("*+", &c), 0);
    assert_int_equal(c.kind, WT_HEARTBEAT_ON);
    assert_int_equal(parse("*-", &c), 0);
    assert_int_equal(c.kind, WT_HEARTBEAT_OFF);
    assert_int_equal(parse("PPA0", &c), 0);
    assert_int_equal(c.kind, WT_POWER);
    assert_int_equal(c.value, 0);
    assert_int_equal(parse("PPA1", &c), 0);
    assert_int_equal(c.value, 1);
    assert_int_equal(parse("PPA2", &c), -EINVAL);
    assert_int_equal(parse("Q", &c), 0);
    assert_int_equal(c.kind, WT_QUIT);
    assert_int_equal(parse("PTA2LT12", &c), 0);
    assert_int_equal(c.kind, WT_IGNORED);
    assert_int_equal(parse("ZZZ", &c), -EINVAL);
    assert_int_equal(parse("Qx", &c), -EINVAL);
    assert_int_equal(parse("N\x01", &c), -EINVAL);
}

static void test_throttle_commands(void **state)
{
    (void)state;
    struct withrottle_cmd c;
    assert_int_equal(parse("MT+L1234<;>L1234", &c), 0);
    assert_int_equal(c.kind, WT_THROTTLE);
    assert_int_equal(c.throttle, 'T');
    assert_int_equal(c.op, WT_OP_ACQUIRE);
    assert_int_equal(c.key_type, 'L');
    assert_int_equal(c.address, 1234);
    assert_int_equal(c.action, WT_ACT_ADDRESS);
    assert_int_equal(parse("M0+S3<;>ERGS 41", &c), 0);
    assert_int_equal(c.action, WT_ACT_ROSTER);
    assert_string_equal(c.text, "RGS 41");
    assert_int_equal(c.key_type, 'S');
    assert_int_equal(parse("MTAS3<;>V63", &c), 0);
    assert_int_equal(c.action, WT_ACT_SPEED);
    assert_int_equal(c.value, 63);
    assert_int_equal(parse("MTAS3<;>V-1", &c), 0);
    assert_int_equal(c.value, -1);
    assert_int_equal(parse("MTA*<;>R0", &c), 0);
    assert_true(c.all);
    assert_int_equal(c.action, WT_ACT_DIRECTION);
    assert_int_equal(c.value, 0);
    assert_int_equal(parse("MTAS3<;>I", &c), 0);
    assert_int_equal(c.action, WT_ACT_IDLE);
    assert_int_equal(parse("MTAS3<;>X", &c), 0);
    assert_int_equal(c.action, WT_ACT_ESTOP);
    assert_int_equal(parse("MTAS3<;>s1", &c), 0);
    assert_int_equal(c.action, WT_ACT_STEPS);
    assert_int_equal(parse("MTAS3<;>F112", &c), 0);
    assert_int_equal(c.action, WT_ACT_FUNCTION);
    assert_true(c.press);
    assert_int_equal(c.value, 12);
    assert_int_equal(parse("MTAS3<;>qR", &c), 0);
    assert_int_equal(c.action, WT_ACT_QUERY);
    assert_int_equal(c.value, 'R');
    assert_int_equal(parse("MT-*<;>r", &c), 0);
    assert_int_equal(c.op, WT_OP_RELEASE);
    assert_int_equal(c.action, WT_ACT_RELEASE);
    assert_int_equal(parse("MT-L41<;>d", &c), 0);
    assert_int_equal(c.action, WT_ACT_DISPATCH);
    assert_int_equal(parse("MTAS3<;>m1", &c), 0);
    assert_int_equal(c.action, WT_ACT_OTHER);
}

static void test_bad_throttle_commands(void **state)
{
    (void)state;
    struct withrottle_cmd c;
    static const char *const bad[] = {
        "M",
        "MT",
        "MT+",
        "MT+S3",
        "MT+S3<;>",
        "MT+*<;>S3",
        "MT+S0<;>S0",
        "MT+L10000<;>L10000",
        "MT+X3<;>X3",
        "MTAS3<;>V127",
        "MTAS3<;>V-2",
        "MTAS3<;>V",
        "MTAS3<;>R2",
        "MTAS3<;>Ix",
        "MTAS3<;>F9",
        "MTAS3<;>F2",
        "MTAS3<;>qX",
        "MT?S3<;>V1",
        "M +S3<;>S3",
        "MTAS-3<;>V1",
        "MT-S3<;>V1",
        "MTAS3<;>V1x",
        "MTAS00001234567<;>V1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i], &c) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    }
    assert_int_equal(withrottle_parse("MTAS3<;>V1", 0, &c), -EINVAL);
}

static void test_speed_mapping(void **state)
{
    (void)state;
    assert_int_equal(withrottle_speed_to_percent(0), 0);
    assert_int_equal(withrottle_speed_to_percent(-1), 0);
    assert_int_equal(withrottle_speed_to_percent(63), 50);
    assert_int_equal(withrottle_speed_to_percent(126), 100);
    assert_int_equal(withrottle_percent_to_speed(0), 0);
    assert_int_equal(withrottle_percent_to_speed(1), 1);
    assert_int_equal(withrottle_percent_to_speed(50), 63);
    assert_int_equal(withrottle_percent_to_speed(100), 126);
    /* Every percentage survives the trip through the throttle's steps. */
    for (int p = 0; p <= 100; p++)
        assert_int_equal(withrottle_speed_to_percent(withrottle_percent_to_speed(p)), p);
}

struct collect {
    char lines[8][WITHROTTLE_LINE_MAX + 1];
    int n;
};

static int collect(void *ctx, const char *line, size_t len)
{
    struct collect *c = ctx;
    assert_int_equal(strlen(line), len);
    if (c->n < 8)
        snprintf(c->lines[c->n++], sizeof c->lines[0], "%s", line);
    return 0;
}

static void test_lines(void **state)
{
    (void)state;
    struct withrottle_linebuf lb = {0};
    struct collect c = {0};
    assert_int_equal(withrottle_linebuf_feed(&lb, "*+\r\nMTA", 7, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(withrottle_linebuf_feed(&lb, "S3<;>V1\n\n\rQ\r", 12, collect, &c), 0);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.lines[0], "*+");
    assert_string_equal(c.lines[1], "MTAS3<;>V1");
    assert_string_equal(c.lines[2], "Q");
    char big[WITHROTTLE_LINE_MAX + 1];
    memset(big, 'N', sizeof big);
    assert_int_equal(withrottle_linebuf_feed(&lb, big, WITHROTTLE_LINE_MAX, collect, &c), 0);
    assert_int_equal(withrottle_linebuf_feed(&lb, "N", 1, collect, &c), -EMSGSIZE);
}

static void test_roster_and_names(void **state)
{
    (void)state;
    struct withrottle_roster_entry e[] = {{"RGS 41", 41}, {"Test]\\[Loco}|{x<;>", 1234}};
    char *out = NULL;
    assert_int_equal(withrottle_format_roster(e, 2, &out), 0);
    assert_string_equal(out, "RL2]\\[RGS 41}|{41}|{S]\\[Test \\ Loco   x   }|{1234}|{L");
    free(out);
    assert_int_equal(withrottle_format_roster(NULL, 0, &out), 0);
    assert_string_equal(out, "RL0");
    free(out);
    char line[64];
    assert_int_equal(withrottle_format_train(line, sizeof line, 'T', 'A', 'S', 3, "V63"), 0);
    assert_string_equal(line, "MTAS3<;>V63");
    assert_int_equal(withrottle_format_train(line, 8, 'T', 'A', 'S', 3, "V63"), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_commands),
        cmocka_unit_test(test_throttle_commands),
        cmocka_unit_test(test_bad_throttle_commands),
        cmocka_unit_test(test_speed_mapping),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_roster_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
