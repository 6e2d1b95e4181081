/* The edge's registration / heartbeat / config state machine, driven through every state
 * with a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sync.h"

#define T0 100000

static struct sync_output step(struct sync *s, enum sync_event_kind kind, int64_t now)
{
    struct sync_event ev = {.kind = kind, .version = -1, .retry_after_ms = -1};
    struct sync_output out;
    sync_step(s, &ev, now, &out);
    return out;
}

static struct sync_output step_v(struct sync *s, enum sync_event_kind kind, int64_t version,
                                 int interval, int64_t now)
{
    struct sync_event ev = {
        .kind = kind, .version = version, .heartbeat_interval_s = interval, .retry_after_ms = -1};
    struct sync_output out;
    sync_step(s, &ev, now, &out);
    return out;
}

static void test_boot_registers_at_once(void **state)
{
    (void)state;
    struct sync s;
    sync_init(&s, T0, false, 0, -1, 42);
    struct sync_output o = step(&s, SYNC_EV_TICK, T0);
    assert_int_equal(o.action, SYNC_ACT_REGISTER);
    assert_int_equal(s.inflight, SYNC_ACT_REGISTER);
    /* While in flight nothing else starts, whatever the clock says. */
    o = step(&s, SYNC_EV_TICK, T0 + 999999);
    assert_int_equal(o.action, SYNC_ACT_NONE);
    assert_true(o.wake_ms == -1);
}

static void test_register_backoff_full_jitter(void **state)
{
    (void)state;
    struct sync s;
    int64_t now = T0;
    sync_init(&s, now, false, 0, -1, 7);
    assert_int_equal(step(&s, SYNC_EV_TICK, now).action, SYNC_ACT_REGISTER);
    for (unsigned attempt = 0; attempt < 20; attempt++) {
        struct sync_output o = step(&s, SYNC_EV_REGISTER_FAILED, now);
        int64_t ceiling = attempt < 6 ? (1000LL << attempt) : 60000;
        if (ceiling > 60000)
            ceiling = 60000;
        assert_true(o.retry_in_ms >= 0 && o.retry_in_ms <= ceiling);
        if (o.action == SYNC_ACT_REGISTER) {
            assert_true(o.retry_in_ms == 0); /* full jitter may pick 0 */
            continue;
        }
        assert_int_equal(o.action, SYNC_ACT_NONE);
        assert_true(o.wake_ms == now + o.retry_in_ms);
        /* Not before the wake time... */
        if (o.retry_in_ms > 0)
            assert_int_equal(step(&s, SYNC_EV_TICK, o.wake_ms - 1).action, SYNC_ACT_NONE);
        /* ...and exactly then. */
        now = o.wake_ms;
        assert_int_equal(step(&s, SYNC_EV_TICK, now).action, SYNC_ACT_REGISTER);
    }
}

static void test_retry_after_honoured(void **state)
{
    (void)state;
    struct sync s;
    sync_init(&s, T0, false, 0, -1, 9);
    step(&s, SYNC_EV_TICK, T0);
    struct sync_event ev = {
        .kind = SYNC_EV_REGISTER_FAILED, .version = -1, .retry_after_ms = 30000};
    struct sync_output o;
    sync_step(&s, &ev, T0, &o);
    assert_int_equal(o.action, SYNC_ACT_NONE);
    assert_true(o.wake_ms >= T0 + 30000);
    assert_int_equal(step(&s, SYNC_EV_TICK, T0 + 29999).action, SYNC_ACT_NONE);
}

/* Boot -> register -> train -> config -> heartbeats, the normal path. */
static void test_full_path_with_train(void **state)
{
    (void)state;
    struct sync s;
    int64_t now = T0;
    sync_init(&s, now, true, 0, 3, 1);
    assert_int_equal(step(&s, SYNC_EV_BROKER_UP, now).action, SYNC_ACT_REGISTER);
    struct sync_output o = step_v(&s, SYNC_EV_REGISTERED, 4, 5, now);
    assert_int_equal(s.phase, SYNC_REGISTERED);
    assert_int_equal(s.heartbeat_interval_s, 5);
    assert_int_equal(o.action, SYNC_ACT_REGISTER_TRAIN);
    o = step(&s, SYNC_EV_TRAIN_DONE, now + 10);
    assert_int_equal(o.action, SYNC_ACT_FETCH_CONFIG);
    o = step_v(&s, SYNC_EV_CONFIG_APPLIED, 5, 0, now + 20);
    assert_int_equal(s.applied_version, 5);
    /* What it now runs is reported at once (the central's handover waits for it). */
    assert_int_equal(o.action, SYNC_ACT_HEARTBEAT);
    o = step_v(&s, SYNC_EV_HEARTBEAT_OK, 5, 5, now + 30);
    assert_int_equal(o.action, SYNC_ACT_NONE);
    assert_true(o.wake_ms == now + 5030);
    now += 30;
    o = step(&s, SYNC_EV_TICK, now + 5000);
    assert_int_equal(o.action, SYNC_ACT_HEARTBEAT);
    /* Same version: nothing to do until the next heartbeat. */
    o = step_v(&s, SYNC_EV_HEARTBEAT_OK, 5, 5, now + 5010);
    assert_int_equal(o.action, SYNC_ACT_NONE);
    assert_true(o.wake_ms == now + 10010);
    /* Desired version differs: download at once. */
    assert_int_equal(step(&s, SYNC_EV_TICK, now + 10010).action, SYNC_ACT_HEARTBEAT);
    o = step_v(&s, SYNC_EV_HEARTBEAT_OK, 6, 5, now + 10020);
    assert_int_equal(o.action, SYNC_ACT_FETCH_CONFIG);
    o = step(&s, SYNC_EV_CONFIG_UNCHANGED, now + 10030);
    assert_int_equal(o.action, SYNC_ACT_NONE);
}

static void test_no_train_skips_train_step(void **state)
{
    (void)state;
    struct sync s;
    sync_init(&s, T0, false, 0, -1, 1);
    step(&s, SYNC_EV_TICK, T0);
    assert_int_equal(step_v(&s, SYNC_EV_REGISTERED, 1, 10, T0).action, SYNC_ACT_FETCH_CONFIG);
}

static void test_train_failure_retries_without_blocking_config(void **state)
{
    (void)state;
    struct sync s;
    sync_init(&s, T0, true, 0, -1, 3);
    step(&s, SYNC_EV_BROKER_UP, T0);
    step(&s, SYNC_EV_TICK, T0);
    assert_int_equal(step_v(&s, SYNC_EV_REGISTERED, 1, 10, T0).action, SYNC_ACT_REGISTER_TRAIN);
    struct sync_event ev = {.kind = SYNC_EV_TRAIN_FAILED, .version = -1, .retry_after_ms = 5000};
    struct sync_output o;
    sync_step(&s, &ev, T0, &o);
    /* The config download goes ahead while the train registration waits. */
    assert_int_equal(o.action, SYNC_ACT_FETCH_CONFIG);
    o = step_v(&s, SYNC_EV_CONFIG_APPLIED, 1, 0, T0 + 1);
    assert_int_equal(o.action, SYNC_ACT_HEARTBEAT);
    o = step_v(&s, SYNC_EV_HEARTBEAT_OK, 1, 10, T0 + 2);
    assert_int_equal(o.action, SYNC_ACT_NONE);
    assert_true(o.wake_ms >= T0 + 5000);
    assert_int_equal(step(&s, SYNC_EV_TICK, o.wake_ms).action, SYNC_ACT_REGISTER_TRAIN);
    /* A final answer (e.g. 409) ends the attempts and re-fetches the config. */
    assert_int_equal(step(&s, SYNC_EV_TRAIN_DONE, o.wake_ms).action, SYNC_ACT_FETCH_CONFIG);
}

/* Registered, config 2 applied and reported, broker connected: idle until the next
 * heartbeat at now + 10 s. */
static void registered(struct sync *s, bool train, int64_t now)
{
    sync_init(s, now, train, 0, -1, 5);
    step(s, SYNC_EV_BROKER_UP, now);
    step(s, SYNC_EV_TICK, now);
    step_v(s, SYNC_EV_REGISTERED, 2, 10, now);
    if (train)
        step(s, SYNC_EV_TRAIN_DONE, now);
    assert_int_equal(step_v(s, SYNC_EV_CONFIG_APPLIED, 2, 0, now).action, SYNC_ACT_HEARTBEAT);
    struct sync_output o = step_v(s, SYNC_EV_HEARTBEAT_OK, 2, 10, now);
    assert_int_equal(o.action, SYNC_ACT_NONE);
    assert_true(o.wake_ms == now + 10000);
    assert_true(o.longpoll_version == -1);
}

static void test_heartbeat_404_reregisters(void **state)
{
    (void)state;
    struct sync s;
    registered(&s, true, T0);
    assert_int_equal(step(&s, SYNC_EV_TICK, T0 + 10000).action, SYNC_ACT_HEARTBEAT);
    struct sync_output o = step(&s, SYNC_EV_HEARTBEAT_GONE, T0 + 10001);
    assert_int_equal(s.phase, SYNC_UNREGISTERED);
    assert_int_equal(o.action, SYNC_ACT_REGISTER);
    /* After the new registration the train is announced again and the config re-fetched. */
    o = step_v(&s, SYNC_EV_REGISTERED, 3, 10, T0 + 10002);
    assert_int_equal(o.action, SYNC_ACT_REGISTER_TRAIN);
    assert_int_equal(s.registrations, 2);
}

static void test_config_404_reregisters(void **state)
{
    (void)state;
    struct sync s;
    sync_init(&s, T0, false, 0, -1, 5);
    step(&s, SYNC_EV_TICK, T0);
    step_v(&s, SYNC_EV_REGISTERED, 2, 10, T0);
    assert_int_equal(step(&s, SYNC_EV_CONFIG_GONE, T0 + 1).action, SYNC_ACT_REGISTER);
}

static void test_heartbeat_failure_keeps_period(void **state)
{
    (void)state;
    struct sync s;
    registered(&s, false, T0);
    step(&s, SYNC_EV_TICK, T0 + 10000);
    struct sync_output o = step(&s, SYNC_EV_HEARTBEAT_FAILED, T0 + 10005);
    assert_int_equal(s.phase, SYNC_REGISTERED);
    assert_int_equal(o.action, SYNC_ACT_NONE);
    assert_true(o.wake_ms == T0 + 20005);
    /* 429 with a long Retry-After stretches the period. */
    step(&s, SYNC_EV_TICK, T0 + 20005);
    struct sync_event ev = {
        .kind = SYNC_EV_HEARTBEAT_FAILED, .version = -1, .retry_after_ms = 60000};
    sync_step(&s, &ev, T0 + 20010, &o);
    assert_true(o.wake_ms == T0 + 80010);
}

static void test_config_failure_backs_off(void **state)
{
    (void)state;
    struct sync s;
    sync_init(&s, T0, false, 0, -1, 11);
    step(&s, SYNC_EV_TICK, T0);
    step_v(&s, SYNC_EV_REGISTERED, 2, 10, T0);
    struct sync_output o = step(&s, SYNC_EV_CONFIG_FAILED, T0);
    if (o.action == SYNC_ACT_NONE) {
        assert_true(o.wake_ms <= T0 + 1000);
        assert_true(o.retry_in_ms >= 0);
        assert_int_equal(step(&s, SYNC_EV_TICK, T0 + o.retry_in_ms).action, SYNC_ACT_FETCH_CONFIG);
    } else {
        assert_int_equal(o.action, SYNC_ACT_FETCH_CONFIG);
    }
}

static void test_notify(void **state)
{
    (void)state;
    struct sync s;
    registered(&s, false, T0);
    /* Old or current version: ignored. */
    assert_int_equal(step_v(&s, SYNC_EV_NOTIFY, 2, 0, T0 + 1).action, SYNC_ACT_NONE);
    assert_int_equal(step_v(&s, SYNC_EV_NOTIFY, 1, 0, T0 + 1).action, SYNC_ACT_NONE);
    /* Newer: download at once. */
    assert_int_equal(step_v(&s, SYNC_EV_NOTIFY, 3, 0, T0 + 2).action, SYNC_ACT_FETCH_CONFIG);
    assert_int_equal(step_v(&s, SYNC_EV_CONFIG_APPLIED, 3, 0, T0 + 3).action, SYNC_ACT_HEARTBEAT);
    assert_int_equal(step_v(&s, SYNC_EV_HEARTBEAT_OK, 3, 10, T0 + 4).action, SYNC_ACT_NONE);
    /* The retained notification of an applied version, seen again after a reconnection. */
    assert_int_equal(step_v(&s, SYNC_EV_NOTIFY, 3, 0, T0 + 5).action, SYNC_ACT_NONE);
    assert_false(s.config_wanted);

    /* During a heartbeat in flight: remembered, started when the heartbeat completes. */
    assert_int_equal(step(&s, SYNC_EV_TICK, T0 + 10004).action, SYNC_ACT_HEARTBEAT);
    assert_int_equal(step_v(&s, SYNC_EV_NOTIFY, 4, 0, T0 + 10001).action, SYNC_ACT_NONE);
    assert_int_equal(s.inflight, SYNC_ACT_HEARTBEAT);
    assert_int_equal(step_v(&s, SYNC_EV_HEARTBEAT_OK, 4, 10, T0 + 10002).action,
                     SYNC_ACT_FETCH_CONFIG);
}

static void test_notify_before_registration(void **state)
{
    (void)state;
    struct sync s;
    sync_init(&s, T0, false, 0, 1, 5);
    step(&s, SYNC_EV_TICK, T0);
    step(&s, SYNC_EV_REGISTER_FAILED, T0);
    /* Booted from the cache, central down, broker up: the notification is kept. */
    struct sync_output o = step_v(&s, SYNC_EV_NOTIFY, 2, 0, T0 + 1);
    assert_true(o.action == SYNC_ACT_NONE || o.action == SYNC_ACT_REGISTER);
    assert_true(s.config_wanted);
}

/* A notification during the download of an older version is not lost: the newer one is
 * fetched right after the apply. */
static void test_notify_during_download(void **state)
{
    (void)state;
    struct sync s;
    registered(&s, false, T0);
    assert_int_equal(step_v(&s, SYNC_EV_NOTIFY, 3, 0, T0 + 1).action, SYNC_ACT_FETCH_CONFIG);
    assert_int_equal(step_v(&s, SYNC_EV_NOTIFY, 4, 0, T0 + 2).action, SYNC_ACT_NONE);
    assert_int_equal(step_v(&s, SYNC_EV_CONFIG_APPLIED, 3, 0, T0 + 3).action,
                     SYNC_ACT_FETCH_CONFIG);
    assert_int_equal(step_v(&s, SYNC_EV_CONFIG_APPLIED, 4, 0, T0 + 4).action, SYNC_ACT_HEARTBEAT);
}

/* A config that failed to apply (rolled back) is reported at once and not fetched again
 * until a newer version is announced, whichever way the news comes. */
static void test_rollback_not_retried(void **state)
{
    (void)state;
    struct sync s;
    registered(&s, false, T0);
    assert_int_equal(step_v(&s, SYNC_EV_NOTIFY, 3, 0, T0 + 1).action, SYNC_ACT_FETCH_CONFIG);
    struct sync_output o = step_v(&s, SYNC_EV_CONFIG_REJECTED, 3, 0, T0 + 2);
    assert_int_equal(o.action, SYNC_ACT_HEARTBEAT); /* the error, reported now */
    assert_int_equal(s.applied_version, 2);
    assert_int_equal(s.failed_version, 3);
    /* The central still wants 3: no download. */
    o = step_v(&s, SYNC_EV_HEARTBEAT_OK, 3, 10, T0 + 3);
    assert_int_equal(o.action, SYNC_ACT_NONE);
    assert_false(s.config_wanted);
    assert_int_equal(step_v(&s, SYNC_EV_NOTIFY, 3, 0, T0 + 4).action, SYNC_ACT_NONE);
    assert_int_equal(step_v(&s, SYNC_EV_NOTIFY, 2, 0, T0 + 4).action, SYNC_ACT_NONE);
    assert_int_equal(step(&s, SYNC_EV_TICK, T0 + 10003).action, SYNC_ACT_HEARTBEAT);
    assert_int_equal(step_v(&s, SYNC_EV_HEARTBEAT_OK, 3, 10, T0 + 10004).action, SYNC_ACT_NONE);
    assert_false(sync_version_wanted(&s, 3));
    assert_true(sync_version_wanted(&s, 4));
    /* A newer one (the operator fixed it): downloaded, and applying it clears nothing else. */
    assert_int_equal(step_v(&s, SYNC_EV_NOTIFY, 4, 0, T0 + 10005).action, SYNC_ACT_FETCH_CONFIG);
    assert_int_equal(step_v(&s, SYNC_EV_CONFIG_APPLIED, 4, 0, T0 + 10006).action,
                     SYNC_ACT_HEARTBEAT);
    assert_int_equal(s.applied_version, 4);

    /* Failed again, then the heartbeat names a newer version: downloaded. */
    step(&s, SYNC_EV_HEARTBEAT_OK, T0 + 10007);
    assert_int_equal(step_v(&s, SYNC_EV_NOTIFY, 5, 0, T0 + 10008).action, SYNC_ACT_FETCH_CONFIG);
    assert_int_equal(step_v(&s, SYNC_EV_CONFIG_REJECTED, 5, 0, T0 + 10009).action,
                     SYNC_ACT_HEARTBEAT);
    assert_int_equal(step_v(&s, SYNC_EV_HEARTBEAT_OK, 6, 10, T0 + 10010).action,
                     SYNC_ACT_FETCH_CONFIG);
}

/* A new registration may mean a new central database: its versions may repeat the failed
 * one, so the memory is cleared (the edge compares the document itself). */
static void test_registration_clears_failed_version(void **state)
{
    (void)state;
    struct sync s;
    registered(&s, false, T0);
    step_v(&s, SYNC_EV_NOTIFY, 3, 0, T0 + 1);
    step_v(&s, SYNC_EV_CONFIG_REJECTED, 3, 0, T0 + 2);
    assert_int_equal(step(&s, SYNC_EV_HEARTBEAT_GONE, T0 + 3).action, SYNC_ACT_REGISTER);
    assert_int_equal(step_v(&s, SYNC_EV_REGISTERED, 3, 10, T0 + 4).action, SYNC_ACT_FETCH_CONFIG);
    assert_int_equal(s.failed_version, -1);
}

/* Long poll: only while registered, with a config, and the broker unreachable for the grace
 * period; beside the other requests; one at a time; never spinning. */
static void test_longpoll_decisions(void **state)
{
    (void)state;
    struct sync s;
    registered(&s, false, T0);
    int64_t now = T0 + 100;
    /* Broker up: never. */
    assert_true(step(&s, SYNC_EV_TICK, now).longpoll_version == -1);
    struct sync_output o = step(&s, SYNC_EV_BROKER_DOWN, now);
    assert_true(o.longpoll_version == -1);
    assert_true(o.wake_ms == now + SYNC_LONGPOLL_GRACE_MS); /* before the heartbeat */
    assert_true(step(&s, SYNC_EV_TICK, now + SYNC_LONGPOLL_GRACE_MS - 1).longpoll_version == -1);
    /* Back within the grace period: nothing. */
    step(&s, SYNC_EV_BROKER_UP, now + 1000);
    assert_true(step(&s, SYNC_EV_TICK, now + SYNC_LONGPOLL_GRACE_MS).longpoll_version == -1);
    /* Down for good. */
    now += 5000;
    step(&s, SYNC_EV_BROKER_DOWN, now);
    now += SYNC_LONGPOLL_GRACE_MS;
    o = step(&s, SYNC_EV_TICK, now);
    assert_true(o.longpoll_version == 2); /* the applied version */
    assert_true(s.lp_inflight);
    /* One at a time, and the heartbeat goes on beside it. */
    assert_true(step(&s, SYNC_EV_TICK, now + 1).longpoll_version == -1);
    o = step(&s, SYNC_EV_TICK, T0 + 10000);
    assert_int_equal(o.action, SYNC_ACT_HEARTBEAT);
    assert_true(o.longpoll_version == -1);
    /* (A long heartbeat period from here on keeps the rest of this test about the poll.) */
    step_v(&s, SYNC_EV_HEARTBEAT_OK, 2, 3600, T0 + 10001);
    /* 304 after holding: the next one at once. */
    o = step(&s, SYNC_EV_LONGPOLL_UNCHANGED, now + 50000);
    assert_true(o.longpoll_version == 2);
    now += 50000;
    /* 304 at once (a central that does not hold it): backoff, no spinning. */
    o = step(&s, SYNC_EV_LONGPOLL_UNCHANGED, now + 10);
    assert_true(o.longpoll_version == -1);
    assert_true(o.retry_in_ms >= 0);
    now += 10 + o.retry_in_ms;
    o = step(&s, SYNC_EV_TICK, now);
    assert_true(o.longpoll_version == 2);
    /* Failure: backoff too. */
    o = step(&s, SYNC_EV_LONGPOLL_FAILED, now + 5);
    assert_true(o.longpoll_version == -1 || o.retry_in_ms == 0);
    if (o.longpoll_version == -1) {
        now += 5 + o.retry_in_ms;
        o = step(&s, SYNC_EV_TICK, now);
    }
    assert_true(o.longpoll_version == 2);
    /* A newer version: downloaded like after a notification; the next long poll asks for
     * more than that. */
    o = step_v(&s, SYNC_EV_LONGPOLL_CHANGED, 3, 0, now + 20);
    assert_int_equal(o.action, SYNC_ACT_FETCH_CONFIG);
    assert_true(o.longpoll_version == 3);
    /* The same news again (a central answering 200 without holding): no refetch, backoff. */
    o = step_v(&s, SYNC_EV_LONGPOLL_CHANGED, 3, 0, now + 30);
    assert_true(o.longpoll_version == -1);
    assert_int_equal(o.action, SYNC_ACT_NONE);
    assert_true(o.retry_in_ms >= 0);
    /* Rolled back: the long poll asks for more than the failed version. */
    o = step_v(&s, SYNC_EV_CONFIG_REJECTED, 3, 0, now + 40);
    assert_int_equal(o.action, SYNC_ACT_HEARTBEAT);
    assert_int_equal(s.failed_version, 3);
    now += 40 + (o.retry_in_ms > 0 ? o.retry_in_ms : 0) + SYNC_BACKOFF_CAP_MS;
    o = step_v(&s, SYNC_EV_HEARTBEAT_OK, 3, 3600, now);
    assert_true(o.longpoll_version == 3);
    /* The broker returns: the one in flight may end, no new one. */
    step(&s, SYNC_EV_BROKER_UP, now + 2);
    o = step(&s, SYNC_EV_LONGPOLL_UNCHANGED, now + 60000);
    assert_true(o.longpoll_version == -1);
}

static void test_longpoll_needs_registration_and_config(void **state)
{
    (void)state;
    struct sync s;
    /* Never registered (central unreachable): no long poll, only registration attempts. */
    sync_init(&s, T0, false, 0, 4, 5);
    struct sync_output o = step(&s, SYNC_EV_TICK, T0 + 60000);
    assert_int_equal(o.action, SYNC_ACT_REGISTER);
    assert_true(o.longpoll_version == -1);
    /* Registered but nothing applied yet: the download is what is needed. */
    sync_init(&s, T0, false, 0, -1, 5);
    step(&s, SYNC_EV_TICK, T0);
    o = step_v(&s, SYNC_EV_REGISTERED, 1, 10, T0 + 60000);
    assert_int_equal(o.action, SYNC_ACT_FETCH_CONFIG);
    assert_true(o.longpoll_version == -1);
    /* Booted from the cache (version 4), broker down since boot: the long poll starts
     * once registered, beside the download. */
    sync_init(&s, T0, false, 0, 4, 5);
    step(&s, SYNC_EV_TICK, T0);
    o = step_v(&s, SYNC_EV_REGISTERED, 5, 10, T0 + 60000);
    assert_int_equal(o.action, SYNC_ACT_FETCH_CONFIG);
    assert_true(o.longpoll_version == 5); /* above what the central already announced */
}

static void test_heartbeat_override(void **state)
{
    (void)state;
    struct sync s;
    sync_init(&s, T0, false, 3, -1, 5);
    step(&s, SYNC_EV_TICK, T0);
    step_v(&s, SYNC_EV_REGISTERED, 1, 30, T0);
    assert_int_equal(s.heartbeat_interval_s, 3);
    struct sync_output o = step_v(&s, SYNC_EV_CONFIG_APPLIED, 1, 0, T0);
    assert_true(o.wake_ms == T0 + 3000);
    /* Nonsense intervals from a server are ignored. */
    struct sync s2;
    sync_init(&s2, T0, false, 0, -1, 5);
    step(&s2, SYNC_EV_TICK, T0);
    step_v(&s2, SYNC_EV_REGISTERED, 1, 0, T0);
    assert_int_equal(s2.heartbeat_interval_s, SYNC_DEFAULT_HEARTBEAT_S);
    step_v(&s2, SYNC_EV_REGISTERED, 1, 100000, T0);
    assert_int_equal(s2.heartbeat_interval_s, SYNC_DEFAULT_HEARTBEAT_S);
}

/* A period finer than whole seconds (the fleet simulator's), and back to the server's. */
static void test_heartbeat_override_ms(void **state)
{
    (void)state;
    struct sync s;
    sync_init(&s, T0, false, 0, -1, 5);
    sync_heartbeat_override_set(&s, 500);
    step(&s, SYNC_EV_TICK, T0);
    step_v(&s, SYNC_EV_REGISTERED, 1, 30, T0);
    assert_true(sync_heartbeat_period_ms(&s) == 500);
    struct sync_output o = step_v(&s, SYNC_EV_CONFIG_APPLIED, 1, 0, T0);
    assert_int_equal(o.action, SYNC_ACT_HEARTBEAT);
    o = step_v(&s, SYNC_EV_HEARTBEAT_OK, 1, 30, T0 + 10);
    assert_true(o.wake_ms == T0 + 510);
    sync_heartbeat_override_set(&s, 0);
    assert_true(sync_heartbeat_period_ms(&s) == 10000); /* the server's, never taken over it */
    step(&s, SYNC_EV_TICK, T0 + 510);
    step_v(&s, SYNC_EV_HEARTBEAT_OK, 1, 30, T0 + 520);
    assert_true(s.next_heartbeat_ms == T0 + 30520); /* (the wake is the long poll's, sooner) */
}

static void test_action_names(void **state)
{
    (void)state;
    assert_string_equal(sync_action_name(SYNC_ACT_REGISTER), "register");
    assert_string_equal(sync_action_name(SYNC_ACT_HEARTBEAT), "heartbeat");
    assert_string_equal(sync_action_name(SYNC_ACT_LONGPOLL), "longpoll");
    assert_string_equal(sync_action_name(SYNC_ACT_NONE), "none");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boot_registers_at_once),
        cmocka_unit_test(test_register_backoff_full_jitter),
        cmocka_unit_test(test_retry_after_honoured),
        cmocka_unit_test(test_full_path_with_train),
        cmocka_unit_test(test_no_train_skips_train_step),
        cmocka_unit_test(test_train_failure_retries_without_blocking_config),
        cmocka_unit_test(test_heartbeat_404_reregisters),
        cmocka_unit_test(test_config_404_reregisters),
        cmocka_unit_test(test_heartbeat_failure_keeps_period),
        cmocka_unit_test(test_config_failure_backs_off),
        cmocka_unit_test(test_notify),
        cmocka_unit_test(test_notify_before_registration),
        cmocka_unit_test(test_notify_during_download),
        cmocka_unit_test(test_rollback_not_retried),
        cmocka_unit_test(test_registration_clears_failed_version),
        cmocka_unit_test(test_longpoll_decisions),
        cmocka_unit_test(test_longpoll_needs_registration_and_config),
        cmocka_unit_test(test_heartbeat_override),
        cmocka_unit_test(test_heartbeat_override_ms),
        cmocka_unit_test(test_action_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
