/* Presence exactly at and around both thresholds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "presence.h"

static const struct presence_rules rules = {.stale_after = 25, .offline_after = 50};

static enum presence at_age(int64_t age)
{
    const int64_t now = 1800000000;
    return presence_state(now - age, now, false, &rules);
}

static void test_never_seen_is_unknown(void **state)
{
    assert_int_equal(presence_state(-1, 1000, false, &rules), PRESENCE_UNKNOWN);
    assert_int_equal(presence_state(-1, 1000, true, &rules), PRESENCE_UNKNOWN);
}

static void test_stale_threshold(void **state)
{
    assert_int_equal(at_age(0), PRESENCE_ONLINE);
    assert_int_equal(at_age(24), PRESENCE_ONLINE);
    assert_int_equal(at_age(25), PRESENCE_STALE); /* exactly at the threshold */
    assert_int_equal(at_age(26), PRESENCE_STALE);
}

static void test_offline_threshold(void **state)
{
    assert_int_equal(at_age(49), PRESENCE_STALE);
    assert_int_equal(at_age(50), PRESENCE_OFFLINE); /* exactly at the threshold */
    assert_int_equal(at_age(51), PRESENCE_OFFLINE);
    assert_int_equal(at_age(86400 * 365), PRESENCE_OFFLINE);
}

static void test_future_last_seen_is_stale(void **state)
{
    /* The central's clock stepped back an hour: a controller that died just before must not
     * stay online for that hour, nor be taken offline (its trains released) while it may be
     * alive: stale until its next heartbeat. */
    assert_int_equal(at_age(-3600), PRESENCE_STALE);
    assert_int_equal(at_age(-2), PRESENCE_STALE);
    /* Within a second ahead: rounding, age 0. */
    assert_int_equal(at_age(-1), PRESENCE_ONLINE);
}

static void test_will_forces_offline(void **state)
{
    const int64_t now = 1800000000;
    assert_int_equal(presence_state(now, now, true, &rules), PRESENCE_OFFLINE);
}

static void test_names(void **state)
{
    assert_string_equal(presence_name(PRESENCE_ONLINE), "online");
    assert_string_equal(presence_name(PRESENCE_STALE), "stale");
    assert_string_equal(presence_name(PRESENCE_OFFLINE), "offline");
    assert_string_equal(presence_name(PRESENCE_UNKNOWN), "unknown");
}

/* The thresholds a database query applies give the same state as the rule itself, around
 * every boundary, for ordinary rules and for degenerate ones. */
static void test_bounds_agree_with_the_rule(void **state)
{
    const struct presence_rules all[] = {
        {.stale_after = 25, .offline_after = 50},
        {.stale_after = 1, .offline_after = 2},
        {.stale_after = 0, .offline_after = 5},
        {.stale_after = -3, .offline_after = 0},
        {.stale_after = INT64_MAX / 2, .offline_after = INT64_MAX},
    };
    const int64_t nows[] = {0, 1800000000, INT64_MAX - 1};
    for (size_t r = 0; r < sizeof all / sizeof all[0]; r++) {
        for (size_t n = 0; n < sizeof nows / sizeof nows[0]; n++) {
            struct presence_bounds b;
            presence_bounds(nows[n], &all[r], &b);
            for (int64_t age = -70; age <= 70; age++) {
                if (age < 0 && nows[n] > INT64_MAX + age)
                    continue; /* a last_seen past INT64_MAX */
                int64_t seen = nows[n] - age;
                if (seen < 0)
                    continue;
                for (int will = 0; will <= 1; will++)
                    assert_int_equal(presence_from_bounds(seen, will, &b),
                                     presence_state(seen, nows[n], will, &all[r]));
            }
            assert_int_equal(presence_from_bounds(-1, false, &b), PRESENCE_UNKNOWN);
        }
    }
}

static void test_parse(void **state)
{
    assert_int_equal(presence_parse("online"), PRESENCE_ONLINE);
    assert_int_equal(presence_parse("stale"), PRESENCE_STALE);
    assert_int_equal(presence_parse("offline"), PRESENCE_OFFLINE);
    assert_int_equal(presence_parse("unknown"), PRESENCE_UNKNOWN);
    assert_int_equal(presence_parse("Online"), -1);
    assert_int_equal(presence_parse(""), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_never_seen_is_unknown),
        cmocka_unit_test(test_stale_threshold),
        cmocka_unit_test(test_offline_threshold),
        cmocka_unit_test(test_future_last_seen_is_stale),
        cmocka_unit_test(test_will_forces_offline),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_bounds_agree_with_the_rule),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
