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
    s->heartbeat_override_s = heartbeat_override_s;
    s->applied_version = applied_version;
    s->desired_version = -1;
    s->rng = seed != 0 ? seed : 0x9e3779b97f4a7c15ULL;
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
    if (s->heartbeat_override_s > 0)
        return;
    if (server_s >= 1 && server_s <= 3600)
        s->heartbeat_interval_s = server_s;
}

static int64_t hb_period_ms(const struct sync *s)
{
    return (int64_t)s->heartbeat_interval_s * 1000;
}

/* A central that forgot us: register again, at once, with the same UUID. */
static void sync_unregister(struct sync *s, int64_t now_ms)
{
    s->phase = SYNC_UNREGISTERED;
    s->reg_attempt = 0;
    s->next_register_ms = now_ms;
}

static void event_apply(struct sync *s, const struct sync_event *ev, int64_t now_ms,
                        struct sync_output *out)
{
    switch (ev->kind) {
    case SYNC_EV_TICK:
        break;
    case SYNC_EV_REGISTERED:
        s->phase = SYNC_REGISTERED;
        s->registrations++;
        s->reg_attempt = 0;
        interval_update(s, ev->heartbeat_interval_s);
        if (ev->version >= 0)
            s->desired_version = ev->version;
        /* Every registration (boot, or after the central lost us) re-announces the
         * self-registered train and fetches the config: both may have changed meanwhile.
         * The conditional GET makes the fetch cheap when nothing did. */
        s->train_pending = s->self_register;
        s->train_attempt = 0;
        s->next_train_ms = now_ms;
        s->config_wanted = true;
        s->cfg_attempt = 0;
        s->next_config_ms = now_ms;
        s->next_heartbeat_ms = now_ms + hb_period_ms(s);
        break;
    case SYNC_EV_REGISTER_FAILED:
        out->retry_in_ms = retry_delay(s, &s->reg_attempt, ev->retry_after_ms);
        s->next_register_ms = now_ms + out->retry_in_ms;
        break;
    case SYNC_EV_TRAIN_DONE:
        s->train_pending = false;
        s->train_attempt = 0;
        /* The registration may have changed our assignment. */
        s->config_wanted = true;
        s->next_config_ms = now_ms;
        break;
    case SYNC_EV_TRAIN_FAILED:
        out->retry_in_ms = retry_delay(s, &s->train_attempt, ev->retry_after_ms);
        s->next_train_ms = now_ms + out->retry_in_ms;
        break;
    case SYNC_EV_CONFIG_APPLIED:
        if (ev->version >= 0)
            s->applied_version = ev->version;
        s->config_wanted = false;
        s->cfg_attempt = 0;
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
        interval_update(s, ev->heartbeat_interval_s);
        s->next_heartbeat_ms = now_ms + hb_period_ms(s);
        if (ev->version >= 0) {
            s->desired_version = ev->version;
            if (ev->version != s->applied_version && !s->config_wanted) {
                s->config_wanted = true;
                s->cfg_attempt = 0;
                s->next_config_ms = now_ms;
            }
        }
        break;
    case SYNC_EV_HEARTBEAT_FAILED: {
        /* Heartbeats are periodic anyway; a 429 only stretches the period. */
        int64_t d = hb_period_ms(s);
        if (ev->retry_after_ms > d)
            d = ev->retry_after_ms;
        s->next_heartbeat_ms = now_ms + d;
        break;
    }
    case SYNC_EV_NOTIFY:
        if (ev->version > s->applied_version) {
            if (ev->version > s->desired_version)
                s->desired_version = ev->version;
            /* A notification is news: skip any pending backoff. */
            s->config_wanted = true;
            s->cfg_attempt = 0;
            s->next_config_ms = now_ms;
        }
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

void sync_step(struct sync *s, const struct sync_event *ev, int64_t now_ms, struct sync_output *out)
{
    out->action = SYNC_ACT_NONE;
    out->wake_ms = -1;
    out->retry_in_ms = -1;

    /* A completion event ends the request in flight; a tick or notification does not. */
    if (ev->kind != SYNC_EV_TICK && ev->kind != SYNC_EV_NOTIFY)
        s->inflight = SYNC_ACT_NONE;
    event_apply(s, ev, now_ms, out);
    if (s->inflight != SYNC_ACT_NONE)
        return; /* woken again by the completion event */
    int64_t wake;
    out->action = due_action(s, now_ms, &wake);
    s->inflight = out->action;
    out->wake_ms = out->action == SYNC_ACT_NONE ? wake : -1;
}
