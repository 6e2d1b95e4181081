/* Which central the edge uses (discover.h): configured lists, discovered sets, failover. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "discover.h"
#include "sync.h"

static void test_empty_then_found(void **state)
{
    (void)state;
    struct central_choice c;
    memset(&c, 0, sizeof c);
    assert_null(central_choice_current(&c));
    assert_false(central_choice_failed(&c, NULL));
    /* An empty set changes nothing. */
    assert_false(central_choice_set(&c, NULL, 0));
    const char *one[] = {"http://10.0.0.1:8000"};
    assert_true(central_choice_set(&c, one, 1));
    assert_string_equal(central_choice_current(&c), "http://10.0.0.1:8000");
    /* One candidate: a failure keeps it. */
    assert_false(central_choice_failed(&c, NULL));
    assert_string_equal(central_choice_current(&c), "http://10.0.0.1:8000");
    /* The network forgets it: it stays in use, it may still answer. */
    assert_false(central_choice_set(&c, NULL, 0));
    assert_string_equal(central_choice_current(&c), "http://10.0.0.1:8000");
}

static void test_set_keeps_current(void **state)
{
    (void)state;
    struct central_choice c;
    memset(&c, 0, sizeof c);
    const char *ab[] = {"http://a:1", "http://b:1"};
    assert_true(central_choice_set(&c, ab, 2));
    assert_true(central_choice_failed(&c, NULL));
    assert_string_equal(central_choice_current(&c), "http://b:1");
    /* A new set that still holds b keeps b, wherever it is. */
    const char *cb[] = {"http://c:1", "http://b:1", "http://a:1"};
    assert_false(central_choice_set(&c, cb, 3));
    assert_string_equal(central_choice_current(&c), "http://b:1");
    /* One without b: its first. */
    const char *d[] = {"http://d:1"};
    assert_true(central_choice_set(&c, d, 1));
    assert_string_equal(central_choice_current(&c), "http://d:1");
}

static void test_failover_wraps(void **state)
{
    (void)state;
    struct central_choice c;
    memset(&c, 0, sizeof c);
    const char *abc[] = {"http://a:1", "http://b:1", "http://c:1"};
    central_choice_set(&c, abc, 3);
    assert_string_equal(central_choice_current(&c), "http://a:1");
    assert_true(central_choice_failed(&c, NULL));
    assert_true(central_choice_failed(&c, NULL));
    assert_string_equal(central_choice_current(&c), "http://c:1");
    assert_true(central_choice_failed(&c, NULL));
    assert_string_equal(central_choice_current(&c), "http://a:1");
}

/* A central dies with a heartbeat and a long poll in flight: both fail, and the second
 * failure must not lead back to the dead one. */
static void test_failures_of_one_central_move_once(void **state)
{
    (void)state;
    struct central_choice c;
    memset(&c, 0, sizeof c);
    const char *ab[] = {"http://a:1", "http://b:1"};
    central_choice_set(&c, ab, 2);
    assert_true(central_choice_failed(&c, "http://a:1"));
    assert_string_equal(central_choice_current(&c), "http://b:1");
    assert_false(central_choice_failed(&c, "http://a:1"));
    assert_string_equal(central_choice_current(&c), "http://b:1");
    /* b failing in turn: back to a. */
    assert_true(central_choice_failed(&c, "http://b:1"));
    assert_string_equal(central_choice_current(&c), "http://a:1");
}

static void test_too_many_and_too_long(void **state)
{
    (void)state;
    struct central_choice c;
    memset(&c, 0, sizeof c);
    const char *many[CENTRAL_CHOICE_MAX + 3];
    static char longurl[CENTRAL_URL_MAX + 10];
    memset(longurl, 'x', sizeof longurl - 1);
    for (size_t i = 0; i < CENTRAL_CHOICE_MAX + 3; i++)
        many[i] = i == 0 ? longurl : "http://ok:1";
    central_choice_set(&c, many, CENTRAL_CHOICE_MAX + 3);
    assert_true(c.n <= CENTRAL_CHOICE_MAX);
    assert_string_equal(central_choice_current(&c), "http://ok:1");
}

/* A central found (or switched to) while the registration backs off: it is tried at once. */
static void test_sync_central_changed(void **state)
{
    (void)state;
    struct sync s;
    struct sync_output out;
    struct sync_event ev = {.kind = SYNC_EV_TICK, .version = -1, .retry_after_ms = -1};
    int64_t now = 1000;
    sync_init(&s, now, false, 0, -1, 42);
    sync_step(&s, &ev, now, &out);
    assert_int_equal(out.action, SYNC_ACT_REGISTER);
    for (int i = 0; i < 6; i++) { /* back off to several seconds */
        ev.kind = SYNC_EV_REGISTER_FAILED;
        sync_step(&s, &ev, now, &out);
        now = out.wake_ms;
        ev.kind = SYNC_EV_TICK;
        sync_step(&s, &ev, now, &out);
        assert_int_equal(out.action, SYNC_ACT_REGISTER);
    }
    ev.kind = SYNC_EV_REGISTER_FAILED;
    sync_step(&s, &ev, now, &out);
    assert_true(out.wake_ms > now + 2000);
    ev.kind = SYNC_EV_CENTRAL_CHANGED;
    sync_step(&s, &ev, now + 1, &out);
    assert_int_equal(out.action, SYNC_ACT_REGISTER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_then_found),
        cmocka_unit_test(test_set_keeps_current),
        cmocka_unit_test(test_failover_wraps),
        cmocka_unit_test(test_failures_of_one_central_move_once),
        cmocka_unit_test(test_too_many_and_too_long),
        cmocka_unit_test(test_sync_central_changed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
