#include "sync.h"

#include <stddef.h>

#include "backoff.h"

const char *sync_action_name(enum sync_action a)
{
    switch (a) {
    case SYNC_ACT_REGISTER:
        return "register";
    case SYNC_ACT_REGISTER_TRAIN:
        return "register_train";
    case SYNC_ACT_FETCH_CONFIG:
        return "fetch_config";
    case SYNC_ACT_HEARTBEAT:
        return "heartbeat";
    case SYNC_ACT_LONGPOLL:
        return "longpoll";
    default:
        return "none";
    }
}

void sync_init(struct sync *s, int64_t now_ms, bool self_register, int heartbeat_override_s,
               int64_t applied_version, uint64_t seed)
{
    *s = (struct sync){0};
    s->phase = SYNC_UNREGISTERED;
    s->self_register = self_register;
    s->next_register_ms = now_ms;
    s->heartbeat_interval_s =
        heartbeat_override_s > 0 ? heartbeat_override_s : SYNC_DEFAULT_HEARTBEAT_S;
    s->heartbeat_override_ms = heartbeat_override_s > 0 ? (int64_t)heartbeat_override_s * 1000 : 0;
    s->applied_version = applied_version;
    s->desired_version = -1;
    s->failed_version = -1;
    s->broker_up = false;
    s->broker_down_ms = now_ms;
    s->lp_next_ms = now_ms;
    s->lp_asked = -1;
    s->rng = seed != 0 ? seed : 0x9e3779b97f4a7c15ULL;
}

bool sync_version_wanted(const struct sync *s, int64_t version)
{
    /* Versions only rise for a given central database (a reset shows as a 404 and a new
     * registration, which clears failed_version). Nothing at or below what is applied, or
     * at or below a version that was refused, is worth downloading: re-applying a version
     * that failed would fail again, and an old retained notification is old news. */
    return version >= 0 && version > s->applied_version && version > s->failed_version;
}

/* Full-jitter backoff, but never sooner than the server asked for (429 Retry-After). */
static int64_t retry_delay(struct sync *s, unsigned *attempt, int64_t retry_after_ms)
{
    int64_t d = backoff_delay_ms(*attempt, SYNC_BACKOFF_BASE_MS, SYNC_BACKOFF_CAP_MS,
                                 backoff_rand(&s->rng));
    if (*attempt < 32)
        (*attempt)++;
    if (retry_after_ms > d)
        d = retry_after_ms;
    return d;
}

static void interval_update(struct sync *s, int server_s)
{
    if (s->heartbeat_override_ms > 0)
        return;
    if (server_s >= 1 && server_s <= 3600)
        s->heartbeat_interval_s = server_s;
}

int64_t sync_heartbeat_period_ms(const struct sync *s)
{
    if (s->heartbeat_override_ms > 0)
        return s->heartbeat_override_ms;
    return (int64_t)s->heartbeat_interval_s * 1000;
}

void sync_heartbeat_override_set(struct sync *s, int64_t period_ms)
{
    s->heartbeat_override_ms = period_ms > 0 ? period_ms : 0;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* A central that forgot us: register again, at once, with the same UUID. */
static void sync_unregister(struct sync *s, int64_t now_ms)
{
    s->phase = SYNC_UNREGISTERED;
    s->reg_attempt = 0;
    s->next_register_ms = now_ms;
}

static void config_want(struct sync *s, int64_t now_ms)
{
    s->config_wanted = true;
    s->cfg_attempt = 0;
    s->next_config_ms = now_ms;
}

/* An announced version (notification, long poll). */
static void announced(struct sync *s, int64_t version, int64_t now_ms)
{
    if (!sync_version_wanted(s, version))
        return;
    /* News skips any pending backoff; the same news again does not. */
    if (version > s->desired_version || !s->config_wanted)
        config_want(s, now_ms);
    s->desired_version = max64(s->desired_version, version);
}

/* After an apply, a rollback or a refusal: report at once, and go on if the central has
 * announced something newer meanwhile. */
static void config_settled(struct sync *s, int64_t now_ms)
{
    s->config_wanted = false;
    s->cfg_attempt = 0;
    if (s->phase == SYNC_REGISTERED)
        s->next_heartbeat_ms = now_ms;
    if (sync_version_wanted(s, s->desired_version))
        config_want(s, now_ms);
}

static void longpoll_backoff(struct sync *s, int64_t retry_after_ms, int64_t now_ms,
                             struct sync_output *out)
{
    int64_t d = retry_delay(s, &s->lp_attempt, retry_after_ms);
    s->lp_next_ms = now_ms + d;
    out->retry_in_ms = d;
}

static void registered(struct sync *s, const struct sync_event *ev, int64_t now_ms)
{
    s->phase = SYNC_REGISTERED;
    s->registrations++;
    s->reg_attempt = 0;
    interval_update(s, ev->heartbeat_interval_s);
    if (ev->version >= 0)
        s->desired_version = ev->version;
    /* The central may be another database now, with versions counted afresh: the
     * downloaded document itself tells whether it is the one that failed. */
    s->failed_version = -1;
    /* Every registration (boot, or after the central lost us) re-announces the
     * self-registered train and fetches the config: both may have changed meanwhile.
     * The conditional GET makes the fetch cheap when nothing did. */
    s->train_pending = s->self_register;
    s->train_attempt = 0;
    s->next_train_ms = now_ms;
    config_want(s, now_ms);
    s->next_heartbeat_ms = now_ms + sync_heartbeat_period_ms(s);
}

static void heartbeat_answered(struct sync *s, const struct sync_event *ev, int64_t now_ms)
{
    if (ev->kind == SYNC_EV_HEARTBEAT_FAILED) {
        /* Heartbeats are periodic anyway; a 429 only stretches the period. */
        int64_t d = sync_heartbeat_period_ms(s);
        if (ev->retry_after_ms > d)
            d = ev->retry_after_ms;
        s->next_heartbeat_ms = now_ms + d;
        return;
    }
    interval_update(s, ev->heartbeat_interval_s);
    s->next_heartbeat_ms = now_ms + sync_heartbeat_period_ms(s);
    if (ev->version >= 0) {
        s->desired_version = ev->version;
        if (sync_version_wanted(s, ev->version) && !s->config_wanted)
            config_want(s, now_ms);
    }
}

static void longpoll_answered(struct sync *s, const struct sync_event *ev, int64_t now_ms,
                              struct sync_output *out)
{
    s->lp_inflight = false;
    if (ev->kind == SYNC_EV_LONGPOLL_CHANGED && ev->version > s->lp_asked) {
        s->lp_attempt = 0;
        s->lp_next_ms = now_ms;
        announced(s, ev->version, now_ms);
    } else if (ev->kind == SYNC_EV_LONGPOLL_UNCHANGED &&
               now_ms - s->lp_started_ms >= SYNC_LONGPOLL_MIN_HOLD_MS) {
        s->lp_attempt = 0;
        s->lp_next_ms = now_ms;
    } else {
        /* Failed; or answered sooner than a held request can be, or a 200 without anything
         * newer: the central did not hold the request. */
        longpoll_backoff(s, ev->retry_after_ms, now_ms, out);
    }
}

static void event_apply(struct sync *s, const struct sync_event *ev, int64_t now_ms,
                        struct sync_output *out)
{
    switch (ev->kind) {
    case SYNC_EV_TICK:
        break;
    case SYNC_EV_REGISTERED:
        registered(s, ev, now_ms);
        break;
    case SYNC_EV_REGISTER_FAILED:
        out->retry_in_ms = retry_delay(s, &s->reg_attempt, ev->retry_after_ms);
        s->next_register_ms = now_ms + out->retry_in_ms;
        break;
    case SYNC_EV_TRAIN_DONE:
        s->train_pending = false;
        s->train_attempt = 0;
        /* The registration may have changed our assignment. */
        config_want(s, now_ms);
        break;
    case SYNC_EV_TRAIN_FAILED:
        out->retry_in_ms = retry_delay(s, &s->train_attempt, ev->retry_after_ms);
        s->next_train_ms = now_ms + out->retry_in_ms;
        break;
    case SYNC_EV_CONFIG_APPLIED:
        if (ev->version >= 0)
            s->applied_version = ev->version;
        config_settled(s, now_ms);
        break;
    case SYNC_EV_CONFIG_REJECTED:
        if (ev->version >= 0)
            s->failed_version = ev->version;
        config_settled(s, now_ms);
        break;
    case SYNC_EV_CONFIG_UNCHANGED:
        s->config_wanted = false;
        s->cfg_attempt = 0;
        break;
    case SYNC_EV_CONFIG_FAILED:
        out->retry_in_ms = retry_delay(s, &s->cfg_attempt, ev->retry_after_ms);
        s->next_config_ms = now_ms + out->retry_in_ms;
        break;
    case SYNC_EV_CONFIG_GONE:
    case SYNC_EV_HEARTBEAT_GONE:
        sync_unregister(s, now_ms);
        break;
    case SYNC_EV_HEARTBEAT_OK:
    case SYNC_EV_HEARTBEAT_FAILED:
        heartbeat_answered(s, ev, now_ms);
        break;
    case SYNC_EV_NOTIFY:
        announced(s, ev->version, now_ms);
        break;
    case SYNC_EV_BROKER_UP:
        s->broker_up = true;
        break;
    case SYNC_EV_BROKER_DOWN:
        if (s->broker_up)
            s->broker_down_ms = now_ms;
        s->broker_up = false;
        break;
    case SYNC_EV_LONGPOLL_CHANGED:
    case SYNC_EV_LONGPOLL_UNCHANGED:
    case SYNC_EV_LONGPOLL_FAILED:
        longpoll_answered(s, ev, now_ms, out);
        break;
    case SYNC_EV_CENTRAL_CHANGED:
        /* Maybe another database: it must learn about us before anything else. */
        sync_unregister(s, now_ms);
        break;
    }
}

static int64_t earliest(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static enum sync_action due_action(const struct sync *s, int64_t now_ms, int64_t *wake)
{
    *wake = -1;
    if (s->phase == SYNC_UNREGISTERED) {
        if (now_ms >= s->next_register_ms)
            return SYNC_ACT_REGISTER;
        *wake = s->next_register_ms;
        return SYNC_ACT_NONE;
    }
    if (s->train_pending) {
        if (now_ms >= s->next_train_ms)
            return SYNC_ACT_REGISTER_TRAIN;
        *wake = earliest(*wake, s->next_train_ms);
    }
    if (s->config_wanted) {
        if (now_ms >= s->next_config_ms)
            return SYNC_ACT_FETCH_CONFIG;
        *wake = earliest(*wake, s->next_config_ms);
    }
    if (now_ms >= s->next_heartbeat_ms)
        return SYNC_ACT_HEARTBEAT;
    *wake = earliest(*wake, s->next_heartbeat_ms);
    return SYNC_ACT_NONE;
}

/* The long poll is the fallback for MQTT notifications: only while registered, with a
 * config to compare versions against, and the broker unreachable for a while. */
static bool longpoll_due(const struct sync *s, int64_t now_ms, int64_t *wake)
{
    *wake = -1;
    if (s->lp_inflight || s->phase != SYNC_REGISTERED || s->broker_up || s->applied_version < 0)
        return false;
    int64_t at = max64(s->broker_down_ms + SYNC_LONGPOLL_GRACE_MS, s->lp_next_ms);
    if (now_ms >= at)
        return true;
    *wake = at;
    return false;
}

static bool ends_request(enum sync_event_kind k)
{
    switch (k) {
    case SYNC_EV_TICK:
    case SYNC_EV_NOTIFY:
    case SYNC_EV_BROKER_UP:
    case SYNC_EV_BROKER_DOWN:
    case SYNC_EV_LONGPOLL_CHANGED:
    case SYNC_EV_LONGPOLL_UNCHANGED:
    case SYNC_EV_LONGPOLL_FAILED:
    case SYNC_EV_CENTRAL_CHANGED:
        return false;
    default:
        return true;
    }
}

void sync_step(struct sync *s, const struct sync_event *ev, int64_t now_ms, struct sync_output *out)
{
    int64_t wake = -1, lp_wake = -1;
    out->action = SYNC_ACT_NONE;
    out->wake_ms = -1;
    out->retry_in_ms = -1;
    out->longpoll_version = -1;

    /* A completion event ends the request in flight; other events do not. */
    if (ends_request(ev->kind))
        s->inflight = SYNC_ACT_NONE;
    event_apply(s, ev, now_ms, out);
    /* While a request is in flight, its completion event wakes the machine again. */
    if (s->inflight == SYNC_ACT_NONE) {
        out->action = due_action(s, now_ms, &wake);
        s->inflight = out->action;
        if (out->action != SYNC_ACT_NONE)
            wake = -1;
    }
    if (longpoll_due(s, now_ms, &lp_wake)) {
        /* Asks for anything above what is applied, refused, or already announced. */
        out->longpoll_version =
            max64(s->applied_version, max64(s->failed_version, s->desired_version));
        s->lp_inflight = true;
        s->lp_asked = out->longpoll_version;
        s->lp_started_ms = now_ms;
    }
    out->wake_ms = earliest(wake, lp_wake);
}
