/* The edge's MQTT side (edge_internal.h): what arrives (train commands, the emergency stop,
 * config notifications) dispatched, the command subscriptions, the birth and the will, train
 * status messages, and the fail-safe's watch on the broker. The connection itself is
 * mqtt_link.c's. */
#include "edge_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"

/* --- presence and publishing ------------------------------------------------------------ */

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
void edge_mqtt_will_arm(struct edge *e)
{
    if (e->uuid[0] == '\0')
        return; /* no presence topic before the central assigned our UUID */
    char *p = presence_payload(e, "offline");
    if (p != NULL && mqtt_link_set_will(e->mqtt, e->presence_topic, p) == 0)
        e->will_epoch = e->session_epoch;
    else
        log_event(RH_LOG_WARNING, "mqtt_will_failed", "{s:s}", "topic", e->presence_topic);
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

void edge_mqtt_status_publish(struct edge *e, const struct train *t, int qos, bool track)
{
    json_t *j = train_status_json(t, e->uuid, timeutil_now_ms());
    if (publish_json(e, t->status_topic, j, qos, true, track) == 0)
        e->m.status_published++;
    json_decref(j);
}

/* --- what the link reports ------------------------------------------------------------- */

static void on_mqtt_connect(void *ctx)
{
    struct edge *e = ctx;
    e->m.mqtt_connects++;
    e->last_contact_ms = timeutil_mono_ms();
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
    edge_sync_feed_kind(e, SYNC_EV_BROKER_UP, -1);
}

static void on_mqtt_disconnect(void *ctx, int reason)
{
    struct edge *e = ctx;
    log_event(reason == 0 ? RH_LOG_INFO : RH_LOG_WARNING, "mqtt_disconnected", "{s:s, s:i}",
              "broker", mqtt_link_broker(e->mqtt), "reason", reason);
    /* SUBACKs of that connection will not come; the next one subscribes everything. */
    e->apply.n_subs = 0;
    edge_sync_feed_kind(e, SYNC_EV_BROKER_DOWN, -1);
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
    log_event(RH_LOG_WARNING, "emergency_stop", "{s:s?, s:i}", "reason", reason, "trains",
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
            log_event(RH_LOG_WARNING, "emergency_stop_ack_failed", "{s:s}", "topic", topic);
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
            log_event(RH_LOG_WARNING, "config_notification_invalid", NULL);
        json_decref(j);
        return;
    }
    json_int_t version = json_integer_value(v);
    log_event(RH_LOG_INFO, "config_notification", "{s:I, s:I, s:b}", "version", version, "applied",
              (json_int_t)e->applied_version, "wanted", sync_version_wanted(&e->sync, version));
    edge_sync_feed_kind(e, SYNC_EV_NOTIFY, version);
    json_decref(j);
}

static void on_mqtt_message(void *ctx, const char *topic, const void *payload, size_t len,
                            bool retained)
{
    struct edge *e = ctx;
    struct train_cmd cmd;
    char err[160];
    e->last_contact_ms = timeutil_mono_ms();

    if (strcmp(topic, PROTO_TOPIC_ESTOP) == 0) {
        /* The stop is a moment, not a state: a retained one would stop every train at every
         * reconnect, long after the reason was gone. An empty message is the central clearing
         * such a retained one. */
        if (retained || len == 0) {
            log_event(RH_LOG_WARNING, "emergency_stop_ignored", "{s:s}", "reason",
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
        log_event(RH_LOG_WARNING, "command_rejected", "{s:s, s:s, s:i}", "train_id", t->id,
                  "reason", err, "bytes", (int)len);
        last_command_set(e, t->id, NULL, false, err);
        return;
    }
    int rc = trains_command(t, &cmd, timeutil_mono_ms());
    if (rc < 0 && cmd.action != PROTO_ACT_ESTOP) {
        const char *why = rc == -EBUSY ? "train is being handed over" : t->error;
        e->m.commands_rejected++;
        log_event(RH_LOG_WARNING, "command_rejected", "{s:s, s:s, s:s}", "train_id", t->id,
                  "action", proto_action_name(cmd.action), "reason", why);
        last_command_set(e, t->id, proto_action_name(cmd.action), false, why);
        return;
    }
    e->m.commands[cmd.action]++;
    log_event(cmd.action == PROTO_ACT_ESTOP ? RH_LOG_WARNING : RH_LOG_INFO, "command_applied",
              "{s:s, s:s, s:i, s:s, s:s}", "train_id", t->id, "action",
              proto_action_name(cmd.action), "speed", cmd.has_speed ? cmd.speed : -1, "direction",
              cmd.has_direction ? motor_direction_name(cmd.direction) : "", "state",
              ramp_state_name(ramp_state(&t->ramp)));
    last_command_set(e, t->id, proto_action_name(cmd.action), true, NULL);
}

static void on_mqtt_publish(void *ctx, int mid)
{
    struct edge *e = ctx;
    e->last_contact_ms = timeutil_mono_ms();
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
    e->last_contact_ms = timeutil_mono_ms();
    edge_apply_suback(e, mid, granted);
}

static void on_mqtt_retry(void *ctx, const char *why, int64_t retry_in_ms)
{
    struct edge *e = ctx;
    log_event(RH_LOG_WARNING, "mqtt_connect_retry", "{s:s, s:s, s:I}", "broker",
              mqtt_link_broker(e->mqtt), "reason", why, "retry_in_ms", (json_int_t)retry_in_ms);
}

const struct mqtt_link_callbacks edge_mqtt_callbacks = {
    .on_connect = on_mqtt_connect,
    .on_retry = on_mqtt_retry,
    .on_disconnect = on_mqtt_disconnect,
    .on_message = on_mqtt_message,
    .on_publish = on_mqtt_publish,
    .on_subscribe = on_mqtt_subscribe,
};

/* --- the broker of a config ------------------------------------------------------------ */

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

bool edge_mqtt_same_broker(const struct edge *e, const json_t *a, const json_t *b)
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

void edge_mqtt_configure(struct edge *e)
{
    const char *host, *user, *pass;
    int port;
    bool tls;
    broker_of(e, e->config, &host, &port, &user, &pass, &tls);
    /* A live broker must be heard from well within the fail-safe timeout (failsafe_check). */
    int keepalive = e->opts.failsafe_timeout_s / 2;
    if (keepalive > 60)
        keepalive = 60;
    edge_mqtt_will_arm(e);
    if (mqtt_link_set_broker(e->mqtt, host, port, user, pass, tls, keepalive, timeutil_mono_ms()) <
        0)
        log_event(RH_LOG_ERROR, "mqtt_configure_failed", "{s:s}", "host", host);
}

void edge_mqtt_subscribe_all(struct edge *e)
{
    if (!mqtt_link_connected(e->mqtt))
        return;
    for (size_t i = 0; i < e->trains.n; i++)
        mqtt_link_subscribe(e->mqtt, e->trains.v[i].commands_topic, 1, NULL);
}

/* --- fail-safe ------------------------------------------------------------------------- */

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
        log_event(RH_LOG_WARNING, "failsafe_stop", "{s:i, s:i, s:I}", "trains", (int)moving,
                  "timeout_s", e->opts.failsafe_timeout_s, "silent_ms",
                  (json_int_t)(now - e->last_contact_ms));
    }
}

/* --- the tick and the shutdown ---------------------------------------------------------- */

int edge_mqtt_tls_setup(struct edge *e)
{
    const struct edge_opts *o = &e->opts;
    char err[512];
    const char *ca = o->mqtt_ca[0] ? o->mqtt_ca : (o->central_ca[0] ? o->central_ca : NULL);
    bool files = ca != NULL || o->mqtt_cert[0] != '\0';
    int rc = mqtt_link_set_tls(e->mqtt, ca, o->mqtt_cert[0] ? o->mqtt_cert : NULL,
                               o->mqtt_key[0] ? o->mqtt_key : NULL, files, err, sizeof err);
    if (rc < 0)
        log_event(RH_LOG_ERROR, "tls_setup_failed", "{s:s, s:s}", "for", "mqtt", "error", err);
    return rc;
}

void edge_mqtt_tick(struct edge *e, int64_t now)
{
    for (size_t i = 0; i < e->trains.n; i++) {
        struct train *t = &e->trains.v[i];
        if (mqtt_link_connected(e->mqtt) && trains_status_due(t, now))
            edge_mqtt_status_publish(e, t, 0, false);
    }
    mqtt_link_tick(e->mqtt, now);
    if (e->announce_connected && mqtt_link_connected(e->mqtt)) {
        e->announce_connected = false;
        log_event(RH_LOG_INFO, "mqtt_connected", "{s:s, s:s, s:i}", "broker",
                  mqtt_link_broker(e->mqtt), "uuid", e->uuid, "trains", (int)e->trains.n);
    }
    failsafe_check(e, now);
}

int64_t edge_mqtt_next_wake(const struct edge *e, int64_t now)
{
    int64_t wake = -1;
    if (mqtt_link_connected(e->mqtt))
        wake = edge_earliest(wake, trains_next_wake(&e->trains, now));
    else
        wake = edge_earliest(wake, trains_next_ramp_ms(&e->trains, now));
    wake = edge_earliest(wake, mqtt_link_next_wake(e->mqtt, now));
    if (!e->failsafe_fired)
        wake = edge_earliest(wake, e->last_contact_ms + (int64_t)e->opts.failsafe_timeout_s * 1000);
    if (mqtt_link_connected(e->mqtt)) {
        int64_t probe_at = e->last_contact_ms + probe_interval_ms(e);
        int64_t again = e->last_probe_ms + probe_interval_ms(e);
        wake = edge_earliest(wake, probe_at > again ? probe_at : again);
    }
    return wake;
}

void edge_mqtt_farewell(struct edge *e, int64_t timeout_ms)
{
    if (!mqtt_link_connected(e->mqtt))
        return;
    e->n_pending = 0;
    for (size_t i = 0; i < e->trains.n; i++)
        edge_mqtt_status_publish(e, &e->trains.v[i], 1, true);
    presence_publish(e, "offline", true);
    edge_loop_flush(e, timeout_ms);
    if (e->n_pending > 0)
        log_event(RH_LOG_WARNING, "shutdown_unacknowledged", "{s:i}", "messages",
                  (int)e->n_pending);
    mqtt_link_disconnect(e->mqtt);
}
