/* Train commands: parsing (every accepted form, every rejection) and their effect on ramp and
 * motor, with the simulator plugin and a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trains.h"

static int parse(const char *s, struct train_cmd *c)
{
    char err[160] = "";
    int rc = train_cmd_parse(s, strlen(s), c, err, sizeof err);
    if (rc < 0)
        assert_true(err[0] != '\0');
    return rc;
}

static void test_parse_actions(void **state)
{
    (void)state;
    struct train_cmd c;
    assert_int_equal(parse("{\"action\":\"setSpeed\",\"speed\":40}", &c), 0);
    assert_int_equal(c.action, PROTO_ACT_SET_SPEED);
    assert_true(c.has_speed && c.speed == 40 && !c.has_direction);

    assert_int_equal(parse("{\"action\":\"setSpeed\",\"speed\":0,\"direction\":\"REVERSE\"}", &c),
                     0);
    assert_true(c.has_direction && c.direction == MOTOR_REVERSE && c.speed == 0);

    assert_int_equal(parse("{\"action\":\"setDirection\",\"direction\":\"FORWARD\"}", &c), 0);
    assert_int_equal(c.action, PROTO_ACT_SET_DIRECTION);
    assert_int_equal(c.direction, MOTOR_FORWARD);

    assert_int_equal(parse("{\"action\":\"setDirection\",\"direction\":\"BACKWARD\"}", &c), 0);
    assert_int_equal(c.direction, MOTOR_REVERSE);
    assert_int_equal(parse("{\"action\":\"setDirection\",\"direction\":\"reverse\"}", &c), 0);
    assert_int_equal(c.direction, MOTOR_REVERSE);

    assert_int_equal(parse("{\"action\":\"start\"}", &c), 0);
    assert_int_equal(c.action, PROTO_ACT_START);
    assert_false(c.has_speed);
    assert_int_equal(parse("{\"action\":\"stop\"}", &c), 0);
    assert_int_equal(c.action, PROTO_ACT_STOP);
    assert_int_equal(parse("{\"action\":\"emergencyStop\",\"reason\":\"x\",\"ts\":1}", &c), 0);
    assert_int_equal(c.action, PROTO_ACT_ESTOP);
    assert_int_equal(parse("{\"action\":\"setSpeed\",\"speed\":33.6}", &c), 0);
    assert_int_equal(c.speed, 34);
    assert_int_equal(parse("{\"action\":\"setSpeed\",\"speed\":100,\"direction\":null}", &c), 0);
    assert_false(c.has_direction);
}

static void test_parse_legacy(void **state)
{
    (void)state;
    struct train_cmd c;
    assert_int_equal(parse("{\"speed\":25}", &c), 0);
    assert_int_equal(c.action, PROTO_ACT_SET_SPEED);
    assert_int_equal(c.speed, 25);
    assert_int_equal(parse("{\"speed\":25,\"direction\":\"REVERSE\"}", &c), 0);
    assert_int_equal(c.direction, MOTOR_REVERSE);
    assert_int_equal(parse("{\"command\":\"start\"}", &c), 0);
    assert_int_equal(c.action, PROTO_ACT_START);
    assert_int_equal(parse("{\"command\":\"stop\"}", &c), 0);
    assert_int_equal(c.action, PROTO_ACT_STOP);
    assert_int_equal(parse("{\"command\":\"setSpeed\",\"speed\":70}", &c), 0);
    assert_int_equal(c.action, PROTO_ACT_SET_SPEED);
    assert_int_equal(parse("{\"action\":\"stop\",\"command\":\"stop\"}", &c), 0);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "42",
        "null",
        "{}",
        "{\"action\":\"fly\"}",
        "{\"action\":\"forward\"}",
        "{\"action\":42}",
        "{\"command\":\"jump\"}",
        "{\"action\":\"stop\",\"command\":\"start\"}",
        "{\"action\":\"setSpeed\"}",
        "{\"action\":\"setSpeed\",\"speed\":101}",
        "{\"action\":\"setSpeed\",\"speed\":-1}",
        "{\"action\":\"setSpeed\",\"speed\":\"50\"}",
        "{\"action\":\"setSpeed\",\"speed\":true}",
        "{\"action\":\"setSpeed\",\"speed\":1e300}",
        "{\"action\":\"setSpeed\",\"speed\":50,\"direction\":\"LEFT\"}",
        "{\"action\":\"setSpeed\",\"speed\":50,\"direction\":1}",
        "{\"action\":\"setDirection\"}",
        "{\"action\":\"start\",\"speed\":500}",
        "{\"speed\":\"fast\"}",
        "{\"action\":\"stop\",\"action\":\"start\"}",
    };
    struct train_cmd c;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&c, 0x5a, sizeof c);
        if (parse(bad[i], &c) != -EINVAL)
            fail_msg("accepted: %s", bad[i]);
        /* Nothing written on failure: the caller never sees half a command. */
        for (size_t k = 0; k < sizeof c; k++)
            assert_int_equal(((unsigned char *)&c)[k], 0x5a);
    }
    char err[64];
    assert_int_equal(train_cmd_parse(NULL, 0, &c, err, sizeof err), -EINVAL);
    /* Over the 64 KiB bound, even when well-formed. */
    size_t n = PROTO_COMMAND_MAX + 100;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, "{\"speed\":1}", 11);
    big[n] = '\0';
    assert_int_equal(train_cmd_parse(big, n, &c, err, sizeof err), -EINVAL);
    free(big);
}

/* --- applying commands ------------------------------------------------------------------ */

static json_t *one_train(const char *plugin, bool invert)
{
    return json_pack("[{s:s, s:{s:s, s:{s:i}}, s:b}]", "train_id", "t1", "plugin", "name", plugin,
                     "config", "motor_port", 1, "invert_directions", invert);
}

static int motor_speed(const struct train *t, const char **dir)
{
    json_t *d = motor_describe(t->motor);
    int speed = (int)json_integer_value(json_object_get(d, "speed"));
    static char buf[16];
    const char *s = json_string_value(json_object_get(d, "direction"));
    snprintf(buf, sizeof buf, "%s", s ? s : "");
    if (dir != NULL)
        *dir = buf;
    json_decref(d);
    return speed;
}

static void cmd(struct train *t, const char *json, int64_t now)
{
    struct train_cmd c;
    assert_int_equal(parse(json, &c), 0);
    assert_int_equal(trains_command(t, &c, now), 0);
}

static void test_ramp_and_estop(void **state)
{
    (void)state;
    struct trains ts;
    trains_init(&ts, false, 3000);
    json_t *list = one_train("simulator", false);
    assert_int_equal(trains_configure(&ts, list, 0), 0);
    struct train *t = trains_find(&ts, "t1");
    assert_non_null(t);
    assert_string_equal(t->commands_topic, "trains/t1/commands");
    assert_string_equal(t->status_topic, "trains/t1/status");
    assert_ptr_equal(trains_find_by_topic(&ts, "trains/t1/commands"), t);

    cmd(t, "{\"action\":\"setSpeed\",\"speed\":60}", 1000);
    assert_int_equal(ramp_state(&t->ramp), TRAIN_RAMPING);
    trains_tick(&ts, 2500);
    assert_int_equal(t->ramp.speed, 30);
    assert_int_equal(motor_speed(t, NULL), 30);

    /* Emergency stop mid-ramp: 0 at once, and no later tick re-energises the motor. */
    cmd(t, "{\"action\":\"emergencyStop\"}", 2600);
    assert_int_equal(t->ramp.speed, 0);
    assert_int_equal(motor_speed(t, NULL), 0);
    assert_int_equal(ramp_state(&t->ramp), TRAIN_ESTOPPED);
    for (int64_t now = 2700; now <= 10000; now += 100) {
        trains_tick(&ts, now);
        assert_int_equal(motor_speed(t, NULL), 0);
    }
    assert_true(trains_next_ramp_ms(&ts, 10000) == -1);

    /* A new explicit command lifts it. */
    cmd(t, "{\"speed\":20}", 11000);
    trains_tick(&ts, 14000);
    assert_int_equal(motor_speed(t, NULL), 20);
    assert_int_equal(ramp_state(&t->ramp), TRAIN_RUNNING);

    /* stop ramps down. */
    cmd(t, "{\"command\":\"stop\"}", 15000);
    trains_tick(&ts, 16500);
    assert_int_equal(motor_speed(t, NULL), 10);
    trains_tick(&ts, 18000);
    assert_int_equal(motor_speed(t, NULL), 0);
    assert_int_equal(ramp_state(&t->ramp), TRAIN_STOPPED);

    /* start: default speed, ramped. */
    cmd(t, "{\"action\":\"start\"}", 20000);
    trains_tick(&ts, 20000);
    assert_true(t->ramp.speed < TRAIN_START_DEFAULT_SPEED);
    trains_tick(&ts, 23000);
    assert_int_equal(motor_speed(t, NULL), TRAIN_START_DEFAULT_SPEED);

    trains_free(&ts);
    json_decref(list);
}

static void test_reverse_goes_through_zero(void **state)
{
    (void)state;
    struct trains ts;
    const char *dir;
    trains_init(&ts, false, 1000);
    json_t *list = one_train("simulator", false);
    trains_configure(&ts, list, 0);
    struct train *t = &ts.v[0];
    cmd(t, "{\"action\":\"setSpeed\",\"speed\":40}", 0);
    trains_tick(&ts, 1000);
    assert_int_equal(motor_speed(t, NULL), 40);
    cmd(t, "{\"action\":\"setDirection\",\"direction\":\"REVERSE\"}", 2000);
    trains_tick(&ts, 2500);
    assert_int_equal(motor_speed(t, &dir), 20);
    assert_string_equal(dir, "FORWARD");
    for (int64_t now = 2500; now <= 5000; now += 10) {
        trains_tick(&ts, now);
        int s = motor_speed(t, &dir);
        /* Never driven backwards while still moving forwards. */
        if (strcmp(dir, "BACKWARD") == 0 && now < 3000)
            assert_int_equal(s, 0);
    }
    assert_int_equal(motor_speed(t, &dir), 40);
    assert_string_equal(dir, "BACKWARD");
    trains_free(&ts);
    json_decref(list);
}

static void test_invert_directions(void **state)
{
    (void)state;
    struct trains ts;
    const char *dir;
    trains_init(&ts, false, 1000);
    json_t *list = one_train("simulator", true);
    trains_configure(&ts, list, 0);
    struct train *t = &ts.v[0];
    cmd(t, "{\"action\":\"setSpeed\",\"speed\":10,\"direction\":\"FORWARD\"}", 0);
    trains_tick(&ts, 1000);
    /* The motor turns the other way; the status keeps the operator's direction. */
    assert_int_equal(motor_speed(t, &dir), 10);
    assert_string_equal(dir, "BACKWARD");
    json_t *st = train_status_json(t, "c", 0);
    assert_string_equal(json_string_value(json_object_get(st, "direction")), "FORWARD");
    json_decref(st);
    trains_free(&ts);
    json_decref(list);
}

static void test_unknown_plugin_reported(void **state)
{
    (void)state;
    struct trains ts;
    struct train_cmd c;
    trains_init(&ts, true, 1000); /* even in simulation: no silent fallback */
    json_t *list = one_train("warp_drive", false);
    assert_int_equal(trains_configure(&ts, list, 0), 1);
    struct train *t = &ts.v[0];
    assert_null(t->motor);
    assert_non_null(strstr(t->error, "warp_drive"));
    assert_int_equal(parse("{\"speed\":10}", &c), 0);
    assert_int_equal(trains_command(t, &c, 0), -ENODEV);
    trains_free(&ts);
    json_decref(list);
}

static void test_simulate_forces_simulator(void **state)
{
    (void)state;
    struct trains ts;
    trains_init(&ts, true, 1000);
    json_t *list = one_train("dc_motor_hat", false);
    assert_int_equal(trains_configure(&ts, list, 0), 0);
    json_t *d = motor_describe(ts.v[0].motor);
    assert_string_equal(json_string_value(json_object_get(d, "plugin")), "simulator");
    json_decref(d);
    trains_free(&ts);
    json_decref(list);
}

static int removed_count;
static char removed_id[PROTO_TRAIN_ID_MAX + 1];
static void on_removed(void *ctx, const struct train *t)
{
    (void)ctx;
    removed_count++;
    snprintf(removed_id, sizeof removed_id, "%s", t->id);
    assert_int_equal(t->ramp.speed, 0); /* stopped before the caller hears of it */
    assert_int_equal(motor_speed(t, NULL), 0);
}

static void test_reconfigure(void **state)
{
    (void)state;
    struct trains ts;
    trains_init(&ts, false, 1000);
    json_t *a = one_train("simulator", false);
    trains_configure(&ts, a, 0);
    cmd(&ts.v[0], "{\"speed\":30}", 0);
    trains_tick(&ts, 1000);
    struct motor *m = ts.v[0].motor;

    /* Same train, same driver: motor and ramp kept (no jolt). */
    json_t *b = json_pack("[{s:s, s:{s:s, s:{s:i}}, s:b}, {s:s, s:{s:s}}]", "train_id", "t1",
                          "plugin", "name", "simulator", "config", "motor_port", 1,
                          "invert_directions", 0, "train_id", "t2", "plugin", "name", "simulator");
    assert_int_equal(trains_configure(&ts, b, 2000), 0);
    assert_int_equal(ts.n, 2);
    assert_ptr_equal(trains_find(&ts, "t1")->motor, m);
    assert_false(trains_find(&ts, "t1")->opened);
    assert_true(trains_find(&ts, "t2")->opened);
    assert_int_equal(trains_find(&ts, "t1")->ramp.speed, 30);
    assert_int_equal(trains_releasing(&ts), 0);

    /* t1 removed: kept running, marked releasing, until released. */
    json_t *c = json_pack("[{s:s, s:{s:s}}]", "train_id", "t2", "plugin", "name", "simulator");
    assert_int_equal(trains_configure(&ts, c, 3000), 0);
    struct train *t1 = trains_find(&ts, "t1");
    assert_non_null(t1);
    assert_true(t1->releasing);
    assert_int_equal(t1->ramp.speed, 30);
    assert_ptr_equal(t1->motor, m);
    assert_int_equal(trains_releasing(&ts), 1);
    /* Only stop and emergencyStop while it is being released. */
    struct train_cmd sc;
    assert_int_equal(parse("{\"speed\":80}", &sc), 0);
    assert_int_equal(trains_command(t1, &sc, 3000), -EBUSY);
    assert_int_equal(t1->ramp.target_speed, 30);
    /* Its command topic still finds it (stop, emergencyStop), a kept train first. */
    assert_ptr_equal(trains_find_by_topic(&ts, "trains/t1/commands"), t1);
    /* Released: ramps down, removed once it stands still, reported after its motor stopped. */
    trains_release_start(&ts, 3000);
    assert_int_equal(trains_reap(&ts, false, on_removed, NULL), 1);
    assert_int_equal(removed_count, 0);
    trains_tick(&ts, 3500);
    assert_true(trains_find(&ts, "t1")->ramp.speed > 0);
    assert_int_equal(trains_reap(&ts, false, on_removed, NULL), 1);
    trains_tick(&ts, 4000);
    assert_int_equal(trains_reap(&ts, false, on_removed, NULL), 0);
    assert_int_equal(removed_count, 1);
    assert_string_equal(removed_id, "t1");
    assert_null(trains_find(&ts, "t1"));
    assert_int_equal(ts.n, 1);

    /* Moved away and back before it was released: simply kept. */
    cmd(&ts.v[0], "{\"speed\":20}", 4000);
    json_t *none = json_array();
    assert_int_equal(trains_configure(&ts, none, 4100), 0);
    assert_true(ts.v[0].releasing);
    assert_int_equal(trains_configure(&ts, c, 4200), 0);
    assert_false(ts.v[0].releasing);
    assert_false(ts.v[0].opened);

    /* Nothing assigned is valid; forced release cuts a moving train at once. */
    trains_tick(&ts, 5000);
    assert_true(ts.v[0].ramp.speed > 0);
    assert_int_equal(trains_configure(&ts, none, 5000), 0);
    assert_int_equal(trains_reap(&ts, true, on_removed, NULL), 0);
    assert_int_equal(ts.n, 0);
    assert_int_equal(removed_count, 2);
    trains_free(&ts);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(none);
}

/* The check before an apply: only trains that would get a new driver must name a known
 * plugin; nothing is touched. */
static void test_check_before_apply(void **state)
{
    (void)state;
    struct trains ts;
    char err[200] = "";
    trains_init(&ts, true, 1000);
    json_t *good = one_train("simulator", false);
    json_t *warp = one_train("warp_drive", false);
    assert_int_equal(trains_check(&ts, good, err, sizeof err), 0);
    assert_int_equal(trains_check(&ts, warp, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "warp_drive"));
    assert_non_null(strstr(err, "t1"));
    trains_configure(&ts, good, 0);
    cmd(&ts.v[0], "{\"speed\":40}", 0);
    trains_tick(&ts, 1000);
    /* Changing the running train's plugin to an unknown one: refused, train untouched. */
    assert_int_equal(trains_check(&ts, warp, err, sizeof err), -EINVAL);
    assert_int_equal(ts.v[0].ramp.speed, 40);
    assert_int_equal(motor_speed(&ts.v[0], NULL), 40);
    trains_free(&ts);

    /* A train already broken with the same driver is not news: it passes the check, and
     * reopening it and failing again does not count as a new failure. */
    trains_init(&ts, true, 1000);
    assert_int_equal(trains_configure(&ts, warp, 0), 1);
    assert_int_equal(trains_check(&ts, warp, err, sizeof err), 0);
    assert_int_equal(trains_configure(&ts, warp, 10), 0);
    assert_true(ts.v[0].error[0] != '\0');
    trains_free(&ts);
    json_decref(good);
    json_decref(warp);
}

static void test_train_id_rule(void **state)
{
    (void)state;
    char id[PROTO_TRAIN_ID_MAX + 2];
    memset(id, 'a', sizeof id);
    id[PROTO_TRAIN_ID_MAX] = '\0';
    assert_true(proto_train_id_valid(id, PROTO_TRAIN_ID_MAX));
    id[PROTO_TRAIN_ID_MAX] = 'a';
    id[PROTO_TRAIN_ID_MAX + 1] = '\0';
    assert_false(proto_train_id_valid(id, PROTO_TRAIN_ID_MAX + 1));
    assert_true(proto_train_id_valid("t-1.x", 5));
    assert_true(proto_train_id_valid("Zug\xc3\xbc", 5));
    static const char *const bad[] = {"",     "a b",  "a/b",   "a+b", "a#b",
                                      "a\tb", "a\nb", "a\x7f", "\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(proto_train_id_valid(bad[i], strlen(bad[i])));
    assert_false(proto_train_id_valid("a\0b", 3)); /* embedded NUL */
    assert_false(proto_train_id_valid(NULL, 0));
}

static void test_status_rate(void **state)
{
    (void)state;
    struct trains ts;
    trains_init(&ts, false, 3000);
    json_t *list = one_train("simulator", false);
    trains_configure(&ts, list, 0);
    struct train *t = &ts.v[0];
    assert_true(trains_status_due(t, 0)); /* initial status */
    assert_false(trains_status_due(t, 10));
    cmd(t, "{\"speed\":100}", 1000);
    /* During a ramp: at most one per 100 ms. */
    int published = 0;
    for (int64_t now = 1000; now <= 4000; now += 5) {
        trains_tick(&ts, now);
        if (trains_status_due(t, now))
            published++;
    }
    assert_true(published <= 31);
    assert_true(published >= 10);
    /* Steady and moving: every 5 s. */
    int64_t last = -1;
    for (int64_t now = 4005; now <= 20000; now += 5) {
        trains_tick(&ts, now);
        if (trains_status_due(t, now)) {
            if (last >= 0)
                assert_true(now - last == TRAIN_STATUS_PERIOD_MS);
            last = now;
        }
    }
    assert_true(last > 0);
    /* Emergency stop bypasses the rate limit. */
    trains_estop(t);
    assert_true(trains_status_due(t, last + 1));
    json_t *st = train_status_json(t, "ctl", 0);
    assert_int_equal(json_integer_value(json_object_get(st, "speed")), 0);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "estopped");
    assert_string_equal(json_string_value(json_object_get(st, "controller_id")), "ctl");
    json_decref(st);
    /* Stopped: no periodic messages. */
    assert_true(trains_next_wake(&ts, last + 2) == -1);
    trains_free(&ts);
    json_decref(list);
}

static void test_stop_all(void **state)
{
    (void)state;
    struct trains ts;
    trains_init(&ts, false, 1000);
    json_t *list = one_train("simulator", false);
    trains_configure(&ts, list, 0);
    assert_int_equal(trains_stop_all(&ts, 0), 0);
    cmd(&ts.v[0], "{\"speed\":50}", 0);
    trains_tick(&ts, 1000);
    assert_int_equal(trains_stop_all(&ts, 1000), 1);
    trains_tick(&ts, 2000);
    assert_int_equal(motor_speed(&ts.v[0], NULL), 0);
    trains_free(&ts);
    json_decref(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_actions),
        cmocka_unit_test(test_parse_legacy),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_ramp_and_estop),
        cmocka_unit_test(test_reverse_goes_through_zero),
        cmocka_unit_test(test_invert_directions),
        cmocka_unit_test(test_unknown_plugin_reported),
        cmocka_unit_test(test_simulate_forces_simulator),
        cmocka_unit_test(test_reconfigure),
        cmocka_unit_test(test_check_before_apply),
        cmocka_unit_test(test_train_id_rule),
        cmocka_unit_test(test_status_rate),
        cmocka_unit_test(test_stop_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
