#include "edge.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "canon.h"
#include "epoch.h"
#include "fileio.h"
#include "health.h"
#include "log.h"
#include "timeutil.h"
#include "uuidstr.h"

static int64_t mono_now(void)
{
    return timeutil_mono_ms();
}

/* Finer than timeutil_mono_ms, for the download-time histogram (a LAN answer takes a
 * fraction of a millisecond). */
static int64_t mono_now_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        return timeutil_mono_ms() * 1000;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t random_seed(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s || s == 0)
        s = (uint64_t)timeutil_now_ms() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    return s ? s : 1;
}

/* --- MQTT ------------------------------------------------------------------------------- */

static char *presence_payload(const struct edge *e, const char *state)
{
    char ts[TIMEUTIL_ISO_LEN + 1];
    if (timeutil_format(timeutil_now_ms() / 1000, ts) < 0)
        ts[0] = '\0';
    json_t *j =
        json_pack("{s:s, s:I, s:s, s:s}", "state", state, "session_epoch",
                  (json_int_t)e->session_epoch, "version", ROUNDHOUSE_VERSION, "timestamp", ts);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* The will must describe the session it belongs to: a will carrying an older epoch than the
 * central's is ignored, and the controller would then look online until the grace period ran
 * out. MQTT fixes the will at CONNECT, so a changed epoch needs a new connection
 * (session_epoch_adopt). */
static void will_arm(struct edge *e)
{
    if (e->uuid[0] == '\0')
        return; /* no presence topic before the central assigned our UUID */
    char *p = presence_payload(e, "offline");
    if (p != NULL && mqtt_link_set_will(e->mqtt, e->presence_topic, p) == 0)
        e->will_epoch = e->session_epoch;
    else
        log_event(LOG_WARNING, "mqtt_will_failed", "{s:s}", "topic", e->presence_topic);
    free(p);
}

static void pending_add(struct edge *e, int mid)
{
    if (e->n_pending < EDGE_MAX_PENDING_PUBS)
        e->pending_mids[e->n_pending++] = mid;
}

static int publish_json(struct edge *e, const char *topic, json_t *j, int qos, bool retain,
                        bool track)
{
    int mid = 0, rc;
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (s == NULL)
        return -ENOMEM;
    rc = mqtt_link_publish(e->mqtt, topic, s, strlen(s), qos, retain, &mid);
    if (rc == 0 && track && qos > 0)
        pending_add(e, mid);
    free(s);
    return rc;
}

static void presence_publish(struct edge *e, const char *state, bool track)
{
    char *p = e->uuid[0] ? presence_payload(e, state) : NULL;
    int mid = 0;
    if (p == NULL)
        return;
    if (mqtt_link_publish(e->mqtt, e->presence_topic, p, strlen(p), 1, true, &mid) == 0 && track)
        pending_add(e, mid);
    free(p);
}

static void status_publish(struct edge *e, struct train *t, int qos, bool track)
{
    json_t *j = train_status_json(t, e->uuid, timeutil_now_ms());
    if (publish_json(e, t->status_topic, j, qos, true, track) == 0)
        e->m.status_published++;
    json_decref(j);
}

static int64_t sync_feed(struct edge *e, const struct sync_event *ev);

static void sync_feed_kind(struct edge *e, enum sync_event_kind kind, int64_t version)
{
    struct sync_event ev = {.kind = kind, .version = version, .retry_after_ms = -1};
    sync_feed(e, &ev);
}

static void on_mqtt_connect(void *ctx)
{
    struct edge *e = ctx;
    e->m.mqtt_connects++;
    e->last_contact_ms = mono_now();
    e->failsafe_fired = false;
    /* A clean session forgets subscriptions: subscribe again on every connection. Trains
     * being released too: they still take stop and emergencyStop. */
    for (size_t i = 0; i < e->trains.n; i++) {
        struct train *t = &e->trains.v[i];
        mqtt_link_subscribe(e->mqtt, t->commands_topic, 1, NULL);
        /* The retained status may be from before the outage: refresh it. */
        t->status_dirty = true;
        t->status_last_ms = -1;
    }
    mqtt_link_subscribe(e->mqtt, PROTO_TOPIC_ESTOP, 1, NULL);
    if (e->uuid[0] != '\0')
        mqtt_link_subscribe(e->mqtt, e->config_topic, 1, NULL);
    presence_publish(e, "online", false);
    /* Announced from the next tick, once the queued SUBSCRIBEs were written: tests and
     * operators may rely on commands reaching us from then on. */
    e->announce_connected = true;
    sync_feed_kind(e, SYNC_EV_BROKER_UP, -1);
}

static void on_mqtt_disconnect(void *ctx, int reason)
{
    struct edge *e = ctx;
    log_event(reason == 0 ? LOG_INFO : LOG_WARNING, "mqtt_disconnected", "{s:s, s:i}", "broker",
              mqtt_link_broker(e->mqtt), "reason", reason);
    /* SUBACKs of that connection will not come; the next one subscribes everything. */
    e->apply.n_subs = 0;
    sync_feed_kind(e, SYNC_EV_BROKER_DOWN, -1);
}

static void last_command_set(struct edge *e, const char *train_id, const char *action,
                             bool accepted, const char *reason)
{
    char ts[32];
    if (timeutil_format_ms(timeutil_now_ms(), ts, sizeof ts) < 0)
        ts[0] = '\0';
    json_decref(e->last_command);
    e->last_command = json_pack("{s:s?, s:s?, s:b, s:s?, s:s}", "train_id", train_id, "action",
                                action, "accepted", accepted, "reason", reason, "at", ts);
}

static void estop_all(struct edge *e, const void *payload, size_t len)
{
    json_t *j = json_loadb(payload, len < PROTO_COMMAND_MAX ? len : 0, 0, NULL);
    const char *reason = json_string_value(json_object_get(j, "reason"));
    /* Any message on the broadcast topic stops everything, even an unreadable one: for a
     * safety broadcast, acting on a garbled message is the lesser evil. */
    for (size_t i = 0; i < e->trains.n; i++)
        trains_estop(&e->trains.v[i]);
    e->m.commands[PROTO_ACT_ESTOP]++;
    log_event(LOG_WARNING, "emergency_stop", "{s:s?, s:i}", "reason", reason, "trains",
              (int)e->trains.n);
    last_command_set(e, NULL, "emergencyStop", true, reason);
    /* Confirmed to the central, which tells the operator which controllers obeyed. */
    if (e->uuid[0] != '\0') {
        char topic[96], ts[32];
        proto_topic(topic, sizeof topic, PROTO_TOPIC_ESTOP_ACK, e->uuid);
        if (timeutil_format_ms(timeutil_now_ms(), ts, sizeof ts) < 0)
            ts[0] = '\0';
        json_t *ack =
            json_pack("{s:s?, s:i, s:s}", "estop_id", json_string_value(json_object_get(j, "id")),
                      "trains", (int)e->trains.n, "timestamp", ts);
        if (ack != NULL && publish_json(e, topic, ack, 1, false, false) < 0)
            log_event(LOG_WARNING, "emergency_stop_ack_failed", "{s:s}", "topic", topic);
        json_decref(ack);
    }
    json_decref(j);
}

static void config_notify(struct edge *e, const void *payload, size_t len)
{
    json_t *j = json_loadb(payload, len < 4096 ? len : 0, 0, NULL);
    json_t *v = json_object_get(j, "version");
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        if (len > 0) /* an empty retained message only clears the topic */
            log_event(LOG_WARNING, "config_notification_invalid", NULL);
        json_decref(j);
        return;
    }
    json_int_t version = json_integer_value(v);
    log_event(LOG_INFO, "config_notification", "{s:I, s:I, s:b}", "version", version, "applied",
              (json_int_t)e->applied_version, "wanted", sync_version_wanted(&e->sync, version));
    sync_feed_kind(e, SYNC_EV_NOTIFY, version);
    json_decref(j);
}

static void on_mqtt_message(void *ctx, const char *topic, const void *payload, size_t len,
                            bool retained)
{
    struct edge *e = ctx;
    struct train_cmd cmd;
    char err[160];
    e->last_contact_ms = mono_now();

    if (strcmp(topic, PROTO_TOPIC_ESTOP) == 0) {
        /* The stop is a moment, not a state: a retained one would stop every train at every
         * reconnect, long after the reason was gone. An empty message is the central clearing
         * such a retained one. */
        if (retained || len == 0) {
            log_event(LOG_WARNING, "emergency_stop_ignored", "{s:s}", "reason",
                      retained ? "retained" : "empty");
            return;
        }
        estop_all(e, payload, len);
        return;
    }
    if (e->uuid[0] != '\0' && strcmp(topic, e->config_topic) == 0) {
        config_notify(e, payload, len);
        return;
    }
    struct train *t = trains_find_by_topic(&e->trains, topic);
    if (t == NULL)
        return; /* a topic of a train we no longer run */
    if (train_cmd_parse(payload, len, &cmd, err, sizeof err) < 0) {
        e->m.commands_rejected++;
        log_event(LOG_WARNING, "command_rejected", "{s:s, s:s, s:i}", "train_id", t->id, "reason",
                  err, "bytes", (int)len);
        last_command_set(e, t->id, NULL, false, err);
        return;
    }
    int rc = trains_command(t, &cmd, mono_now());
    if (rc < 0 && cmd.action != PROTO_ACT_ESTOP) {
        const char *why = rc == -EBUSY ? "train is being handed over" : t->error;
        e->m.commands_rejected++;
        log_event(LOG_WARNING, "command_rejected", "{s:s, s:s, s:s}", "train_id", t->id, "action",
                  proto_action_name(cmd.action), "reason", why);
        last_command_set(e, t->id, proto_action_name(cmd.action), false, why);
        return;
    }
    e->m.commands[cmd.action]++;
    log_event(cmd.action == PROTO_ACT_ESTOP ? LOG_WARNING : LOG_INFO, "command_applied",
              "{s:s, s:s, s:i, s:s, s:s}", "train_id", t->id, "action",
              proto_action_name(cmd.action), "speed", cmd.has_speed ? cmd.speed : -1, "direction",
              cmd.has_direction ? motor_direction_name(cmd.direction) : "", "state",
              ramp_state_name(ramp_state(&t->ramp)));
    last_command_set(e, t->id, proto_action_name(cmd.action), true, NULL);
}

static void on_mqtt_publish(void *ctx, int mid)
{
    struct edge *e = ctx;
    e->last_contact_ms = mono_now();
    for (size_t i = 0; i < e->n_pending; i++) {
        if (e->pending_mids[i] == mid) {
            e->pending_mids[i] = e->pending_mids[--e->n_pending];
            break;
        }
    }
}

static void on_mqtt_subscribe(void *ctx, int mid, bool granted)
{
    struct edge *e = ctx;
    struct edge_apply *a = &e->apply;
    e->last_contact_ms = mono_now();
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

/* --- runtime config --------------------------------------------------------------------- */

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
static void on_train_released(void *ctx, const struct train *t)
{
    struct edge *e = ctx;
    /* Only a train that was announced gets a final word: one that was opened and dropped
     * within the same apply (a rollback) never ran here. */
    if (t->status_last_ms >= 0) {
        json_t *j = train_status_json(t, e->uuid, timeutil_now_ms());
        if (publish_json(e, t->status_topic, j, 0, true, false) == 0)
            e->m.status_published++;
        json_decref(j);
    }
    if (!topic_in_use(e, t->commands_topic, t))
        mqtt_link_unsubscribe(e->mqtt, t->commands_topic);
    log_event(LOG_INFO, "train_released", "{s:s}", "train_id", t->id);
}

static void broker_of(const struct edge *e, const json_t *cfg, const char **host, int *port,
                      const char **user, const char **pass, bool *tls)
{
    const json_t *b = json_object_get(cfg, "mqtt_broker");
    *tls = e->opts.mqtt_tls || json_is_true(json_object_get(b, "tls"));
    *host = json_string_value(json_object_get(b, "host"));
    *port = (int)json_integer_value(json_object_get(b, "port"));
    *user = json_string_value(json_object_get(b, "username"));
    *pass = json_string_value(json_object_get(b, "password"));
    if (e->opts.mqtt_override) {
        *host = e->opts.mqtt_host;
        *port = e->opts.mqtt_port;
    }
    if (*user != NULL && (*user)[0] == '\0')
        *user = NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

static bool same_broker(const struct edge *e, const json_t *a, const json_t *b)
{
    const char *ha, *hb, *ua, *ub, *pa, *pb;
    int porta, portb;
    bool tlsa, tlsb;
    if (a == NULL || b == NULL)
        return false;
    broker_of(e, a, &ha, &porta, &ua, &pa, &tlsa);
    broker_of(e, b, &hb, &portb, &ub, &pb, &tlsb);
    return str_eq(ha, hb) && porta == portb && str_eq(ua, ub) && str_eq(pa, pb) && tlsa == tlsb;
}

/* Trust for an https:// central and for a TLS broker. Files named by options are read now,
 * so that a wrong one stops the start with a message naming it; the system's store (no
 * file) is loaded only when a TLS connection needs it. */
static int central_tls_setup(struct edge *e, struct api_client *api, const char *url)
{
    const struct edge_opts *o = &e->opts;
    char err[512];
    struct api_tls at = {.ca_file = o->central_ca[0] ? o->central_ca : NULL,
                         .pins = &o->central_pins};
    int rc = api_client_tls_setup(api, &at, err, sizeof err);
    if (rc < 0)
        log_event(LOG_ERROR, "tls_setup_failed", "{s:s, s:s?, s:s}", "for", "central", "url", url,
                  "error", err);
    return rc;
}

static int tls_setup(struct edge *e)
{
    const struct edge_opts *o = &e->opts;
    char err[512];
    int rc = central_tls_setup(e, e->api, e->central_in_use[0] ? e->central_in_use : NULL);
    if (rc < 0)
        return rc;
    const char *ca = o->mqtt_ca[0] ? o->mqtt_ca : (o->central_ca[0] ? o->central_ca : NULL);
    bool files = ca != NULL || o->mqtt_cert[0] != '\0';
    rc = mqtt_link_set_tls(e->mqtt, ca, o->mqtt_cert[0] ? o->mqtt_cert : NULL,
                           o->mqtt_key[0] ? o->mqtt_key : NULL, files, err, sizeof err);
    if (rc < 0)
        log_event(LOG_ERROR, "tls_setup_failed", "{s:s, s:s}", "for", "mqtt", "error", err);
    return rc;
}

static void mqtt_configure(struct edge *e)
{
    const char *host, *user, *pass;
    int port;
    bool tls;
    broker_of(e, e->config, &host, &port, &user, &pass, &tls);
    /* A live broker must be heard from well within the fail-safe timeout (failsafe_check). */
    int keepalive = e->opts.failsafe_timeout_s / 2;
    if (keepalive > 60)
        keepalive = 60;
    will_arm(e);
    if (mqtt_link_set_broker(e->mqtt, host, port, user, pass, tls, keepalive, mono_now()) < 0)
        log_event(LOG_ERROR, "mqtt_configure_failed", "{s:s}", "host", host);
}

static void subscribe_all(struct edge *e)
{
    if (!mqtt_link_connected(e->mqtt))
        return;
    for (size_t i = 0; i < e->trains.n; i++)
        mqtt_link_subscribe(e->mqtt, e->trains.v[i].commands_topic, 1, NULL);
}

/* Back to the running config's trains: trains the failed config added are closed, changed
 * drivers restored, trains it removed kept. */
static void trains_rollback(struct edge *e)
{
    if (trains_configure(&e->trains, json_object_get(e->config, "trains"), mono_now()) < 0)
        log_event(LOG_ERROR, "config_rollback_failed", "{s:s}", "reason", "out of memory");
    trains_reap(&e->trains, true, on_train_released, e);
    subscribe_all(e);
}

static void apply_clear(struct edge *e)
{
    json_decref(e->apply.cfg);
    memset(&e->apply, 0, sizeof e->apply);
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
    log_event(LOG_ERROR, "config_rolled_back", "{s:I, s:I, s:s}", "version", version, "running",
              (json_int_t)e->applied_version, "reason", reason);
    if (from_sync)
        sync_feed_kind(e, SYNC_EV_CONFIG_REJECTED, version);
}

static void etag_remember(struct edge *e, const char *etag)
{
    if (etag != NULL && etag[0] != '\0' && strlen(etag) < sizeof e->etag)
        snprintf(e->etag, sizeof e->etag, "%s", etag);
}

/* The outcome of a write to the state directory: a failure (read-only, full, gone) is
 * remembered for /health until a later write succeeds, and logged naming the file. */
static void state_written(struct edge *e, const char *file, int rc)
{
    if (rc >= 0) {
        if (e->state_error[0] != '\0')
            log_event(LOG_INFO, "state_dir_writable", "{s:s}", "path", e->opts.state_dir);
        e->state_error[0] = '\0';
        return;
    }
    const char *why = rc == -ENOSPC   ? "disk full"
                      : rc == -EROFS  ? "read-only file system"
                      : rc == -EDQUOT ? "disk quota exceeded"
                                      : strerror(-rc);
    snprintf(e->state_error, sizeof e->state_error, "cannot write %.400s/%s: %s", e->opts.state_dir,
             file, why);
    log_event(LOG_ERROR, "state_write_failed", "{s:s, s:s, s:s}", "path", e->opts.state_dir, "file",
              file, "error", why);
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
        state_written(e, CACHE_CURRENT, cache_store(e->opts.state_dir, cfg, timeutil_now_ms()));
        etag_remember(e, a->etag);
    }
    mqtt_configure(e);

    json_t *ids = json_array();
    int errors = 0;
    for (size_t i = 0; i < e->trains.n; i++) {
        struct train *t = &e->trains.v[i];
        json_array_append_new(ids, json_string(t->id));
        if (t->error[0] != '\0') {
            errors++;
            log_event(LOG_ERROR, "train_plugin_error", "{s:s, s:s, s:s}", "train_id", t->id,
                      "plugin", t->plugin, "error", t->error);
        }
    }
    e->errors_reported = errors;
    log_event(LOG_INFO, "config_applied", "{s:I, s:s, s:o, s:s, s:b}", "version",
              (json_int_t)e->applied_version, "source", a->source, "trains", ids, "broker",
              mqtt_link_broker(e->mqtt), "simulate", e->opts.simulate);
    if (e->trains.n == 0)
        log_event(LOG_INFO, "waiting_for_assignment", "{s:s}", "uuid", e->uuid);
    apply_clear(e);
    /* Reported at once: the central's handover waits for this controller's word. */
    if (from_sync)
        sync_feed_kind(e, SYNC_EV_CONFIG_APPLIED, e->applied_version);
}

/* Moves a pending apply on: trains that stopped are released, SUBACKs checked; commits
 * when nothing is left to wait for. */
static void apply_progress(struct edge *e, int64_t now)
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
        apply_clear(e);
        trains_rollback(e);
        apply_failed(e, cfg, reason, from_sync);
        json_decref(cfg);
        return;
    }
    bool overdue = now >= a->deadline_ms;
    if (trains_reap(&e->trains, overdue, on_train_released, e) > 0)
        return;
    if (a->n_subs > 0 && mqtt_link_connected(e->mqtt)) {
        if (now < a->subs_deadline_ms && !overdue)
            return;
        /* A broker that does not answer is a broker problem, not the config's. */
        log_event(LOG_WARNING, "config_subscriptions_unconfirmed", "{s:i}", "topics",
                  (int)a->n_subs);
    }
    apply_commit(e);
}

/* Applies a validated config: check, open, then (possibly later, apply_progress) release the
 * removed trains, wait for the SUBACKs and commit. With a running config to return to, a
 * train that cannot get its new driver rolls the whole config back; without one (the first
 * config), it is applied and the broken train reported. 0 when committed or in progress,
 * -EINVAL when rolled back. */
static int config_apply(struct edge *e, json_t *cfg, const char *source, bool from_sync,
                        const char *etag)
{
    const json_t *list = json_object_get(cfg, "trains");
    int64_t now = mono_now();
    char reason[200] = "";

    if (e->config != NULL && trains_check(&e->trains, list, reason, sizeof reason) < 0) {
        /* Refused before anything was touched: the running trains do not even twitch. */
        apply_failed(e, cfg, reason, from_sync);
        return -EINVAL;
    }
    int failed = trains_configure(&e->trains, list, now);
    if (failed < 0) {
        log_event(LOG_ERROR, "config_apply_failed", "{s:s}", "reason", "out of memory");
        if (from_sync)
            sync_feed_kind(e, SYNC_EV_CONFIG_FAILED, -1);
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

    apply_clear(e);
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
    if (mqtt_link_connected(e->mqtt) && same_broker(e, e->config, cfg)) {
        for (size_t i = 0; i < e->trains.n && a->n_subs < EDGE_MAX_TRAINS; i++) {
            const struct train *t = &e->trains.v[i];
            int mid = 0;
            if (t->releasing)
                continue;
            int rc = mqtt_link_subscribe(e->mqtt, t->commands_topic, 1, &mid);
            if (rc < 0) {
                log_event(LOG_WARNING, "mqtt_subscribe_failed", "{s:s, s:i}", "topic",
                          t->commands_topic, "errno", -rc);
                continue;
            }
            a->sub_mids[a->n_subs] = mid;
            snprintf(a->sub_train[a->n_subs], sizeof a->sub_train[0], "%s", t->id);
            a->n_subs++;
        }
    }
    apply_progress(e, now);
    return 0;
}

/* --- central API ------------------------------------------------------------------------ */

static json_t *register_body(const struct edge *e)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "name", e->name, "address", e->sys.address,
                          "version", ROUNDHOUSE_VERSION, "platform", e->sys.platform);
    if (j == NULL)
        return NULL;
    /* Without a UUID of its own the controller asks the central for one (and may be matched
     * by name), rather than inventing one that would be taken for a restored controller. */
    if (e->uuid[0] != '\0')
        json_object_set_new(j, "uuid", json_string(e->uuid));
    if (e->applied_version >= 0)
        json_object_set_new(j, "applied_config_version", json_integer(e->applied_version));
    /* The epoch this process already announced in its birth and will. */
    if (e->session_epoch > 0)
        json_object_set_new(j, "session_epoch", json_integer(e->session_epoch));
    /* This edge keeps a controller secret: the central issues one when it has none on
     * record (earlier edges do not ask, and are never held to one). */
    json_object_set_new(j, "issue_secret", json_true());
    return j;
}

static json_t *train_register_body(const struct edge *e)
{
    char desc[64];
    snprintf(desc, sizeof desc, "Train on motor port M%d", e->opts.motor_port);
    return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:{s:i}}}", "train_id", e->opts.train_id, "name",
                     e->opts.train_name, "description", desc, "model", "DC Motor", "plugin", "name",
                     "dc_motor_hat", "config", "motor_port", e->opts.motor_port);
}

#define EDGE_HEARTBEAT_MAX_ERRORS 16

/* Short strings (the central keeps at most 16 of at most 300 characters): what the operator
 * should know is wrong here. Always sent, so that an empty list clears what was reported. */
static json_t *errors_json(const struct edge *e)
{
    char line[300];
    json_t *errors = json_array();
    if (errors == NULL)
        return NULL;
    if (e->apply_error[0] != '\0')
        json_array_append_new(errors, json_string(e->apply_error));
    for (size_t i = 0; i < e->trains.n; i++) {
        const struct train *t = &e->trains.v[i];
        if (t->error[0] == '\0' || json_array_size(errors) >= EDGE_HEARTBEAT_MAX_ERRORS)
            continue;
        snprintf(line, sizeof line, "train %.100s: %.190s", t->id, t->error);
        json_t *s = json_string(line);
        if (s != NULL)
            json_array_append_new(errors, s);
    }
    return errors;
}

static json_t *heartbeat_body(const struct edge *e)
{
    json_t *trains = json_array();
    for (size_t i = 0; i < e->trains.n; i++) {
        /* A train being released is still ours until it stands still: the central hands it
         * over only once we stop listing it. */
        const struct train *t = &e->trains.v[i];
        json_array_append_new(trains, json_pack("{s:s, s:i, s:s}", "train_id", t->id, "speed",
                                                t->ramp.speed, "direction",
                                                motor_direction_name(t->ramp.direction)));
    }
    json_t *j = json_pack("{s:s, s:s, s:o, s:o*}", "version", ROUNDHOUSE_VERSION, "platform",
                          e->sys.platform, "trains", trains, "errors", errors_json(e));
    if (j == NULL)
        return NULL;
    if (e->sys.memory_mb > 0)
        json_object_set_new(j, "memory_mb", json_integer(e->sys.memory_mb));
    if (e->sys.cpu_count > 0)
        json_object_set_new(j, "cpu_count", json_integer(e->sys.cpu_count));
    if (e->applied_version >= 0) {
        json_object_set_new(j, "config_version", json_integer(e->applied_version));
        json_object_set(j, "config_hash", json_object_get(e->config, "checksum"));
    }
    if (e->session_epoch > 0)
        json_object_set_new(j, "session_epoch", json_integer(e->session_epoch));
    return j;
}

static void on_api_done(void *ctx, int tag, const struct api_response *r);

static int request_start(struct edge *e, enum sync_action a, int64_t longpoll_version)
{
    char path[256], token[300], quoted[CANON_CHECKSUM_LEN + 3], secret[SECRET_HEX_LEN + 32];
    json_t *body = NULL;
    struct api_call call = {.tag = (int)a, .method = "POST", .path = path};
    int rc;

    /* Every call made as this controller carries its secret (the central requires it once
     * it has one on record). */
    if (e->secret[0] != '\0' && e->uuid[0] != '\0') {
        snprintf(secret, sizeof secret, "X-Controller-Secret: %s", e->secret);
        call.header2 = secret;
    }

    switch (a) {
    case SYNC_ACT_REGISTER:
        snprintf(path, sizeof path, "/api/controllers/register");
        body = register_body(e);
        if (e->opts.registration_token[0] != '\0') {
            snprintf(token, sizeof token, "X-Registration-Token: %s", e->opts.registration_token);
            call.header = token;
        }
        e->m.registration_attempts++;
        break;
    case SYNC_ACT_REGISTER_TRAIN:
        snprintf(path, sizeof path, "/api/controllers/%s/trains", e->uuid);
        body = train_register_body(e);
        break;
    case SYNC_ACT_FETCH_CONFIG:
        snprintf(path, sizeof path, "/api/controllers/%s/config", e->uuid);
        call.method = "GET";
        if (e->etag[0] != '\0') {
            call.if_none_match = e->etag;
        } else {
            const json_t *held = e->config ? e->config : e->held;
            const char *sum = json_string_value(json_object_get(held, "checksum"));
            if (sum != NULL) {
                snprintf(quoted, sizeof quoted, "\"%s\"", sum);
                call.if_none_match = quoted;
            }
        }
        e->m.config_downloads++;
        e->fetch_started_us = mono_now_us();
        e->fetch_desired = e->sync.desired_version;
        break;
    case SYNC_ACT_HEARTBEAT:
        snprintf(path, sizeof path, "/api/controllers/%s/heartbeat", e->uuid);
        body = heartbeat_body(e);
        break;
    case SYNC_ACT_LONGPOLL:
        /* Held by the central until our version is overtaken or the wait ends: it must not
         * time out on our side first. */
        snprintf(path, sizeof path, "/api/controllers/%s/config?wait=%d&version=%" PRId64, e->uuid,
                 SYNC_LONGPOLL_WAIT_S, longpoll_version);
        call.method = "GET";
        call.timeout_ms = (SYNC_LONGPOLL_WAIT_S + 15) * 1000L;
        e->m.longpolls++;
        break;
    default:
        return -EINVAL;
    }
    if (strcmp(call.method, "POST") == 0 && body == NULL)
        return -ENOMEM;
    call.body = body;
    rc = api_client_start(e->api, &call, on_api_done, e);
    json_decref(body);
    return rc;
}

static int64_t earliest(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

/* Feeds one event to the state machine and starts the requests it asks for. Returns the
 * retry delay chosen after a failure (-1 otherwise), for the log. */
static int64_t sync_feed(struct edge *e, const struct sync_event *ev)
{
    struct sync_output out;
    int64_t now = mono_now();
    sync_step(&e->sync, ev, now, &out);
    e->sync_wake_ms = out.wake_ms;
    if (out.action != SYNC_ACT_NONE) {
        int rc = request_start(e, out.action, -1);
        if (rc < 0) {
            /* Cannot even start the request: try again a second later through a tick,
             * rather than recursing here. */
            log_event(LOG_ERROR, "request_start_failed", "{s:s, s:i}", "action",
                      sync_action_name(out.action), "errno", -rc);
            e->sync.inflight = SYNC_ACT_NONE;
            e->sync_wake_ms = earliest(e->sync_wake_ms, now + 1000);
        }
    }
    if (out.longpoll_version >= 0) {
        log_event(LOG_DEBUG, "config_longpoll_started", "{s:I}", "version",
                  (json_int_t)out.longpoll_version);
        int rc = request_start(e, SYNC_ACT_LONGPOLL, out.longpoll_version);
        if (rc < 0) {
            log_event(LOG_ERROR, "request_start_failed", "{s:s, s:i}", "action", "longpoll",
                      "errno", -rc);
            e->sync.lp_inflight = false;
            e->sync.lp_next_ms = now + 1000;
            e->sync_wake_ms = earliest(e->sync_wake_ms, now + 1000);
        }
    }
    return out.retry_in_ms;
}

static const char *const reg_fail_names[REG_FAIL_COUNT] = {
    "network", "rate_limited", "rejected", "server_error", "invalid_response",
};

static json_t *body_json(const struct api_response *r)
{
    if (r->body_len == 0)
        return NULL;
    return json_loadb(r->body, r->body_len, 0, NULL);
}

static void epoch_persist(struct edge *e)
{
    if (e->uuid[0] == '\0' || e->session_epoch < 1)
        return;
    state_written(e, "session.json",
                  epoch_save(e->opts.state_dir, e->uuid, e->session_epoch, timeutil_now_ms()));
}

/* The UUID the central gave us (first registration), kept from now on. */
static void identity_adopt(struct edge *e, const char *uuid)
{
    char client_id[64];
    log_event(e->uuid[0] ? LOG_WARNING : LOG_INFO, "controller_uuid_assigned", "{s:s, s:s?}",
              "uuid", uuid, "old", e->uuid[0] ? e->uuid : NULL);
    memcpy(e->uuid, uuid, UUIDSTR_LEN + 1);
    state_written(e, "identity.json", identity_save(e->opts.state_dir, e->uuid, timeutil_now_ms()));
    proto_topic(e->presence_topic, sizeof e->presence_topic, PROTO_TOPIC_PRESENCE, e->uuid);
    proto_topic(e->config_topic, sizeof e->config_topic, PROTO_TOPIC_CONFIG_UPDATE, e->uuid);
    snprintf(client_id, sizeof client_id, "roundhouse-edge-%s", e->uuid);
    if (mqtt_link_set_client_id(e->mqtt, client_id, mono_now()) < 0)
        log_event(LOG_ERROR, "mqtt_client_id_failed", "{s:s}", "client_id", client_id);
    e->will_epoch = -1;
    if (mqtt_link_configured(e->mqtt))
        will_arm(e);
    /* A secret held for the old UUID is worthless for the new one. */
    e->secret[0] = '\0';
    e->credential = CREDENTIAL_NONE;
}

/* The secret the central issued with the registration answer: kept at once (it is shown
 * only this once). */
static void credential_adopt(struct edge *e, const char *secret)
{
    if (!secret_valid(secret)) {
        log_event(LOG_ERROR, "controller_secret_invalid", "{s:s}", "detail",
                  "the registration answer's controller_secret is not 64 hex digits; ignored");
        return;
    }
    memcpy(e->secret, secret, SECRET_HEX_LEN + 1);
    e->credential = CREDENTIAL_LOADED;
    e->credential_error[0] = '\0';
    int rc = credential_save(e->opts.state_dir, e->uuid, e->secret, timeutil_now_ms());
    state_written(e, CREDENTIAL_FILE, rc);
    if (rc < 0)
        /* Still presented while this process runs; after a restart the central would refuse
         * this UUID until an operator deletes the record (docs/security.md). */
        snprintf(e->credential_error, sizeof e->credential_error,
                 "the controller secret could not be saved in %.200s: %s", e->opts.state_dir,
                 strerror(-rc));
    log_event(rc < 0 ? LOG_ERROR : LOG_INFO, "controller_secret_stored", "{s:s, s:s, s:s?}", "uuid",
              e->uuid, "file", CREDENTIAL_FILE, "error", rc < 0 ? strerror(-rc) : NULL);
}

/* A 401/403 naming the controller secret: the central holds a secret for this UUID that we
 * do not have (file lost or corrupt) or that differs. Driving goes on from the cache. */
static bool credential_refused(struct edge *e, const struct api_response *r, const char *what)
{
    if (r->status != 401 && r->status != 403)
        return false;
    json_t *j = body_json(r);
    const char *field = json_string_value(json_object_get(j, "field"));
    bool ours = field != NULL && strcmp(field, "X-Controller-Secret") == 0;
    if (ours) {
        snprintf(e->credential_error, sizeof e->credential_error,
                 "the central refused this controller's %s (%s %ld on %s): an operator must "
                 "delete the controller's record so that it can register afresh",
                 e->secret[0] ? "secret" : "missing secret",
                 json_string_value(json_object_get(j, "error"))
                     ? json_string_value(json_object_get(j, "error"))
                     : "HTTP",
                 r->status, what);
        log_event(LOG_ERROR, "controller_secret_refused", "{s:s, s:i, s:b, s:s}", "call", what,
                  "http_status", (int)r->status, "have_secret", e->secret[0] != '\0', "uuid",
                  e->uuid);
    }
    json_decref(j);
    return ours;
}

/* The central's word on this session's epoch (max(its last + 1, ours)). Birth, will and
 * heartbeats must carry it; the will only changes with a new connection. */
static void session_epoch_adopt(struct edge *e, int64_t epoch)
{
    if (epoch < 1)
        return;
    bool changed = epoch != e->session_epoch;
    e->session_epoch = epoch;
    if (changed)
        epoch_persist(e);
    if (mqtt_link_configured(e->mqtt) && epoch_rearm_needed(e->will_epoch, epoch)) {
        log_event(LOG_INFO, "mqtt_will_rearmed", "{s:I, s:I}", "old_epoch",
                  (json_int_t)e->will_epoch, "session_epoch", (json_int_t)epoch);
        will_arm(e);
        /* The birth with the new epoch follows from on_mqtt_connect. */
        mqtt_link_reconnect(e->mqtt, mono_now());
    }
}

static void register_done(struct edge *e, const struct api_response *r)
{
    struct sync_event ev = {
        .kind = SYNC_EV_REGISTER_FAILED, .version = -1, .retry_after_ms = r->retry_after_ms};
    enum reg_failure why = REG_FAIL_NETWORK;
    json_t *j = NULL;

    if (r->status == 200 || r->status == 201) {
        j = body_json(r);
        const char *uuid = json_string_value(json_object_get(j, "uuid"));
        char norm[UUIDSTR_LEN + 1];
        if (uuid == NULL || uuidstr_normalize(uuid, norm) < 0) {
            why = REG_FAIL_INVALID;
            goto failed;
        }
        if (strcmp(norm, e->uuid) != 0)
            identity_adopt(e, norm);
        const char *issued = json_string_value(json_object_get(j, "controller_secret"));
        if (issued != NULL)
            credential_adopt(e, issued);
        else if (e->credential != CREDENTIAL_INVALID)
            e->credential_error[0] = '\0';
        json_t *cv = json_object_get(j, "config_version");
        json_t *hb = json_object_get(j, "heartbeat_interval");
        json_t *ep = json_object_get(j, "session_epoch");
        ev.kind = SYNC_EV_REGISTERED;
        ev.version = json_is_integer(cv) ? json_integer_value(cv) : -1;
        ev.heartbeat_interval_s = json_is_integer(hb) ? (int)json_integer_value(hb) : 0;
        e->registered = true;
        e->last_sync_error[0] = '\0';
        if (json_is_integer(ep))
            session_epoch_adopt(e, json_integer_value(ep));
        log_event(LOG_INFO, "controller_registered", "{s:s, s:s?, s:I, s:I, s:s}", "uuid", e->uuid,
                  "status", json_string_value(json_object_get(j, "status")), "session_epoch",
                  (json_int_t)e->session_epoch, "config_version", (json_int_t)ev.version, "name",
                  e->name);
        json_decref(j);
        sync_feed(e, &ev);
        return;
    }
    credential_refused(e, r, "registration");
    if (r->status == 429)
        why = REG_FAIL_RATE_LIMITED;
    else if (r->status >= 500)
        why = REG_FAIL_SERVER;
    else if (r->status > 0)
        why = REG_FAIL_REJECTED;
failed:
    json_decref(j);
    e->m.registration_failures[why]++;
    snprintf(e->last_sync_error, sizeof e->last_sync_error, "registration failed: %s%s%s%s",
             reg_fail_names[why], r->error ? ": " : "", r->error ? r->error : "",
             e->credential_error[0] ? " (controller secret refused)"
             : r->status == 401     ? " (registration token missing or wrong)"
                                    : "");
    /* Logged after the step so that the chosen delay is known. */
    int64_t delay = sync_feed(e, &ev);
    log_event(LOG_WARNING, "registration_failed", "{s:s, s:i, s:s?, s:I, s:I}", "reason",
              reg_fail_names[why], "http_status", (int)r->status, "error", r->error, "retry_in_ms",
              (json_int_t)delay, "attempt", (json_int_t)e->sync.reg_attempt);
}

static void train_done(struct edge *e, const struct api_response *r)
{
    struct sync_event ev = {
        .kind = SYNC_EV_TRAIN_DONE, .version = -1, .retry_after_ms = r->retry_after_ms};
    if (r->status == 200 || r->status == 201) {
        log_event(LOG_INFO, "train_registered", "{s:s, s:i}", "train_id", e->opts.train_id,
                  "http_status", (int)r->status);
    } else if (r->status == 409) {
        json_t *j = body_json(r);
        /* Someone moved the train elsewhere on purpose: do not fight over it, run whatever
         * the central assigns to us. */
        log_event(LOG_WARNING, "train_assignment_conflict", "{s:s, s:s?, s:s?}", "train_id",
                  e->opts.train_id, "owner", json_string_value(json_object_get(j, "owner")),
                  "detail", json_string_value(json_object_get(j, "detail")));
        json_decref(j);
    } else if (r->status == 0 || r->status == 429 || r->status >= 500) {
        ev.kind = SYNC_EV_TRAIN_FAILED;
        log_event(LOG_WARNING, "train_registration_retry", "{s:s, s:i, s:s?}", "train_id",
                  e->opts.train_id, "http_status", (int)r->status, "error", r->error);
    } else {
        json_t *j = body_json(r);
        log_event(LOG_ERROR, "train_registration_failed", "{s:s, s:i, s:s?}", "train_id",
                  e->opts.train_id, "http_status", (int)r->status, "detail",
                  json_string_value(json_object_get(j, "detail")));
        json_decref(j);
    }
    sync_feed(e, &ev);
}

/* A downloaded document that cannot be used. One whose content is wrong (schema, another
 * controller's) is refused for good: that version is not downloaded again. One that does
 * not even parse or match its own checksum may have been damaged on the way: retried. */
static void config_refuse(struct edge *e, const json_t *cfg, const char *reason, bool retry)
{
    struct sync_event ev = {.kind = SYNC_EV_CONFIG_FAILED, .version = -1, .retry_after_ms = -1};
    json_t *v = json_object_get(cfg, "version");
    e->m.config_rejections++;
    snprintf(e->last_sync_error, sizeof e->last_sync_error, "config rejected: %.160s", reason);
    log_event(LOG_ERROR, "config_rejected", "{s:s, s:b}", "reason", reason, "retry", retry);
    if (!retry && json_is_integer(v) && json_integer_value(v) >= 0) {
        /* Refused for good: the operator must hear of it (health, and the heartbeat's errors
         * that the central shows as config_error), or the controller silently runs an old
         * config forever. */
        snprintf(e->apply_error, sizeof e->apply_error,
                 EDGE_ERROR_REJECTED "config %" JSON_INTEGER_FORMAT " refused: %.180s",
                 json_integer_value(v), reason);
        e->rejected_version = json_integer_value(v);
        snprintf(e->rejected_checksum, sizeof e->rejected_checksum, "%s",
                 json_string_value(json_object_get(cfg, "checksum"))
                     ? json_string_value(json_object_get(cfg, "checksum"))
                     : "");
        ev.kind = SYNC_EV_CONFIG_REJECTED;
        ev.version = e->rejected_version;
    }
    sync_feed(e, &ev);
}

static void config_done(struct edge *e, const struct api_response *r)
{
    struct sync_event ev = {
        .kind = SYNC_EV_CONFIG_FAILED, .version = -1, .retry_after_ms = r->retry_after_ms};
    char reason[200];
    json_t *cfg = NULL;

    histogram_observe(&e->m.download_seconds, (double)(mono_now_us() - e->fetch_started_us) / 1e6);
    e->fetch_failed = r->status != 200 && r->status != 304 && r->status != 404;
    if (r->status == 304) {
        etag_remember(e, r->etag);
        if (e->fetch_desired > e->confirmed_version)
            e->confirmed_version = e->fetch_desired;
        json_t *confirmed = e->config ? e->config : e->held;
        if (confirmed != NULL) {
            /* The central vouches for the cached config again: refresh its age. */
            state_written(e, CACHE_CURRENT,
                          cache_store(e->opts.state_dir, confirmed, timeutil_now_ms()));
        }
        if (e->config == NULL && e->held != NULL) {
            json_t *h = json_incref(e->held);
            snprintf(e->cache_state, sizeof e->cache_state, "confirmed");
            config_apply(e, h, "cache_confirmed", true, NULL);
            json_decref(h);
            return;
        }
        sync_feed_kind(e, SYNC_EV_CONFIG_UNCHANGED, -1);
        return;
    }
    if (r->status == 404) {
        log_event(LOG_WARNING, "config_unknown_controller", "{s:s}", "uuid", e->uuid);
        e->registered = false;
        sync_feed_kind(e, SYNC_EV_CONFIG_GONE, -1);
        return;
    }
    if (r->status != 200) {
        credential_refused(e, r, "config download");
        snprintf(e->last_sync_error, sizeof e->last_sync_error,
                 "config download failed: HTTP %ld%s%s", r->status, r->error ? ": " : "",
                 r->error ? r->error : "");
        log_event(LOG_WARNING, "config_download_failed", "{s:i, s:s?}", "http_status",
                  (int)r->status, "error", r->error);
        sync_feed(e, &ev);
        return;
    }
    if (cache_config_parse(r->body, r->body_len, &cfg, reason, sizeof reason) < 0) {
        config_refuse(e, NULL, reason, true);
        goto out;
    }
    int rc = cache_config_check(cfg, e->uuid, reason, sizeof reason);
    if (rc < 0) {
        /* A damaged document says nothing reliable about its version: retried. */
        config_refuse(e, rc == -EBADMSG ? NULL : cfg, reason, rc == -EBADMSG);
        goto out;
    }
    const char *given = json_string_value(json_object_get(cfg, "checksum"));
    json_int_t version = json_integer_value(json_object_get(cfg, "version"));
    if (version == e->rejected_version && strcmp(given, e->rejected_checksum) == 0) {
        /* The very document that failed before: it would fail again. */
        log_event(LOG_INFO, "config_skipped", "{s:I, s:s}", "version", version, "reason",
                  "this version was rolled back or refused before");
        sync_feed_kind(e, SYNC_EV_CONFIG_REJECTED, version);
        goto out;
    }
    snprintf(e->cache_state, sizeof e->cache_state, "downloaded");
    e->cache_reason[0] = '\0';
    e->last_sync_error[0] = '\0';
    /* Its outcome (applied, or rolled back) reaches the sync machine from config_apply,
     * possibly later: the download counts as in flight until then. */
    config_apply(e, cfg, "central", true, r->etag);
out:
    json_decref(cfg);
}

static void heartbeat_done(struct edge *e, const struct api_response *r)
{
    struct sync_event ev = {
        .kind = SYNC_EV_HEARTBEAT_FAILED, .version = -1, .retry_after_ms = r->retry_after_ms};
    if (r->status == 200) {
        json_t *j = body_json(r);
        json_t *cv = json_object_get(j, "config_version");
        json_t *hb = json_object_get(j, "heartbeat_interval");
        ev.kind = SYNC_EV_HEARTBEAT_OK;
        ev.version = json_is_integer(cv) ? json_integer_value(cv) : -1;
        ev.heartbeat_interval_s = json_is_integer(hb) ? (int)json_integer_value(hb) : 0;
        e->m.heartbeats_ok++;
        log_event(LOG_DEBUG, "heartbeat_ok", "{s:I, s:i, s:s?}", "desired", (json_int_t)ev.version,
                  "interval_s", ev.heartbeat_interval_s, "status",
                  json_string_value(json_object_get(j, "status")));
        if (sync_version_wanted(&e->sync, ev.version))
            log_event(LOG_INFO, "config_version_mismatch", "{s:I, s:I}", "desired",
                      (json_int_t)ev.version, "applied", (json_int_t)e->applied_version);
        json_decref(j);
    } else if (r->status == 404) {
        /* The central lost us (database reset, or deleted): register again, same UUID. */
        e->m.heartbeats_failed++;
        e->registered = false;
        ev.kind = SYNC_EV_HEARTBEAT_GONE;
        log_event(LOG_WARNING, "heartbeat_unknown_controller", "{s:s}", "uuid", e->uuid);
    } else {
        e->m.heartbeats_failed++;
        credential_refused(e, r, "heartbeat");
        log_event(LOG_WARNING, "heartbeat_failed", "{s:i, s:s?}", "http_status", (int)r->status,
                  "error", r->error);
    }
    sync_feed(e, &ev);
}

/* The long poll only says that there is something newer; the download and apply take the
 * same path as after an MQTT notification. */
static void longpoll_done(struct edge *e, const struct api_response *r)
{
    struct sync_event ev = {
        .kind = SYNC_EV_LONGPOLL_FAILED, .version = -1, .retry_after_ms = r->retry_after_ms};
    if (r->status == 200) {
        json_t *j = body_json(r);
        json_t *v = json_object_get(j, "version");
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            ev.kind = SYNC_EV_LONGPOLL_CHANGED;
            ev.version = json_integer_value(v);
            log_event(LOG_INFO, "config_longpoll_changed", "{s:I, s:I}", "version",
                      (json_int_t)ev.version, "applied", (json_int_t)e->applied_version);
        }
        json_decref(j);
    } else if (r->status == 304) {
        ev.kind = SYNC_EV_LONGPOLL_UNCHANGED;
    }
    if (ev.kind == SYNC_EV_LONGPOLL_FAILED)
        log_event(LOG_WARNING, "config_longpoll_failed", "{s:i, s:s?}", "http_status",
                  (int)r->status, "error", r->error);
    sync_feed(e, &ev);
}

static void on_api_done(void *ctx, int tag, const struct api_response *r)
{
    struct edge *e = ctx;
    /* No answer at all: the next central, if there is another (taken up by central_check
     * once no request is in flight). */
    if (r->status == 0 && central_choice_failed(&e->centrals))
        log_event(LOG_INFO, "central_failover", "{s:s, s:s?}", "from", e->central_in_use, "to",
                  central_choice_current(&e->centrals));
    switch ((enum sync_action)tag) {
    case SYNC_ACT_REGISTER:
        register_done(e, r);
        break;
    case SYNC_ACT_REGISTER_TRAIN:
        train_done(e, r);
        break;
    case SYNC_ACT_FETCH_CONFIG:
        config_done(e, r);
        break;
    case SYNC_ACT_HEARTBEAT:
        heartbeat_done(e, r);
        break;
    case SYNC_ACT_LONGPOLL:
        longpoll_done(e, r);
        break;
    default:
        break;
    }
}

/* --- boot ------------------------------------------------------------------------------- */

static void cache_report(const char *file, enum cache_verdict v, const char *reason)
{
    if (v == CACHE_INVALID)
        log_event(LOG_WARNING, "cache_invalid", "{s:s, s:s}", "file", file, "reason", reason);
    else if (v == CACHE_STALE)
        log_event(LOG_WARNING, "cache_stale", "{s:s, s:s}", "file", file, "reason", reason);
}

static void on_mqtt_retry(void *ctx, const char *why, int64_t retry_in_ms)
{
    struct edge *e = ctx;
    log_event(LOG_WARNING, "mqtt_connect_retry", "{s:s, s:s, s:I}", "broker",
              mqtt_link_broker(e->mqtt), "reason", why, "retry_in_ms", (json_int_t)retry_in_ms);
}

static const struct mqtt_link_callbacks mqtt_callbacks = {
    .on_connect = on_mqtt_connect,
    .on_retry = on_mqtt_retry,
    .on_disconnect = on_mqtt_disconnect,
    .on_message = on_mqtt_message,
    .on_publish = on_mqtt_publish,
    .on_subscribe = on_mqtt_subscribe,
};

int edge_init(struct edge *e, const struct edge_opts *o)
{
    struct cache_boot boot = {0};
    enum identity_origin origin;
    char client_id[64];
    int64_t wall = timeutil_now_ms();
    int rc;

    memset(e, 0, sizeof *e);
    e->opts = *o;
    e->started_mono_ms = mono_now();
    e->applied_version = -1;
    e->rejected_version = -1;
    e->fetch_desired = e->confirmed_version = e->newer_since_ms = -1;
    e->session_epoch = 0;
    e->will_epoch = -1;
    sysinfo_collect(&e->sys);
    snprintf(e->name, sizeof e->name, "%s", o->name[0] ? o->name : e->sys.hostname);

    rc = fileio_mkdirs(o->state_dir, 0700);
    if (rc < 0)
        log_event(LOG_ERROR, "state_dir_unusable", "{s:s, s:s}", "path", o->state_dir, "error",
                  strerror(-rc));

    /* A write that a crash interrupted leaves its temporary file behind: never the cache. */
    int leftovers = 0;
    rc = cache_leftovers_remove(o->state_dir, &leftovers);
    if (leftovers > 0 || rc < 0)
        log_event(rc < 0 ? LOG_WARNING : LOG_INFO, "state_leftovers_removed", "{s:s, s:i, s:s?}",
                  "path", o->state_dir, "files", leftovers, "error", rc < 0 ? strerror(-rc) : NULL);

    cache_load(o->state_dir, wall, (int64_t)o->cache_max_age_s * 1000, &boot);
    cache_report(CACHE_CURRENT, boot.current, boot.current_reason);
    cache_report(CACHE_PREVIOUS, boot.previous, boot.previous_reason);

    const char *cached_uuid = json_string_value(json_object_get(boot.config, "uuid"));
    rc = identity_load(o->state_dir, cached_uuid, wall, e->uuid, &origin);
    if (rc < 0)
        state_written(e, "identity.json", rc);
    if (e->uuid[0] != '\0') {
        /* A lost or corrupt secret never stops the boot: the trains run from the cache, and
         * /health says why the central will refuse us. */
        char why[512];
        e->credential = credential_load(o->state_dir, e->uuid, e->secret, why, sizeof why);
        if (e->credential == CREDENTIAL_INVALID) {
            snprintf(e->credential_error, sizeof e->credential_error, "%.300s", why);
            log_event(LOG_ERROR, "credential_unreadable", "{s:s, s:s}", "path", o->state_dir,
                      "error", why);
        } else if (why[0] != '\0') {
            log_event(LOG_WARNING, "credential_ignored", "{s:s}", "reason", why);
        }
    }
    if (e->uuid[0] != '\0') {
        /* A new session: above the last one this controller had, announced in the birth
         * and will before the central is even asked, and remembered at once so that a
         * crash right after still leaves the next process a higher epoch. */
        int64_t stored = 0;
        rc = epoch_load(o->state_dir, e->uuid, &stored);
        if (rc == -EINVAL)
            log_event(LOG_WARNING, "session_file_invalid", "{s:s}", "path", o->state_dir);
        e->session_epoch = epoch_next(rc == 0 ? stored : 0);
        epoch_persist(e);
    }
    if (boot.config != NULL && strcmp(cached_uuid, e->uuid) != 0) {
        /* A state directory copied from another controller: its config is not ours. */
        log_event(LOG_WARNING, "cache_invalid", "{s:s, s:s}", "file", boot.source, "reason",
                  "cached config belongs to another controller");
        cache_boot_clear(&boot);
        boot.verdict = CACHE_INVALID;
    }
    proto_topic(e->presence_topic, sizeof e->presence_topic, PROTO_TOPIC_PRESENCE, e->uuid);
    proto_topic(e->config_topic, sizeof e->config_topic, PROTO_TOPIC_CONFIG_UPDATE, e->uuid);

    trains_init(&e->trains, o->simulate, RAMP_DEFAULT_MS);
    const char *urls[EDGE_OPTS_CENTRALS_MAX];
    for (size_t i = 0; i < o->n_centrals; i++)
        urls[i] = o->centrals[i];
    central_choice_set(&e->centrals, urls, o->n_centrals);
    const char *first = central_choice_current(&e->centrals);
    snprintf(e->central_in_use, sizeof e->central_in_use, "%s", first ? first : "");
    e->api = api_client_new(first); /* NULL: every request fails until one is found */
    snprintf(client_id, sizeof client_id, "roundhouse-edge-%s", e->uuid);
    e->mqtt = mqtt_link_new(e->uuid[0] ? client_id : NULL, &mqtt_callbacks, e, random_seed());
    if (e->api == NULL || e->mqtt == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = tls_setup(e);
    if (rc < 0)
        goto out;
    e->last_contact_ms = mono_now();

    log_event(LOG_INFO, "edge_starting", "{s:s?, s:s, s:I, s:s, s:s, s:s, s:b, s:s, s:b, s:s}",
              "uuid", e->uuid[0] ? e->uuid : NULL, "identity", identity_origin_name(origin),
              "session_epoch", (json_int_t)e->session_epoch, "name", e->name, "version",
              ROUNDHOUSE_VERSION, "central", o->central_url[0] ? o->central_url : "dns-sd",
              "simulate", o->simulate, "state_dir", o->state_dir, "registration_token",
              o->registration_token[0] != '\0', "credential", credential_state_name(e->credential));
    if (o->n_centrals == 0) {
        rc = discover_start(&e->discover);
        if (rc < 0) {
            log_event(LOG_ERROR, "central_discovery_failed", "{s:s}", "error", strerror(-rc));
            goto out;
        }
    }

    if (boot.config != NULL && boot.verdict == CACHE_VALID) {
        e->m.cache_hits++;
        snprintf(e->cache_state, sizeof e->cache_state, "%s",
                 strcmp(boot.source, "current") == 0 ? "valid" : "previous");
        snprintf(e->cache_reason, sizeof e->cache_reason, "%s",
                 strcmp(boot.source, "current") == 0 ? "" : boot.current_reason);
        log_event(LOG_INFO, "cache_loaded", "{s:s, s:I}", "source", boot.source, "version",
                  json_integer_value(json_object_get(boot.config, "version")));
        if (boot.clock_behind) {
            e->cache_ahead_ms = boot.cached_at_ms;
            log_event(LOG_WARNING, "clock_behind_cache", "{s:I, s:s}", "behind_s",
                      (json_int_t)((boot.cached_at_ms - wall) / 1000), "detail",
                      "the cache was written later than this clock says it is now (no battery "
                      "clock, or NTP not synchronised yet); it is used, its checksum is valid");
        }
        /* Drive at once: the broker and command topics do not wait for the central. */
        config_apply(e, boot.config, boot.source, false, NULL);
    } else if (boot.config != NULL) {
        e->held = json_incref(boot.config);
        snprintf(e->cache_state, sizeof e->cache_state, "stale");
        snprintf(e->cache_reason, sizeof e->cache_reason, "%s",
                 strcmp(boot.source, "current") == 0 ? boot.current_reason : boot.previous_reason);
        log_event(LOG_WARNING, "trains_not_driven", "{s:s, s:s}", "reason", e->cache_reason,
                  "until", "the central API confirms or replaces the config");
    } else {
        snprintf(e->cache_state, sizeof e->cache_state, "%s",
                 boot.verdict == CACHE_MISSING ? "missing" : "invalid");
        snprintf(e->cache_reason, sizeof e->cache_reason, "%s",
                 boot.verdict == CACHE_MISSING ? "no cached config" : boot.current_reason);
        log_event(LOG_INFO, "no_cached_config", "{s:s, s:s}", "state", e->cache_state, "detail",
                  "waiting for the central API");
    }

    sync_init(&e->sync, mono_now(), o->self_register, o->heartbeat_override_s, e->applied_version,
              random_seed());
    e->sync_wake_ms = mono_now();

    if (o->health_enabled) {
        int port = 0;
        rc = health_start(&e->health, o->health_host, o->health_port, e, &port);
        if (rc < 0) {
            log_event(LOG_ERROR, "health_listen_failed", "{s:s, s:i, s:s}", "host", o->health_host,
                      "port", o->health_port, "error", strerror(-rc));
            goto out;
        }
        log_event(LOG_INFO, "health_listening", "{s:s, s:i}", "host", o->health_host, "port", port);
    }
    rc = 0;
out:
    cache_boot_clear(&boot);
    return rc;
}

bool edge_settled(const struct edge *e, char *status, size_t statuslen)
{
    if (e->config == NULL) {
        snprintf(status, statuslen,
                 "no runtime config to drive (cache %s); waiting for the central API",
                 e->cache_state);
        return true;
    }
    bool up = mqtt_link_connected(e->mqtt) && !e->announce_connected;
    snprintf(status, statuslen, "config %lld, %zu train(s), broker %s %s",
             (long long)e->applied_version, e->trains.n, mqtt_link_broker(e->mqtt),
             up ? "connected" : "not connected yet");
    return up;
}

void edge_free(struct edge *e)
{
    if (e == NULL)
        return;
    health_stop(e->health);
    e->health = NULL;
    trains_free(&e->trains);
    mqtt_link_free(e->mqtt);
    e->mqtt = NULL;
    discover_free(e->discover);
    e->discover = NULL;
    api_client_free(e->api);
    e->api = NULL;
    apply_clear(e);
    json_decref(e->config);
    json_decref(e->held);
    json_decref(e->last_command);
    e->config = e->held = e->last_command = NULL;
}

/* --- time-driven work ------------------------------------------------------------------- */

/* The fail-safe counts from the last packet received from the broker, not from the
 * connection state: a frozen broker, or a path that silently drops packets, leaves the
 * connection "up" in libmosquitto until its keepalive gives up, 1.5-2 keepalives later (and
 * libmosquitto's keepalive cannot go under 5 s). So the edge asks itself: after a third of
 * the timeout without a packet it publishes a probe (EDGE_PROBE_MIN_INTERVAL_MS) whose PUBACK
 * a live broker sends at once. A whole timeout of silence means nobody can reach these
 * trains. Contact resuming re-arms it. */
static int64_t probe_interval_ms(const struct edge *e)
{
    int64_t p = (int64_t)e->opts.failsafe_timeout_s * 1000 / 3;
    return p < EDGE_PROBE_MIN_INTERVAL_MS ? EDGE_PROBE_MIN_INTERVAL_MS : p;
}

static void failsafe_check(struct edge *e, int64_t now)
{
    int64_t rx = mqtt_link_last_rx(e->mqtt);
    if (rx > e->last_contact_ms) {
        e->last_contact_ms = rx;
        e->failsafe_fired = false;
    }
    int64_t interval = probe_interval_ms(e);
    if (mqtt_link_connected(e->mqtt) && e->uuid[0] != '\0' &&
        now - e->last_contact_ms >= interval && now - e->last_probe_ms >= interval) {
        char topic[96];
        proto_topic(topic, sizeof topic, PROTO_TOPIC_PROBE, e->uuid);
        e->last_probe_ms = now;
        if (mqtt_link_publish(e->mqtt, topic, "", 0, 1, false, NULL) == 0)
            e->m.mqtt_probes++;
    }
    if (e->failsafe_fired || now - e->last_contact_ms < (int64_t)e->opts.failsafe_timeout_s * 1000)
        return;
    /* Nobody can reach these trains any more: an operator could not stop them. */
    e->failsafe_fired = true;
    size_t moving = trains_stop_all(&e->trains, now);
    if (moving > 0) {
        e->m.failsafe_stops++;
        log_event(LOG_WARNING, "failsafe_stop", "{s:i, s:i, s:I}", "trains", (int)moving,
                  "timeout_s", e->opts.failsafe_timeout_s, "silent_ms",
                  (json_int_t)(now - e->last_contact_ms));
    }
}

/* The running config is out of date when a newer version is known (a retained notification,
 * a heartbeat answer) that has not been downloaded: its trains may have been moved to another
 * controller meanwhile, and two motors would obey one command topic. So the trains are held:
 * released (ramped to 0, command topics dropped) and the config kept aside, until the
 * central sends the current config or confirms this one (304). A config only stale by age,
 * with nothing newer known, still drives. A newer version that was refused or rolled back
 * is not "current" here: the edge keeps the config it can run and reports the refusal. */
static int64_t superseded_check(struct edge *e, int64_t now)
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
    log_event(LOG_WARNING, "trains_held", "{s:I, s:I, s:i, s:s}", "current", (json_int_t)want,
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

/* Moves the requests to the central chosen now (discovered, or the next of the list after a
 * failure) once none is in flight: a request keeps the connection it started on. */
static void central_check(struct edge *e)
{
    if (e->discover != NULL)
        discover_poll(e->discover, &e->centrals);
    const char *want = central_choice_current(&e->centrals);
    if (want == NULL || strcmp(want, e->central_in_use) == 0 || api_client_pending(e->api) > 0)
        return;
    struct api_client *api = api_client_new(want);
    if (api == NULL || central_tls_setup(e, api, want) < 0) {
        /* An https:// URL whose trust cannot be set up stays unusable: the next failure
         * moves on from it, as from an unreachable one. */
        api_client_free(api);
        log_event(LOG_ERROR, "central_unusable", "{s:s}", "url", want);
        central_choice_failed(&e->centrals);
        return;
    }
    api_client_free(e->api);
    e->api = api;
    log_event(LOG_INFO, "central_selected", "{s:s, s:s?, s:s}", "url", want, "previous",
              e->central_in_use[0] ? e->central_in_use : NULL, "source",
              e->discover != NULL ? "dns-sd" : "configured");
    snprintf(e->central_in_use, sizeof e->central_in_use, "%s", want);
    sync_feed_kind(e, SYNC_EV_CENTRAL_CHANGED, -1);
}

int64_t edge_tick(struct edge *e, int64_t now)
{
    int64_t wake = -1;

    central_check(e);

    trains_tick(&e->trains, now);
    for (size_t i = 0; i < e->trains.n; i++) {
        struct train *t = &e->trains.v[i];
        if (mqtt_link_connected(e->mqtt) && trains_status_due(t, now))
            status_publish(e, t, 0, false);
    }
    mqtt_link_tick(e->mqtt, now);
    if (e->announce_connected && mqtt_link_connected(e->mqtt)) {
        e->announce_connected = false;
        log_event(LOG_INFO, "mqtt_connected", "{s:s, s:s, s:i}", "broker",
                  mqtt_link_broker(e->mqtt), "uuid", e->uuid, "trains", (int)e->trains.n);
    }
    failsafe_check(e, now);
    apply_progress(e, now);
    int64_t held_at = superseded_check(e, now);
    /* Trains held or dropped outside an apply leave once they stand still. */
    if (!e->apply.pending && trains_releasing(&e->trains) > 0)
        trains_reap(&e->trains, false, on_train_released, e);

    if (e->sync_wake_ms >= 0 && now >= e->sync_wake_ms)
        sync_feed_kind(e, SYNC_EV_TICK, -1);

    if (mqtt_link_connected(e->mqtt))
        wake = earliest(wake, trains_next_wake(&e->trains, now));
    else
        wake = earliest(wake, trains_next_ramp_ms(&e->trains, now));
    wake = earliest(wake, mqtt_link_next_wake(e->mqtt, now));
    wake = earliest(wake, e->sync_wake_ms);
    if (e->apply.pending || trains_releasing(&e->trains) > 0)
        wake = earliest(wake, now + 100);
    wake = earliest(wake, held_at);
    if (!e->failsafe_fired)
        wake = earliest(wake, e->last_contact_ms + (int64_t)e->opts.failsafe_timeout_s * 1000);
    if (mqtt_link_connected(e->mqtt)) {
        int64_t probe_at = e->last_contact_ms + probe_interval_ms(e);
        int64_t again = e->last_probe_ms + probe_interval_ms(e);
        wake = earliest(wake, probe_at > again ? probe_at : again);
    }
    return wake;
}

void edge_shutdown(struct edge *e, int64_t timeout_ms)
{
    int64_t now = mono_now();
    /* Power off first, talk afterwards: the motors must stop even if the broker is gone. */
    for (size_t i = 0; i < e->trains.n; i++) {
        struct train *t = &e->trains.v[i];
        trains_estop(t);
        /* A shutdown is an orderly stop, not an emergency: report it as "stopped". */
        ramp_set_target(&t->ramp, 0, t->ramp.direction, now);
        ramp_tick(&t->ramp, now);
    }
    size_t stopped = e->trains.n;
    if (mqtt_link_connected(e->mqtt)) {
        e->n_pending = 0;
        for (size_t i = 0; i < e->trains.n; i++)
            status_publish(e, &e->trains.v[i], 1, true);
        presence_publish(e, "offline", true);
        int64_t deadline = mono_now() + timeout_ms;
        while (e->n_pending > 0 && mqtt_link_connected(e->mqtt) && mono_now() < deadline) {
            struct pollfd fd = {.fd = mqtt_link_fd(e->mqtt),
                                .events = (short)mqtt_link_events(e->mqtt)};
            int64_t left = deadline - mono_now();
            if (fd.fd < 0)
                break;
            api_client_poll(e->api, &fd, 1, left < 50 ? (int)left : 50);
            mqtt_link_handle(e->mqtt, (short)fd.revents, mono_now());
            mqtt_link_tick(e->mqtt, mono_now());
        }
        if (e->n_pending > 0)
            log_event(LOG_WARNING, "shutdown_unacknowledged", "{s:i}", "messages",
                      (int)e->n_pending);
        mqtt_link_disconnect(e->mqtt);
    }
    log_event(LOG_INFO, "edge_stopped", "{s:i}", "trains_stopped", (int)stopped);
}
