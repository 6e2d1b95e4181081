#include "sweeper.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "api_views.h"
#include "central.h"
#include "events.h"
#include "log.h"
#include "placement.h"
#include "longpoll.h"
#include "store.h"
#include "timeutil.h"

#define TICK_MS 250
#define KEEPALIVE_EVERY_TICKS (15 * 1000 / TICK_MS)
#define PRESENCE_EVERY_TICKS (1000 / TICK_MS)

struct sweeper {
    struct central *c;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    json_t *states; /* uuid -> last presence name */
};

void sweeper_presence_pass(struct central *c, json_t *last_states)
{
    int64_t now = timeutil_now_ms() / 1000;
    json_t *rows = NULL;
    if (store_begin(c->store, false) < 0)
        return;
    if (store_controller_list(c->store, &rows) < 0) {
        store_rollback(c->store);
        return;
    }
    json_t *seen = json_object();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *id = json_string_value(json_object_get(row, "id"));
        enum presence p = view_presence(c, row, now);
        json_object_set_new(seen, id, json_integer(p));
        json_t *prev = json_object_get(last_states, id);
        /* A controller created since the last pass comes from "unknown" (never seen). */
        enum presence from = prev ? (enum presence)json_integer_value(prev) : PRESENCE_UNKNOWN;
        if (from == p || (prev == NULL && !json_is_true(json_object_get(last_states, ""))))
            continue;
        atomic_fetch_add(&c->counters.presence_transitions[from][p], 1);
        if (from == PRESENCE_ONLINE && p != PRESENCE_ONLINE)
            atomic_fetch_add(&c->counters.heartbeats_missed, 1);
        log_event(LOG_INFO, "controller_presence_changed", "{s:s, s:s, s:s}", "uuid", id, "from",
                  presence_name(from), "to", presence_name(p));
        events_publish(c->events, "controller", view_controller(c, row, now, true));
    }
    store_rollback(c->store);
    /* Controllers that stopped being live release what they held (placement.h). */
    const char *id;
    json_t *state;
    json_object_foreach(seen, id, state)
    {
        json_t *prev = json_object_get(last_states, id);
        enum presence p = (enum presence)json_integer_value(state);
        if (prev == NULL || json_integer_value(prev) == p ||
            (p != PRESENCE_OFFLINE && p != PRESENCE_UNKNOWN))
            continue;
        if (store_begin(c->store, true) == 0) {
            if (placement_release(c, c->store, id, now) == 0)
                store_commit(c->store);
            else
                store_rollback(c->store);
        }
    }
    json_object_clear(last_states);
    json_object_update(last_states, seen);
    /* Marks that a first pass happened: from now on new controllers are transitions. */
    json_object_set_new(last_states, "", json_true());
    json_decref(seen);
    json_decref(rows);
}

static void *run(void *arg)
{
    struct sweeper *sw = arg;
    struct central *c = sw->c;
    unsigned tick = 0;
    pthread_mutex_lock(&sw->lock);
    while (!sw->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec += 1;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&sw->cond, &sw->lock, &until);
        if (sw->stop)
            break;
        pthread_mutex_unlock(&sw->lock);
        /* Expire one tick early rather than late: a long poll answers within its wait. */
        longpoll_expire(c->longpoll, timeutil_mono_ms() + TICK_MS);
        tick++;
        if (tick % KEEPALIVE_EVERY_TICKS == 0)
            events_keepalive(c->events);
        if (tick % PRESENCE_EVERY_TICKS == 0) {
            sweeper_presence_pass(c, sw->states);
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
    sw->states = json_object();
    pthread_mutex_init(&sw->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&sw->cond, &attr);
    pthread_condattr_destroy(&attr);
    /* The first pass only records the states: a restart is not a transition. */
    sweeper_presence_pass(c, sw->states);
    if (pthread_create(&sw->thread, NULL, run, sw) != 0) {
        json_decref(sw->states);
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
    pthread_mutex_lock(&sw->lock);
    sw->stop = true;
    pthread_cond_signal(&sw->cond);
    pthread_mutex_unlock(&sw->lock);
    pthread_join(sw->thread, NULL);
    pthread_cond_destroy(&sw->cond);
    pthread_mutex_destroy(&sw->lock);
    json_decref(sw->states);
    free(sw);
}
