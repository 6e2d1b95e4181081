#include "sweeper.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "api_views.h"
#include "central.h"
#include "cluster.h"
#include "events.h"
#include "log.h"
#include "notify.h"
#include "placement.h"
#include "presence.h"
#include "longpoll.h"
#include "store.h"
#include "timeutil.h"

/* The sweeper wakes once a second for the presence pass, and every TICK_MS while long polls
 * are parked (one is answered within a tick of its deadline) or the WAL grows (it is copied
 * into the database in small steps): an idle central wakes this thread once a second, not
 * four times. */
#define TICK_MS 250
#define PRESENCE_EVERY_MS 1000
#define KEEPALIVE_EVERY_MS 15000
/* While database writes fail, a probe write this often notices when they work again. */
#define WRITE_PROBE_EVERY_MS 5000

struct sweeper {
    struct central *c;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    struct presence_tracker tracker;
    /* The pass reads, and the WAL is checkpointed, through a connection of its own, so that
     * neither holds the store's lock (and every request behind it). NULL: no second
     * connection, the pass reads through the store and SQLite checkpoints on commit. */
    struct store *maint;
    bool had_duty;           /* the presence pass ran here at the last tick (cluster.h) */
    bool checkpoint_failing; /* logged once, and again when it works */
    bool writes_failing;     /* likewise for the store's writes */
};

void presence_tracker_init(struct presence_tracker *t)
{
    t->states = json_object();
    t->unreleased = json_object();
    t->pass = 0;
    t->primed = false;
}

void presence_tracker_free(struct presence_tracker *t)
{
    json_decref(t->states);
    t->states = NULL;
    json_decref(t->unreleased);
    t->unreleased = NULL;
}

/* A state remembered between passes: the number of the pass that saw it, and the presence. */
#define MARK(pass, p) ((json_int_t)((pass) << 3) | (json_int_t)(p))
#define MARK_PRESENCE(v) ((enum presence)((v)&7))
#define MARK_PASS(v) ((uint64_t)(v) >> 3)

struct scan {
    struct central *c;
    struct presence_tracker *t;
    int64_t now;
    size_t seen;
    json_t *changes; /* [[id, from, to, known before], ...] */
};

/* Runs inside the scan's transaction: compares and remembers, nothing else. */
static void scan_row(void *arg, const struct store_presence_row *row)
{
    struct scan *x = arg;
    enum presence p = view_presence_scanned(x->c, row, x->now);
    json_t *prev = json_object_get(x->t->states, row->id);
    x->seen++;
    if (prev == NULL) {
        json_object_set_new(x->t->states, row->id, json_integer(MARK(x->t->pass, p)));
        /* A controller created since the last pass comes from "unknown" (never seen); on
         * the first pass everything is only recorded: a restart is not a transition. */
        if (x->t->primed && p != PRESENCE_UNKNOWN)
            json_array_append_new(x->changes,
                                  json_pack("[s, i, i, b]", row->id, PRESENCE_UNKNOWN, p, 0));
        return;
    }
    enum presence from = MARK_PRESENCE(json_integer_value(prev));
    json_integer_set(prev, MARK(x->t->pass, p));
    if (from != p)
        json_array_append_new(x->changes, json_pack("[s, i, i, b]", row->id, from, p, 1));
}

/* Releases what a controller that stopped being live held (placement.h), in a transaction
 * of its own. 0 or the store's error. */
static int release(struct central *c, const char *id, int64_t now)
{
    int rc = store_begin(c->store, true);
    if (rc < 0)
        return rc;
    rc = placement_release(c, c->store, id, now);
    if (rc < 0) {
        store_rollback(c->store);
        return rc;
    }
    return store_commit(c->store); /* ends the transaction either way */
}

/* release, and when it fails: logged, and remembered for the next pass (a transition is
 * seen only once, so nothing else would retry it). */
static void release_or_retry(struct central *c, struct presence_tracker *t, const char *id,
                             int64_t now)
{
    int rc = release(c, id, now);
    if (rc == 0) {
        json_object_del(t->unreleased, id);
        return;
    }
    if (json_object_get(t->unreleased, id) == NULL)
        log_event(RH_LOG_ERROR, "placement_release_failed", "{s:s, s:s, s:b}", "uuid", id, "error",
                  store_last_error(c->store), "retrying", 1);
    json_object_set_new(t->unreleased, id, json_true());
}

/* Counts, logs and publishes one transition. True when the controller stopped being live
 * and must release what it held. */
static bool transition(struct central *c, const char *id, enum presence from, enum presence to,
                       bool known, int64_t now)
{
    atomic_fetch_add(&c->counters.presence_transitions[from][to], 1);
    if (from == PRESENCE_ONLINE && to != PRESENCE_ONLINE)
        atomic_fetch_add(&c->counters.heartbeats_missed, 1);
    log_event(RH_LOG_INFO, "controller_presence_changed", "{s:s, s:s, s:s}", "uuid", id, "from",
              presence_name(from), "to", presence_name(to));
    if (events_wanted(c->events) && store_begin(c->store, false) == 0) {
        json_t *row = NULL;
        if (store_controller_get(c->store, id, &row) == 0)
            events_publish(c->events, "controller", view_controller(c, row, now, true));
        store_rollback(c->store);
        json_decref(row);
    }
    return known && (to == PRESENCE_OFFLINE || to == PRESENCE_UNKNOWN);
}

/* The releases that failed before: again, for the controllers still not live; forgotten for
 * the ones that came back (they keep their trains) or were deleted. */
static void retry_releases(struct central *c, struct presence_tracker *t, int64_t now)
{
    const char *id;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(t->unreleased, tmp, id, v)
    {
        json_t *mark = json_object_get(t->states, id);
        enum presence p = mark ? MARK_PRESENCE(json_integer_value(mark)) : PRESENCE_ONLINE;
        if (p != PRESENCE_OFFLINE && p != PRESENCE_UNKNOWN) {
            json_object_del(t->unreleased, id);
            continue;
        }
        char key[64];
        snprintf(key, sizeof key, "%s", id); /* id is freed if the entry is deleted */
        release_or_retry(c, t, key, now);
        if (json_object_get(t->unreleased, key) == NULL)
            log_event(RH_LOG_INFO, "placement_release_retried", "{s:s}", "uuid", key);
    }
}

void sweeper_presence_pass(struct central *c, struct presence_tracker *t, struct store *st)
{
    struct scan x = {.c = c, .t = t, .now = timeutil_now_ms() / 1000, .changes = json_array()};
    t->pass++;
    if (store_begin(st, false) < 0) {
        json_decref(x.changes);
        return;
    }
    int rc = store_controller_presence_scan(st, scan_row, &x);
    store_rollback(st);
    if (rc < 0)
        log_event(RH_LOG_ERROR, "presence_scan_failed", "{s:s}", "error", strerror(-rc));
    /* Forget deleted controllers: the ones a complete pass did not see. */
    if (rc == 0 && x.seen < json_object_size(t->states)) {
        const char *id;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(t->states, tmp, id, v)
        {
            if (MARK_PASS(json_integer_value(v)) != t->pass)
                json_object_del(t->states, id);
        }
    }
    if (rc == 0)
        retry_releases(c, t, x.now);
    size_t i;
    json_t *ch;
    json_array_foreach(x.changes, i, ch)
    {
        const char *id = json_string_value(json_array_get(ch, 0));
        if (transition(c, id, (enum presence)json_integer_value(json_array_get(ch, 1)),
                       (enum presence)json_integer_value(json_array_get(ch, 2)),
                       json_is_true(json_array_get(ch, 3)), x.now))
            release_or_retry(c, t, id, x.now);
    }
    json_decref(x.changes);
    /* From now on a controller not seen before is a transition from "unknown". */
    if (rc == 0)
        t->primed = true;
}

/* Taking the duty over from an instance that died: a controller that stopped being live
 * while no instance watched still holds trains assigned elsewhere, and no transition will
 * ever show it (the first pass only records). Released now, as the transition would have
 * (placement.h); at worst a new owner gets one config version more. */
static void release_unwatched(struct central *c, struct presence_tracker *t, int64_t now)
{
    json_t *trains = NULL, *holders = json_object();
    int rc = store_begin(c->store, false);
    if (rc == 0) {
        rc = store_train_list(c->store, NULL, &trains);
        store_rollback(c->store);
    }
    if (rc < 0)
        log_event(RH_LOG_ERROR, "presence_catch_up_failed", "{s:s}", "error",
                  store_last_error(c->store));
    size_t i;
    json_t *train;
    json_array_foreach(trains, i, train)
    {
        const char *actual = json_string_value(json_object_get(train, "actual_controller_id"));
        const char *desired = json_string_value(json_object_get(train, "desired_controller_id"));
        if (actual == NULL || desired == NULL || strcmp(actual, desired) == 0)
            continue;
        json_t *mark = json_object_get(t->states, actual);
        enum presence p = mark ? MARK_PRESENCE(json_integer_value(mark)) : PRESENCE_UNKNOWN;
        if (p == PRESENCE_OFFLINE || p == PRESENCE_UNKNOWN)
            json_object_set_new(holders, actual, json_true());
    }
    const char *id;
    json_t *v;
    json_object_foreach(holders, id, v) release_or_retry(c, t, id, now);
    if (json_object_size(holders) > 0)
        log_event(RH_LOG_INFO, "presence_catch_up", "{s:I}", "released",
                  (json_int_t)json_object_size(holders));
    json_decref(trains);
    json_decref(holders);
}

/* The presence pass is a cluster-wide duty (cluster.h): only the instance that holds it runs
 * the pass. One that takes it over starts as a central starts (the first pass only records,
 * a takeover is not a transition), then completes what nobody watched meanwhile; and as it
 * now stores what the broker reports, it asks the broker for the last status and presence
 * again (retained messages). */
static void presence_duty(struct sweeper *sw)
{
    struct central *c = sw->c;
    struct store *st = sw->maint ? sw->maint : c->store;
    if (!cluster_duty(c->cluster)) {
        sw->had_duty = false;
        return;
    }
    if (sw->had_duty) {
        sweeper_presence_pass(c, &sw->tracker, st);
        return;
    }
    presence_tracker_free(&sw->tracker);
    presence_tracker_init(&sw->tracker);
    sweeper_presence_pass(c, &sw->tracker, st);
    release_unwatched(c, &sw->tracker, timeutil_now_ms() / 1000);
    notify_resubscribe(c->notify);
    sw->had_duty = true;
}

/* Logs when the store's writes start and stop failing (store_write_state; /health reports
 * it), and while they fail, probes so that it is noticed without traffic when they work
 * again. */
static void watch_writes(struct sweeper *sw)
{
    struct store *st = sw->c->store;
    char why[512];
    bool ok = store_write_state(st, why, sizeof why);
    if (!ok && store_probe_write(st) == 0)
        ok = store_write_state(st, why, sizeof why);
    if (!ok && !sw->writes_failing)
        log_event(RH_LOG_ERROR, "database_writes_failing", "{s:s, s:s}", "db", sw->c->opts.db_shown,
                  "error", why);
    else if (ok && sw->writes_failing)
        log_event(RH_LOG_INFO, "database_writes_recovered", "{s:s}", "db", sw->c->opts.db_shown);
    sw->writes_failing = !ok;
}

/* A request parked: the sweeper shortens its sleep to TICK_MS. */
static void poke(void *arg)
{
    struct sweeper *sw = arg;
    pthread_mutex_lock(&sw->lock);
    pthread_cond_signal(&sw->cond);
    pthread_mutex_unlock(&sw->lock);
}

/* Passes of one checkpoint while it leaves much behind (what the writer wrote meanwhile is
 * copied at once, so that little is left for the writer to finish; more passes slowed the
 * writer, docs/performance.md). */
#define CHECKPOINT_PASSES 2

/* true while the WAL grows. */
static bool checkpoint(struct sweeper *sw)
{
    if (sw->maint == NULL)
        return false;
    struct store_wal wal = {0, 0};
    int rc = 0;
    bool changed = false;
    for (int pass = 0; pass < CHECKPOINT_PASSES && rc >= 0; pass++) {
        rc = store_checkpoint(sw->maint, &wal);
        changed = changed || rc > 0;
        if (wal.left <= STORE_WAL_FINISH_LEFT)
            break;
    }
    /* Nearly copied: the writer copies the rest after its next commit (store.h), and the
     * write after that starts the WAL over. Also when nothing was left: "left" counts from
     * the WAL's length when the pass began, and a writer that never pauses has added frames
     * while the pass ran, so without the writer's finish the WAL would never start over
     * (measured: 1.5 GB in 16 s of re-registrations once the writer no longer paused for
     * file locks). */
    if (rc >= 0 && changed && wal.left <= STORE_WAL_FINISH_LEFT &&
        wal.frames >= STORE_WAL_FINISH_AT)
        store_finish_checkpoint(sw->c->store);
    /* Once per episode: a full disk fails it on every pass. */
    bool failed = rc < 0;
    if (failed && !sw->checkpoint_failing)
        log_event(RH_LOG_WARNING, "checkpoint_failed", "{s:s}", "error",
                  store_last_error(sw->maint));
    else if (!failed && sw->checkpoint_failing)
        log_event(RH_LOG_INFO, "checkpoint_recovered", "{}");
    sw->checkpoint_failing = failed;
    return changed;
}

static void *run(void *arg)
{
    struct sweeper *sw = arg;
    struct central *c = sw->c;
    int64_t now = timeutil_mono_ms();
    int64_t presence_due = now + PRESENCE_EVERY_MS, probe_due = now + WRITE_PROBE_EVERY_MS,
            keepalive_due = now + KEEPALIVE_EVERY_MS;
    bool writing = false;
    pthread_mutex_lock(&sw->lock);
    while (!sw->stop) {
        int64_t sleep_ms = presence_due - timeutil_mono_ms();
        if ((writing || longpoll_parked(c->longpoll) > 0) && sleep_ms > TICK_MS)
            sleep_ms = TICK_MS;
        if (sleep_ms > 0) {
            struct timespec until = timeutil_mono_after(sleep_ms);
            pthread_cond_timedwait(&sw->cond, &sw->lock, &until);
        }
        if (sw->stop)
            break;
        pthread_mutex_unlock(&sw->lock);
        now = timeutil_mono_ms();
        /* Expire one tick early rather than late: a long poll answers within its wait. */
        longpoll_expire(c->longpoll, now + TICK_MS);
        writing = checkpoint(sw);
        if (now >= presence_due) {
            presence_due = now + PRESENCE_EVERY_MS;
            if (now >= probe_due) {
                probe_due = now + WRITE_PROBE_EVERY_MS;
                watch_writes(sw);
            }
            if (now >= keepalive_due) {
                keepalive_due = now + KEEPALIVE_EVERY_MS;
                events_keepalive(c->events);
            }
            presence_duty(sw);
            /* The pass needs the store (and so the database) to be usable: a central stuck
             * on it stops feeding the systemd watchdog and gets restarted. A no-op outside
             * systemd. */
            sd_notify(0, "WATCHDOG=1");
        }
        pthread_mutex_lock(&sw->lock);
    }
    pthread_mutex_unlock(&sw->lock);
    return NULL;
}

int sweeper_start(struct central *c, struct sweeper **out)
{
    struct sweeper *sw = calloc(1, sizeof *sw);
    if (sw == NULL)
        return -ENOMEM;
    sw->c = c;
    presence_tracker_init(&sw->tracker);
    char err[256];
    if (store_open_maintenance(c->opts.db, &sw->maint, err, sizeof err) < 0) {
        log_event(RH_LOG_WARNING, "second_connection_unavailable", "{s:s}", "error", err);
        sw->maint = NULL;
    } else if (store_defer_checkpoints(c->store) < 0) {
        log_event(RH_LOG_WARNING, "checkpoint_deferral_failed", "{s:s}", "error",
                  store_last_error(c->store));
    }
    pthread_mutex_init(&sw->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&sw->cond, &attr);
    pthread_condattr_destroy(&attr);
    /* The first pass only records the states: a restart is not a transition. With other
     * instances on the database, it waits until this one holds the duty. */
    sw->had_duty = cluster_duty(c->cluster);
    if (sw->had_duty)
        sweeper_presence_pass(c, &sw->tracker, sw->maint ? sw->maint : c->store);
    longpoll_on_park(c->longpoll, poke, sw);
    if (pthread_create(&sw->thread, NULL, run, sw) != 0) {
        longpoll_on_park(c->longpoll, NULL, NULL);
        presence_tracker_free(&sw->tracker);
        store_free(sw->maint);
        free(sw);
        return -EAGAIN;
    }
    *out = sw;
    return 0;
}

void sweeper_stop(struct sweeper *sw)
{
    if (sw == NULL)
        return;
    longpoll_on_park(sw->c->longpoll, NULL, NULL);
    pthread_mutex_lock(&sw->lock);
    sw->stop = true;
    pthread_cond_signal(&sw->cond);
    pthread_mutex_unlock(&sw->lock);
    pthread_join(sw->thread, NULL);
    pthread_cond_destroy(&sw->cond);
    pthread_mutex_destroy(&sw->lock);
    presence_tracker_free(&sw->tracker);
    store_free(sw->maint);
    free(sw);
}
