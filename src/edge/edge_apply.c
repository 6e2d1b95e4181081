/* The apply-a-config transaction (edge_internal.h). A runtime config is checked against the
 * running trains before anything is touched, its new trains are opened, removed trains ramp
 * down and are released, the command topics kept on the same broker must be acknowledged,
 * and only then is it committed: the running config, the cache, the broker, the sync
 * machine told. A failure on the way rolls the trains back to the running config. */
#include "edge_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "log.h"
#include "timeutil.h"

/* Whether a train other than except still takes commands from topic. */
static bool topic_in_use(const struct edge *e, const char *topic, const struct train *except)
{
    for (size_t i = 0; i < e->trains.n; i++) {
        const struct train *t = &e->trains.v[i];
        if (t != except && strcmp(t->commands_topic, topic) == 0)
            return true;
    }
    return false;
}

/* A released train (stopped, about to be closed): its last status, and its topic dropped. */
void edge_apply_train_released(void *ctx, const struct train *t)
{
    struct edge *e = ctx;
    /* Only a train that was announced gets a final word: one that was opened and dropped
     * within the same apply (a rollback) never ran here. */
    if (t->status_last_ms >= 0)
        edge_mqtt_status_publish(e, t, 0, false);
    if (!topic_in_use(e, t->commands_topic, t))
        mqtt_link_unsubscribe(e->mqtt, t->commands_topic);
    log_event(RH_LOG_INFO, "train_released", "{s:s}", "train_id", t->id);
}

/* Back to the running config's trains: trains the failed config added are closed, changed
 * drivers restored, trains it removed kept. */
static void trains_rollback(struct edge *e)
{
    if (trains_configure(&e->trains, json_object_get(e->config, "trains"), timeutil_mono_ms()) < 0)
        log_event(RH_LOG_ERROR, "config_rollback_failed", "{s:s}", "reason", "out of memory");
    trains_reap(&e->trains, true, edge_apply_train_released, e);
    edge_mqtt_subscribe_all(e);
}

void edge_apply_clear(struct edge *e)
{
    json_decref(e->apply.cfg);
    memset(&e->apply, 0, sizeof e->apply);
}

void edge_apply_suback(struct edge *e, int mid, bool granted)
{
    struct edge_apply *a = &e->apply;
    for (size_t i = 0; i < a->n_subs; i++) {
        if (a->sub_mids[i] != mid)
            continue;
        if (!granted && !a->sub_refused) {
            a->sub_refused = true;
            snprintf(a->refused_train, sizeof a->refused_train, "%s", a->sub_train[i]);
        }
        a->n_subs--;
        a->sub_mids[i] = a->sub_mids[a->n_subs];
        memcpy(a->sub_train[i], a->sub_train[a->n_subs], sizeof a->sub_train[i]);
        break;
    }
}

/* A config that could not be applied: the running one stays (the caller restored its
 * trains), the version is not tried again, and the error is reported. */
static void apply_failed(struct edge *e, const json_t *cfg, const char *reason, bool from_sync)
{
    json_int_t version = json_integer_value(json_object_get(cfg, "version"));
    e->rejected_version = version;
    snprintf(e->rejected_checksum, sizeof e->rejected_checksum, "%s",
             json_string_value(json_object_get(cfg, "checksum")));
    /* The prefix is how the central tells this from other errors (its config_error field). */
    snprintf(e->apply_error, sizeof e->apply_error,
             EDGE_ERROR_ROLLED_BACK "config %" JSON_INTEGER_FORMAT " rolled back: %.180s", version,
             reason);
    e->m.config_rollbacks++;
    log_event(RH_LOG_ERROR, "config_rolled_back", "{s:I, s:I, s:s}", "version", version, "running",
              (json_int_t)e->applied_version, "reason", reason);
    if (from_sync)
        edge_sync_feed_kind(e, SYNC_EV_CONFIG_REJECTED, version);
}

static void apply_commit(struct edge *e)
{
    struct edge_apply *a = &e->apply;
    bool from_sync = a->from_sync;
    json_t *cfg = a->cfg;
    a->cfg = NULL;

    json_decref(e->config);
    e->config = cfg;
    json_decref(e->held);
    e->held = NULL;
    e->applied_version = json_integer_value(json_object_get(cfg, "version"));
    e->m.config_applies++;
    e->apply_error[0] = '\0';
    if (strcmp(a->source, "central") == 0) {
        /* Cached as current only now that it runs; the one before becomes the previous. */
        edge_state_written(e, CACHE_CURRENT,
                           cache_store(e->opts.state_dir, cfg, timeutil_now_ms()));
        edge_central_etag_remember(e, a->etag);
    }
    edge_mqtt_configure(e);

    json_t *ids = json_array();
    int errors = 0;
    for (size_t i = 0; i < e->trains.n; i++) {
        struct train *t = &e->trains.v[i];
        json_array_append_new(ids, json_string(t->id));
        if (t->error[0] != '\0') {
            errors++;
            log_event(RH_LOG_ERROR, "train_plugin_error", "{s:s, s:s, s:s}", "train_id", t->id,
                      "plugin", t->plugin, "error", t->error);
        }
    }
    e->errors_reported = errors;
    log_event(RH_LOG_INFO, "config_applied", "{s:I, s:s, s:o, s:s, s:b}", "version",
              (json_int_t)e->applied_version, "source", a->source, "trains", ids, "broker",
              mqtt_link_broker(e->mqtt), "simulate", e->opts.simulate);
    if (e->trains.n == 0)
        log_event(RH_LOG_INFO, "waiting_for_assignment", "{s:s}", "uuid", e->uuid);
    edge_apply_clear(e);
    /* Reported at once: the central's handover waits for this controller's word. */
    if (from_sync)
        edge_sync_feed_kind(e, SYNC_EV_CONFIG_APPLIED, e->applied_version);
}

/* Moves a pending apply on: trains that stopped are released, SUBACKs checked; commits
 * when nothing is left to wait for. */
void edge_apply_progress(struct edge *e, int64_t now)
{
    struct edge_apply *a = &e->apply;
    if (!a->pending)
        return;
    if (a->sub_refused && e->config != NULL) {
        char reason[200];
        json_t *cfg = json_incref(a->cfg);
        bool from_sync = a->from_sync;
        snprintf(reason, sizeof reason,
                 "train %s: the broker refused the subscription to its "
                 "command topic",
                 a->refused_train);
        edge_apply_clear(e);
        trains_rollback(e);
        apply_failed(e, cfg, reason, from_sync);
        json_decref(cfg);
        return;
    }
    bool overdue = now >= a->deadline_ms;
    if (trains_reap(&e->trains, overdue, edge_apply_train_released, e) > 0)
        return;
    if (a->n_subs > 0 && mqtt_link_connected(e->mqtt)) {
        if (now < a->subs_deadline_ms && !overdue)
            return;
        /* A broker that does not answer is a broker problem, not the config's. */
        log_event(RH_LOG_WARNING, "config_subscriptions_unconfirmed", "{s:i}", "topics",
                  (int)a->n_subs);
    }
    apply_commit(e);
}

/* Subscribes the command topics of the trains the pending apply keeps or adds, noting the
 * SUBACKs to wait for. */
static void subscribe_kept(struct edge *e)
{
    struct edge_apply *a = &e->apply;
    for (size_t i = 0; i < e->trains.n && a->n_subs < EDGE_MAX_TRAINS; i++) {
        const struct train *t = &e->trains.v[i];
        int mid = 0;
        if (t->releasing)
            continue;
        int rc = mqtt_link_subscribe(e->mqtt, t->commands_topic, 1, &mid);
        if (rc < 0) {
            log_event(RH_LOG_WARNING, "mqtt_subscribe_failed", "{s:s, s:i}", "topic",
                      t->commands_topic, "errno", -rc);
            continue;
        }
        a->sub_mids[a->n_subs] = mid;
        snprintf(a->sub_train[a->n_subs], sizeof a->sub_train[0], "%s", t->id);
        a->n_subs++;
    }
}

/* Applies a validated config: check, open, then (possibly later, edge_apply_progress) release the
 * removed trains, wait for the SUBACKs and commit. With a running config to return to, a
 * train that cannot get its new driver rolls the whole config back; without one (the first
 * config), it is applied and the broken train reported. 0 when committed or in progress,
 * -EINVAL when rolled back. */
int edge_apply_config(struct edge *e, json_t *cfg, const char *source, bool from_sync,
                      const char *etag)
{
    const json_t *list = json_object_get(cfg, "trains");
    int64_t now = timeutil_mono_ms();
    char reason[200] = "";

    if (e->config != NULL && trains_check(&e->trains, list, reason, sizeof reason) < 0) {
        /* Refused before anything was touched: the running trains do not even twitch. */
        apply_failed(e, cfg, reason, from_sync);
        return -EINVAL;
    }
    int failed = trains_configure(&e->trains, list, now);
    if (failed < 0) {
        log_event(RH_LOG_ERROR, "config_apply_failed", "{s:s}", "reason", "out of memory");
        if (from_sync)
            edge_sync_feed_kind(e, SYNC_EV_CONFIG_FAILED, -1);
        return -ENOMEM;
    }
    if (failed > 0 && e->config != NULL) {
        for (size_t i = 0; i < e->trains.n; i++) {
            const struct train *t = &e->trains.v[i];
            if (t->opened && t->error[0] != '\0') {
                snprintf(reason, sizeof reason, "train %.100s: %.90s", t->id, t->error);
                break;
            }
        }
        trains_rollback(e);
        apply_failed(e, cfg, reason, from_sync);
        return -EINVAL;
    }

    edge_apply_clear(e);
    struct edge_apply *a = &e->apply;
    a->pending = true;
    a->cfg = json_incref(cfg);
    a->from_sync = from_sync;
    snprintf(a->source, sizeof a->source, "%s", source);
    if (etag != NULL)
        snprintf(a->etag, sizeof a->etag, "%s", etag);
    a->deadline_ms = now + EDGE_APPLY_MAX_MS;
    a->subs_deadline_ms = now + EDGE_APPLY_SUBACK_MS;
    trains_release_start(&e->trains, now);
    /* On the broker we stay with, the command topics must be acknowledged before the
     * central hears that we run these trains. A new broker subscribes at its connection. */
    if (mqtt_link_connected(e->mqtt) && edge_mqtt_same_broker(e, e->config, cfg))
        subscribe_kept(e);
    edge_apply_progress(e, now);
    return 0;
}

/* --- a superseded config -------------------------------------------------------------- */

/* The running config is out of date when a newer version is known (a retained notification,
 * a heartbeat answer) that has not been downloaded: its trains may have been moved to another
 * controller meanwhile, and two motors would obey one command topic. So the trains are held:
 * released (ramped to 0, command topics dropped) and the config kept aside, until the
 * central sends the current config or confirms this one (304). A config only stale by age,
 * with nothing newer known, still drives. A newer version that was refused or rolled back
 * is not "current" here: the edge keeps the config it can run and reports the refusal. */
int64_t edge_apply_superseded_check(struct edge *e, int64_t now)
{
    int64_t want = e->sync.desired_version;
    bool newer = e->config != NULL && !e->apply.pending && sync_version_wanted(&e->sync, want) &&
                 want > e->confirmed_version;
    if (!newer) {
        e->newer_since_ms = -1;
        return -1;
    }
    if (e->newer_since_ms < 0)
        e->newer_since_ms = now;
    bool reachable = e->registered && !e->fetch_failed;
    if (reachable && now - e->newer_since_ms < EDGE_SUPERSEDED_GRACE_MS)
        return e->newer_since_ms + EDGE_SUPERSEDED_GRACE_MS;

    json_int_t running = json_integer_value(json_object_get(e->config, "version"));
    snprintf(e->cache_reason, sizeof e->cache_reason,
             "config %" PRId64 " is current but could not be downloaded%s%.100s; config %" PRId64
             " is out of date",
             want,
             e->last_sync_error[0] ? ": " : (reachable ? " yet" : ": central API unreachable"),
             e->last_sync_error, (int64_t)running);
    snprintf(e->cache_state, sizeof e->cache_state, "superseded");
    log_event(RH_LOG_WARNING, "trains_held", "{s:I, s:I, s:i, s:s}", "current", (json_int_t)want,
              "running", running, "trains", (int)e->trains.n, "reason", e->cache_reason);
    json_decref(e->held);
    e->held = e->config;
    e->config = NULL;
    json_t *none = json_array();
    if (none == NULL || trains_configure(&e->trains, none, now) < 0) {
        /* Cannot even build the empty set: stop them where they are. */
        trains_stop_all(&e->trains, now);
    }
    json_decref(none);
    trains_release_start(&e->trains, now);
    e->newer_since_ms = -1;
    return -1;
}
