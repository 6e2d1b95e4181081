/* Ramp engine: every rule of docs/edge.md "Driving rules" and its boundaries, driven with explicit
 * times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ramp.h"

/* A ramp that has reached `speed` in `dir` and is idle at time t. */
static void ramp_at(struct ramp *r, int speed, enum motor_direction dir, int64_t t)
{
    ramp_init(r, RAMP_DEFAULT_MS);
    ramp_set_target(r, speed, dir, t - RAMP_DEFAULT_MS - 1);
    ramp_tick(r, t - RAMP_DEFAULT_MS - 1);
    ramp_tick(r, t);
    assert_int_equal(r->speed, speed);
    assert_int_equal(r->direction, dir);
    assert_false(r->active);
}

static void test_initial_state(void **state)
{
    struct ramp r;

    ramp_init(&r, RAMP_DEFAULT_MS);
    assert_int_equal(r.speed, 0);
    assert_int_equal(r.direction, MOTOR_FORWARD);
    assert_int_equal(ramp_state(&r), TRAIN_STOPPED);
    assert_int_equal(ramp_next_change_ms(&r, 0), -1);
    assert_false(ramp_tick(&r, 100000));
    assert_int_equal(r.speed, 0);
}

static void test_duration_defaults(void **state)
{
    struct ramp r;

    ramp_init(&r, 0);
    assert_int_equal(r.duration_ms, RAMP_DEFAULT_MS);
    ramp_init(&r, -5);
    assert_int_equal(r.duration_ms, RAMP_DEFAULT_MS);
    ramp_init(&r, 1000);
    assert_int_equal(r.duration_ms, 1000);
    ramp_init(&r, INT64_MAX);
    assert_true(r.duration_ms > 0 && r.duration_ms <= 10 * 60 * 1000);
}

static void test_ramp_up_0_to_100(void **state)
{
    struct ramp r;
    int prev = 0;

    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_set_target(&r, 100, MOTOR_FORWARD, 1000);
    assert_int_equal(ramp_state(&r), TRAIN_RAMPING);
    for (int64_t t = 1000; t < 4000; t++) {
        ramp_tick(&r, t);
        assert_true(r.speed >= prev);
        assert_true(r.speed < 100);
        assert_int_equal(ramp_state(&r), TRAIN_RAMPING);
        if (t == 2500)
            assert_int_equal(r.speed, 50);
        prev = r.speed;
    }
    assert_true(ramp_tick(&r, 4000));
    assert_int_equal(r.speed, 100);
    assert_int_equal(ramp_state(&r), TRAIN_RUNNING);
    assert_int_equal(ramp_next_change_ms(&r, 4000), -1);
    assert_false(ramp_tick(&r, 9000));
    assert_int_equal(r.speed, 100);
}

/* Any change takes the whole duration, however small. */
static void test_small_change_takes_full_duration(void **state)
{
    struct ramp r;

    ramp_at(&r, 40, MOTOR_FORWARD, 10000);
    ramp_set_target(&r, 41, MOTOR_FORWARD, 10000);
    assert_false(ramp_tick(&r, 12999));
    assert_int_equal(r.speed, 40);
    assert_int_equal(ramp_next_change_ms(&r, 12999), 13000);
    assert_true(ramp_tick(&r, 13000));
    assert_int_equal(r.speed, 41);
    assert_int_equal(ramp_state(&r), TRAIN_RUNNING);

    ramp_set_target(&r, 51, MOTOR_FORWARD, 20000);
    ramp_tick(&r, 22999);
    assert_int_equal(r.speed, 50);
    ramp_tick(&r, 23000);
    assert_int_equal(r.speed, 51);
}

static void test_custom_duration(void **state)
{
    struct ramp r;

    ramp_init(&r, 1000);
    ramp_set_target(&r, 80, MOTOR_FORWARD, 0);
    ramp_tick(&r, 500);
    assert_int_equal(r.speed, 40);
    ramp_tick(&r, 1000);
    assert_int_equal(r.speed, 80);
    assert_int_equal(ramp_state(&r), TRAIN_RUNNING);
}

/* Follows the ramp the way the event loop does (tick only at next_change) and checks against
 * ticking every millisecond that next_change names exactly the next change. */
static void check_next_change_exact(struct ramp *r, int64_t start, int64_t end)
{
    struct ramp dense = *r;
    int64_t t = start;
    int changes = 0;

    for (;;) {
        int64_t next = ramp_next_change_ms(r, t);
        if (next < 0)
            break;
        assert_true(next >= t);
        /* Nothing changes before next ... */
        for (int64_t u = t + 1; u < next; u++) {
            struct ramp copy = *r;
            assert_false(ramp_tick(&copy, u));
        }
        /* ... and something changes at next, the same as with dense ticking. */
        assert_true(ramp_tick(r, next));
        for (int64_t u = t; u <= next; u++)
            ramp_tick(&dense, u);
        assert_int_equal(r->speed, dense.speed);
        assert_int_equal(r->direction, dense.direction);
        changes++;
        t = next;
        assert_true(t <= end);
    }
    assert_true(changes > 0);
    assert_false(r->active);
}

static void test_next_change_exact(void **state)
{
    static const struct {
        int64_t duration;
        int from, to;
        enum motor_direction dir_from, dir_to;
    } cases[] = {
        {3000, 0, 100, MOTOR_FORWARD, MOTOR_FORWARD}, {3000, 100, 0, MOTOR_FORWARD, MOTOR_FORWARD},
        {3000, 37, 38, MOTOR_FORWARD, MOTOR_FORWARD}, {1000, 3, 97, MOTOR_FORWARD, MOTOR_FORWARD},
        {997, 70, 13, MOTOR_REVERSE, MOTOR_REVERSE},  {3000, 60, 40, MOTOR_FORWARD, MOTOR_REVERSE},
        {7, 0, 100, MOTOR_FORWARD, MOTOR_FORWARD},    {1234, 0, 0, MOTOR_FORWARD, MOTOR_REVERSE},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ramp r;
        ramp_init(&r, cases[i].duration);
        ramp_set_target(&r, cases[i].from, cases[i].dir_from, 0);
        ramp_tick(&r, 0);
        ramp_tick(&r, cases[i].duration);
        ramp_tick(&r, 2 * cases[i].duration);
        assert_int_equal(r.speed, cases[i].from);
        assert_int_equal(r.direction, cases[i].dir_from);
        ramp_set_target(&r, cases[i].to, cases[i].dir_to, 50000);
        check_next_change_exact(&r, 50000, 50000 + 2 * cases[i].duration);
        assert_int_equal(r.speed, cases[i].to);
        assert_int_equal(r.direction, cases[i].dir_to);
    }
}

static void test_next_change_values(void **state)
{
    struct ramp r;

    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_set_target(&r, 100, MOTOR_FORWARD, 1000);
    /* 100 steps over 3000 ms: one every 30 ms. */
    assert_int_equal(ramp_next_change_ms(&r, 1000), 1030);
    ramp_tick(&r, 1030);
    assert_int_equal(r.speed, 1);
    assert_int_equal(ramp_next_change_ms(&r, 1030), 1060);
    /* 3 steps over 3000 ms: one every 1000 ms. */
    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_set_target(&r, 3, MOTOR_FORWARD, 0);
    assert_int_equal(ramp_next_change_ms(&r, 0), 1000);
    assert_int_equal(ramp_next_change_ms(&r, 400), 1000);
    ramp_tick(&r, 1000);
    assert_int_equal(ramp_next_change_ms(&r, 1000), 2000);
    ramp_tick(&r, 2000);
    assert_int_equal(ramp_next_change_ms(&r, 2000), 3000);
    ramp_tick(&r, 3000);
    assert_int_equal(r.speed, 3);
    assert_int_equal(ramp_next_change_ms(&r, 3000), -1);
}

/* A caller that has not ticked is told "now", never a time already past. */
static void test_next_change_never_in_past(void **state)
{
    struct ramp r;

    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_set_target(&r, 100, MOTOR_FORWARD, 0);
    assert_int_equal(ramp_next_change_ms(&r, 2000), 2000);
    assert_int_equal(ramp_next_change_ms(&r, 99999), 99999);
    ramp_tick(&r, 2000);
    assert_int_equal(ramp_next_change_ms(&r, 2000), 2010);
}

static void test_late_tick_completes(void **state)
{
    struct ramp r;

    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_set_target(&r, 70, MOTOR_FORWARD, 0);
    assert_true(ramp_tick(&r, 60000));
    assert_int_equal(r.speed, 70);
    assert_int_equal(ramp_state(&r), TRAIN_RUNNING);
}

static void test_tick_before_start_changes_nothing(void **state)
{
    struct ramp r;

    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_set_target(&r, 70, MOTOR_FORWARD, 5000);
    assert_false(ramp_tick(&r, 4000));
    assert_int_equal(r.speed, 0);
    ramp_set_target(&r, 70, MOTOR_REVERSE, 5000);
    assert_false(ramp_tick(&r, 4000));
    assert_int_equal(r.direction, MOTOR_FORWARD);
}

static void test_reverse_while_moving(void **state)
{
    struct ramp r;
    int prev = 60;

    ramp_at(&r, 60, MOTOR_FORWARD, 10000);
    ramp_set_target(&r, 40, MOTOR_REVERSE, 10000);
    assert_int_equal(ramp_state(&r), TRAIN_RAMPING);
    /* Phase 1: down to 0, still forward. */
    for (int64_t t = 10000; t < 13000; t++) {
        ramp_tick(&r, t);
        assert_int_equal(r.direction, MOTOR_FORWARD);
        assert_true(r.speed <= prev);
        assert_true(r.speed > 0);
        if (t == 11500)
            assert_int_equal(r.speed, 30);
        prev = r.speed;
    }
    /* Phase 2: the direction switches at 0, then up to 40. */
    assert_true(ramp_tick(&r, 13000));
    assert_int_equal(r.speed, 0);
    assert_int_equal(r.direction, MOTOR_REVERSE);
    assert_int_equal(ramp_state(&r), TRAIN_RAMPING);
    prev = 0;
    for (int64_t t = 13001; t < 16000; t++) {
        ramp_tick(&r, t);
        assert_int_equal(r.direction, MOTOR_REVERSE);
        assert_true(r.speed >= prev);
        assert_true(r.speed < 40);
        if (t == 14500)
            assert_int_equal(r.speed, 20);
        prev = r.speed;
    }
    ramp_tick(&r, 16000);
    assert_int_equal(r.speed, 40);
    assert_int_equal(r.direction, MOTOR_REVERSE);
    assert_int_equal(ramp_state(&r), TRAIN_RUNNING);
}

/* However late or sparse the ticks, the output seen by the motor only changes direction at
 * speed 0. */
static void test_reverse_sparse_ticks_pass_through_zero(void **state)
{
    static const int64_t steps[] = {1, 7, 333, 700, 2999, 3001, 10000};

    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        struct ramp r;
        enum motor_direction dir = MOTOR_FORWARD;
        int64_t t = 10000;
        int guard = 0;

        ramp_at(&r, 80, MOTOR_FORWARD, t);
        ramp_set_target(&r, 90, MOTOR_REVERSE, t);
        while (r.active && guard++ < 100000) {
            t += steps[i];
            if (ramp_tick(&r, t) && r.direction != dir) {
                assert_int_equal(r.speed, 0);
                dir = r.direction;
            }
            /* A caller that ticks at next_change catches up at once after the switch. */
            int64_t next = ramp_next_change_ms(&r, t);
            if (next == t) {
                ramp_tick(&r, t);
                assert_int_equal(r.direction, dir);
            }
        }
        assert_false(r.active);
        assert_int_equal(r.speed, 90);
        assert_int_equal(r.direction, MOTOR_REVERSE);
    }
}

static void test_reverse_to_zero_while_moving(void **state)
{
    struct ramp r;

    ramp_at(&r, 30, MOTOR_FORWARD, 10000);
    ramp_set_target(&r, 0, MOTOR_REVERSE, 10000);
    ramp_tick(&r, 12999);
    assert_int_equal(r.direction, MOTOR_FORWARD);
    assert_true(r.speed > 0);
    assert_int_equal(ramp_next_change_ms(&r, 12999), 13000);
    assert_true(ramp_tick(&r, 13000));
    assert_int_equal(r.speed, 0);
    assert_int_equal(r.direction, MOTOR_REVERSE);
    assert_int_equal(ramp_state(&r), TRAIN_STOPPED);
    assert_int_equal(ramp_next_change_ms(&r, 13000), -1);
}

static void test_direction_change_at_rest_is_immediate(void **state)
{
    struct ramp r;

    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_set_target(&r, 0, MOTOR_REVERSE, 500);
    assert_int_equal(ramp_next_change_ms(&r, 500), 500);
    assert_true(ramp_tick(&r, 500));
    assert_int_equal(r.direction, MOTOR_REVERSE);
    assert_int_equal(r.speed, 0);
    assert_int_equal(ramp_state(&r), TRAIN_STOPPED);
    assert_int_equal(ramp_next_change_ms(&r, 500), -1);

    /* From rest to a speed in the other direction: switch now, one ramp up. */
    ramp_set_target(&r, 30, MOTOR_FORWARD, 1000);
    assert_true(ramp_tick(&r, 1000));
    assert_int_equal(r.direction, MOTOR_FORWARD);
    assert_int_equal(r.speed, 0);
    ramp_tick(&r, 2500);
    assert_int_equal(r.speed, 15);
    ramp_tick(&r, 4000);
    assert_int_equal(r.speed, 30);
    assert_int_equal(ramp_state(&r), TRAIN_RUNNING);
}

static void test_stop_ramps_down(void **state)
{
    struct ramp r;
    int prev = 80;

    ramp_at(&r, 80, MOTOR_REVERSE, 10000);
    ramp_stop(&r, 10000);
    assert_int_equal(ramp_state(&r), TRAIN_RAMPING);
    for (int64_t t = 10000; t < 13000; t++) {
        ramp_tick(&r, t);
        assert_true(r.speed <= prev);
        assert_true(r.speed > 0);
        assert_int_equal(r.direction, MOTOR_REVERSE);
        if (t == 11500)
            assert_int_equal(r.speed, 40);
        prev = r.speed;
    }
    ramp_tick(&r, 13000);
    assert_int_equal(r.speed, 0);
    assert_int_equal(r.direction, MOTOR_REVERSE);
    assert_int_equal(ramp_state(&r), TRAIN_STOPPED);
}

static void test_stop_when_stopped_is_noop(void **state)
{
    struct ramp r;

    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_stop(&r, 100);
    assert_int_equal(ramp_state(&r), TRAIN_STOPPED);
    assert_int_equal(ramp_next_change_ms(&r, 100), -1);
}

/* A stop while a reversal is slowing to 0 keeps that descent (no slower stop) and cancels the
 * direction switch. */
static void test_stop_during_reversal(void **state)
{
    struct ramp r;

    ramp_at(&r, 60, MOTOR_FORWARD, 10000);
    ramp_set_target(&r, 50, MOTOR_REVERSE, 10000);
    ramp_tick(&r, 11500);
    assert_int_equal(r.speed, 30);
    ramp_stop(&r, 11500);
    ramp_tick(&r, 12999);
    assert_int_equal(r.speed, 1);
    ramp_tick(&r, 13000);
    assert_int_equal(r.speed, 0);
    assert_int_equal(r.direction, MOTOR_FORWARD);
    assert_int_equal(ramp_state(&r), TRAIN_STOPPED);
    assert_false(ramp_tick(&r, 20000));
}

/* A stop while speeding up in the new direction ramps down from where the motor is. */
static void test_stop_during_reversal_phase2(void **state)
{
    struct ramp r;

    ramp_at(&r, 60, MOTOR_FORWARD, 10000);
    ramp_set_target(&r, 60, MOTOR_REVERSE, 10000);
    ramp_tick(&r, 13000);
    ramp_tick(&r, 14500);
    assert_int_equal(r.speed, 30);
    assert_int_equal(r.direction, MOTOR_REVERSE);
    ramp_stop(&r, 14500);
    ramp_tick(&r, 16000);
    assert_int_equal(r.speed, 15);
    ramp_tick(&r, 17500);
    assert_int_equal(r.speed, 0);
    assert_int_equal(r.direction, MOTOR_REVERSE);
    assert_int_equal(ramp_state(&r), TRAIN_STOPPED);
}

static void test_estop_mid_ramp(void **state)
{
    struct ramp r;

    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_set_target(&r, 100, MOTOR_FORWARD, 0);
    ramp_tick(&r, 1000);
    assert_int_equal(r.speed, 33);
    ramp_emergency_stop(&r);
    assert_int_equal(r.speed, 0);
    assert_int_equal(ramp_state(&r), TRAIN_ESTOPPED);
    assert_int_equal(ramp_next_change_ms(&r, 1000), -1);
    /* Long after the cancelled ramp would have ended, nothing re-powers the motor. */
    for (int64_t t = 1000; t <= 20000; t += 7) {
        assert_false(ramp_tick(&r, t));
        assert_int_equal(r.speed, 0);
        assert_int_equal(ramp_state(&r), TRAIN_ESTOPPED);
        assert_int_equal(ramp_next_change_ms(&r, t), -1);
    }
    /* A stop is not a command to move: still estopped. */
    ramp_stop(&r, 20000);
    assert_false(ramp_tick(&r, 30000));
    assert_int_equal(ramp_state(&r), TRAIN_ESTOPPED);

    /* Only an explicit new target lifts it, ramping from 0. */
    ramp_set_target(&r, 60, MOTOR_FORWARD, 40000);
    assert_int_equal(ramp_state(&r), TRAIN_RAMPING);
    ramp_tick(&r, 41500);
    assert_int_equal(r.speed, 30);
    ramp_tick(&r, 43000);
    assert_int_equal(r.speed, 60);
    assert_int_equal(ramp_state(&r), TRAIN_RUNNING);
}

static void test_estop_during_reversal(void **state)
{
    struct ramp r;

    ramp_at(&r, 50, MOTOR_FORWARD, 10000);
    ramp_set_target(&r, 50, MOTOR_REVERSE, 10000);
    ramp_tick(&r, 11000);
    ramp_emergency_stop(&r);
    assert_int_equal(r.speed, 0);
    for (int64_t t = 11000; t < 30000; t += 100) {
        assert_false(ramp_tick(&r, t));
        assert_int_equal(r.speed, 0);
    }
    /* The switch that was planned does not happen behind the operator's back either. */
    assert_int_equal(r.direction, MOTOR_FORWARD);
    assert_int_equal(ramp_state(&r), TRAIN_ESTOPPED);
}

static void test_estop_at_rest_and_set_zero_clears(void **state)
{
    struct ramp r;

    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_emergency_stop(&r);
    assert_int_equal(ramp_state(&r), TRAIN_ESTOPPED);
    ramp_set_target(&r, 0, MOTOR_FORWARD, 100);
    assert_int_equal(ramp_state(&r), TRAIN_STOPPED);
}

static void test_new_target_mid_ramp_starts_from_output(void **state)
{
    struct ramp r;
    int prev;

    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_set_target(&r, 100, MOTOR_FORWARD, 0);
    ramp_tick(&r, 1500);
    assert_int_equal(r.speed, 50);
    ramp_set_target(&r, 20, MOTOR_FORWARD, 1500);
    assert_false(ramp_tick(&r, 1500));
    assert_int_equal(r.speed, 50);
    prev = 50;
    for (int64_t t = 1500; t <= 4500; t++) {
        ramp_tick(&r, t);
        assert_true(r.speed <= prev);
        assert_true(r.speed >= 20);
        if (t == 3000)
            assert_int_equal(r.speed, 35);
        prev = r.speed;
    }
    assert_int_equal(r.speed, 20);
    assert_int_equal(ramp_state(&r), TRAIN_RUNNING);

    /* Upwards too: 20 -> 80 takes a full duration from the moment of the command. */
    ramp_set_target(&r, 80, MOTOR_FORWARD, 5000);
    ramp_tick(&r, 6500);
    assert_int_equal(r.speed, 50);
    ramp_set_target(&r, 90, MOTOR_FORWARD, 6500);
    ramp_tick(&r, 8000);
    assert_int_equal(r.speed, 70);
    ramp_tick(&r, 9500);
    assert_int_equal(r.speed, 90);
}

/* Repeating the command in progress does not restart (slow down) the ramp. */
static void test_same_target_keeps_timing(void **state)
{
    struct ramp r;

    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_set_target(&r, 100, MOTOR_FORWARD, 0);
    ramp_tick(&r, 1500);
    ramp_set_target(&r, 100, MOTOR_FORWARD, 1500);
    ramp_tick(&r, 3000);
    assert_int_equal(r.speed, 100);
    assert_int_equal(ramp_state(&r), TRAIN_RUNNING);
}

static void test_target_equal_to_output_holds(void **state)
{
    struct ramp r;

    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_set_target(&r, 100, MOTOR_FORWARD, 0);
    ramp_tick(&r, 1500);
    ramp_set_target(&r, 50, MOTOR_FORWARD, 1500);
    assert_int_equal(ramp_state(&r), TRAIN_RUNNING);
    assert_int_equal(ramp_next_change_ms(&r, 1500), -1);
    assert_false(ramp_tick(&r, 5000));
    assert_int_equal(r.speed, 50);
}

static void test_clamping(void **state)
{
    struct ramp r;

    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_set_target(&r, 150, MOTOR_FORWARD, 0);
    assert_int_equal(r.target_speed, 100);
    ramp_tick(&r, 3000);
    assert_int_equal(r.speed, 100);
    ramp_tick(&r, 100000);
    assert_int_equal(r.speed, 100);

    ramp_set_target(&r, -20, MOTOR_FORWARD, 200000);
    assert_int_equal(r.target_speed, 0);
    ramp_tick(&r, 203000);
    assert_int_equal(r.speed, 0);
    assert_int_equal(ramp_state(&r), TRAIN_STOPPED);

    /* An out-of-range direction is not "reverse". */
    ramp_set_target(&r, 10, (enum motor_direction)7, 300000);
    assert_int_equal(r.target_direction, MOTOR_FORWARD);
    ramp_tick(&r, 303000);
    assert_int_equal(r.direction, MOTOR_FORWARD);
    assert_int_equal(r.speed, 10);
}

static void test_state_names(void **state)
{
    assert_string_equal(ramp_state_name(TRAIN_STOPPED), "stopped");
    assert_string_equal(ramp_state_name(TRAIN_RAMPING), "ramping");
    assert_string_equal(ramp_state_name(TRAIN_RUNNING), "running");
    assert_string_equal(ramp_state_name(TRAIN_ESTOPPED), "estopped");
    assert_string_equal(ramp_state_name((enum train_state)42), "unknown");
}

/* Momentum: a change takes its share of the full-range time; braking has its own rate; 0 is
 * at once; and the two-phase reversal uses each rate for its phase. */
static void test_momentum(void **state)
{
    (void)state;
    struct ramp r;
    ramp_init(&r, RAMP_DEFAULT_MS);
    ramp_set_momentum(&r, 10000, 2000); /* 10 s for 0->100, 2 s for 100->0 */
    ramp_set_target(&r, 50, MOTOR_FORWARD, 0);
    ramp_tick(&r, 2500);
    assert_int_equal(r.speed, 25);
    ramp_tick(&r, 4999);
    assert_true(r.speed < 50);
    ramp_tick(&r, 5000);
    assert_int_equal(r.speed, 50);
    assert_false(r.active);
    ramp_stop(&r, 6000);
    assert_int_equal(ramp_next_change_ms(&r, 6000), 6000 + 1000 / 50);
    ramp_tick(&r, 6500);
    assert_int_equal(r.speed, 25);
    ramp_tick(&r, 7000);
    assert_int_equal(r.speed, 0);
    /* Reversal at 40: down at the braking rate (800 ms), then up at the acceleration rate. */
    ramp_set_target(&r, 40, MOTOR_FORWARD, 8000);
    ramp_tick(&r, 12000);
    assert_int_equal(r.speed, 40);
    ramp_set_target(&r, 40, MOTOR_REVERSE, 13000);
    ramp_tick(&r, 13800);
    assert_int_equal(r.speed, 0);
    assert_int_equal(r.direction, MOTOR_REVERSE);
    ramp_tick(&r, 15800);
    assert_int_equal(r.speed, 20);
    ramp_tick(&r, 17800);
    assert_int_equal(r.speed, 40);
    /* 0: at once. */
    ramp_set_momentum(&r, 0, 0);
    ramp_set_target(&r, 90, MOTOR_REVERSE, 20000);
    ramp_tick(&r, 20000);
    assert_int_equal(r.speed, 90);
    /* An emergency stop stays at once whatever the momentum. */
    ramp_set_momentum(&r, 600000, 600000);
    ramp_emergency_stop(&r);
    assert_int_equal(r.speed, 0);
    /* -1: back to the fixed duration for any change. */
    ramp_set_momentum(&r, -1, -1);
    ramp_set_target(&r, 10, MOTOR_FORWARD, 30000);
    ramp_tick(&r, 30000); /* the direction switch is an output of its own */
    ramp_tick(&r, 30000 + RAMP_DEFAULT_MS);
    assert_int_equal(r.speed, 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial_state),
        cmocka_unit_test(test_duration_defaults),
        cmocka_unit_test(test_ramp_up_0_to_100),
        cmocka_unit_test(test_small_change_takes_full_duration),
        cmocka_unit_test(test_custom_duration),
        cmocka_unit_test(test_next_change_exact),
        cmocka_unit_test(test_next_change_values),
        cmocka_unit_test(test_next_change_never_in_past),
        cmocka_unit_test(test_late_tick_completes),
        cmocka_unit_test(test_tick_before_start_changes_nothing),
        cmocka_unit_test(test_reverse_while_moving),
        cmocka_unit_test(test_reverse_sparse_ticks_pass_through_zero),
        cmocka_unit_test(test_reverse_to_zero_while_moving),
        cmocka_unit_test(test_direction_change_at_rest_is_immediate),
        cmocka_unit_test(test_stop_ramps_down),
        cmocka_unit_test(test_stop_when_stopped_is_noop),
        cmocka_unit_test(test_stop_during_reversal),
        cmocka_unit_test(test_stop_during_reversal_phase2),
        cmocka_unit_test(test_estop_mid_ramp),
        cmocka_unit_test(test_estop_during_reversal),
        cmocka_unit_test(test_estop_at_rest_and_set_zero_clears),
        cmocka_unit_test(test_new_target_mid_ramp_starts_from_output),
        cmocka_unit_test(test_same_target_keeps_timing),
        cmocka_unit_test(test_target_equal_to_output_holds),
        cmocka_unit_test(test_clamping),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_momentum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
