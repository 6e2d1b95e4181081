/* The edge's systemd notifications (sdnotify.h): READY once, when settled or after the
 * longest wait; WATCHDOG from the first loop pass on, at most once a second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "sdnotify.h"

static void test_ready_when_settled(void **state)
{
    (void)state;
    struct sdnotify n;
    sdnotify_init(&n, 1000);
    assert_false(sdnotify_ready_due(&n, false, 1000));
    assert_false(sdnotify_ready_due(&n, false, 1500));
    assert_true(sdnotify_ready_due(&n, true, 1600));
    /* Once only. */
    assert_false(sdnotify_ready_due(&n, true, 1700));
    assert_false(sdnotify_ready_due(&n, false, 1000 + SDNOTIFY_READY_MAX_MS * 2));
}

static void test_ready_after_longest_wait(void **state)
{
    (void)state;
    struct sdnotify n;
    sdnotify_init(&n, 1000);
    /* A broker that cannot be reached must not keep the unit from starting. */
    assert_false(sdnotify_ready_due(&n, false, 1000 + SDNOTIFY_READY_MAX_MS - 1));
    assert_true(sdnotify_ready_due(&n, false, 1000 + SDNOTIFY_READY_MAX_MS));
    assert_false(sdnotify_ready_due(&n, true, 1000 + SDNOTIFY_READY_MAX_MS + 1));
}

static void test_watchdog_rate(void **state)
{
    (void)state;
    struct sdnotify n;
    sdnotify_init(&n, 5000);
    assert_true(sdnotify_watchdog_due(&n, 5000)); /* the first pass */
    assert_false(sdnotify_watchdog_due(&n, 5001));
    assert_false(sdnotify_watchdog_due(&n, 5000 + SDNOTIFY_WATCHDOG_GAP_MS - 1));
    assert_true(sdnotify_watchdog_due(&n, 5000 + SDNOTIFY_WATCHDOG_GAP_MS));
    /* A busy loop (many passes a second) still sends about once a second. */
    int sent = 0;
    for (int64_t t = 7000; t < 17000; t += 7)
        sent += sdnotify_watchdog_due(&n, t);
    assert_in_range(sent, 9, 11);
    /* A late pass sends at once. */
    assert_true(sdnotify_watchdog_due(&n, 60000));
    /* A clock that went backwards does not silence it. */
    assert_true(sdnotify_watchdog_due(&n, 100));
}

static void test_send_outside_systemd(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sdnotify_send("WATCHDOG=1"), 1);
    /* A socket that does not exist: an error, not a crash. */
    setenv("NOTIFY_SOCKET", "/nonexistent/rh-notify.sock", 1);
    assert_true(sdnotify_send("READY=1") < 0);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_when_settled),
        cmocka_unit_test(test_ready_after_longest_wait),
        cmocka_unit_test(test_watchdog_rate),
        cmocka_unit_test(test_send_outside_systemd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
