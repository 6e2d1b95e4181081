#include "notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

#include "api_views.h"
#include "backoff.h"
#include "central.h"
#include "cluster.h"
#include "events.h"
#include "jsonx.h"
#include "layout.h"
#include "log.h"
#include "mqtt_acl.h"
#include "placement.h"
#include "runtime_config.h"
#include "store.h"
#include "timeutil.h"
#include "tlsutil.h"
#include "uuidstr.h"
#include "withrottle.h"

#define MAX_PAYLOAD (64 * 1024)
#define MAX_PENDING 4096

struct pending {
    char uuid[UUIDSTR_LEN + 1];
    long long version;
    char checksum[80];
};

struct notify {
    struct central *c;
    struct mosquitto *mosq;
    atomic_bool connected;
    atomic_ulong config_updates;
    atomic_ulong commands;
    pthread_mutex_t lock; /* pending, and the connector's state */
    struct pending *pending;
    size_t npending;
    pthread_t connector;
    pthread_cond_t wake;
    bool connector_started;
    bool loop_started;
    bool stopping;
};

bool notify_connected(const struct notify *n)
{
    return n != NULL && atomic_load(&n->connected);
}

unsigned long notify_sent_config_updates(const struct notify *n)
{
    return n ? atomic_load(&n->config_updates) : 0;
}

unsigned long notify_sent_commands(const struct notify *n)
{
    return n ? atomic_load(&n->commands) : 0;
}

static int publish_json(struct notify *n, const char *topic, const json_t *doc, int qos,
                        bool retain)
{
    if (n == NULL || !atomic_load(&n->connected))
        return -ENOTCONN;
    char *text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL)
        return -ENOMEM;
    int rc = mosquitto_publish(n->mosq, NULL, topic, (int)strlen(text), text, qos, retain);
    free(text);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_event(RH_LOG_WARNING, "mqtt_publish_failed", "{s:s, s:s}", "topic", topic, "error",
                  mosquitto_strerror(rc));
        return rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST ? -ENOTCONN : -EIO;
    }
    return 0;
}

int notify_control(struct notify *n, const json_t *doc, int qos)
{
    return publish_json(n, MQTT_ACL_CONTROL_TOPIC, doc, qos, false);
}

int notify_command(struct notify *n, const char *train_id, const json_t *payload)
{
    char topic[PROTO_TOPIC_MAX];
    if (proto_topic(topic, sizeof topic, PROTO_TOPIC_COMMANDS, train_id) < 0)
        return -EINVAL;
    int rc = publish_json(n, topic, payload, 1, false);
    if (rc == 0 && n != NULL)
        atomic_fetch_add(&n->commands, 1);
    return rc;
}

int notify_emergency_stop(struct notify *n, const char *reason, const char *id)
{
    char ts[32];
    timeutil_format_ms(timeutil_now_ms(), ts, sizeof ts);
    json_t *doc = json_pack("{s:s, s:s, s:s?}", "reason", reason, "timestamp", ts, "id", id);
    int rc = publish_json(n, PROTO_TOPIC_ESTOP, doc, 1, false);
    json_decref(doc);
    return rc;
}

static void queue_pending(struct notify *n, const char *uuid, long long version,
                          const char *checksum)
{
    pthread_mutex_lock(&n->lock);
    size_t i;
    for (i = 0; i < n->npending; i++)
        if (strcmp(n->pending[i].uuid, uuid) == 0)
            break;
    bool store = true;
    if (i == n->npending) {
        if (n->npending == MAX_PENDING) {
            /* The controller still learns of it from its heartbeat answer. */
            log_event(RH_LOG_WARNING, "config_update_dropped", "{s:s, s:I}", "uuid", uuid,
                      "version", (json_int_t)version);
            store = false;
        } else {
            n->npending++;
        }
    } else if (n->pending[i].version > version) {
        store = false; /* a newer one is already waiting */
    }
    if (store) {
        snprintf(n->pending[i].uuid, sizeof n->pending[i].uuid, "%s", uuid);
        n->pending[i].version = version;
        snprintf(n->pending[i].checksum, sizeof n->pending[i].checksum, "%s", checksum);
    }
    pthread_mutex_unlock(&n->lock);
}

static int send_config_update(struct notify *n, const char *uuid, long long version,
                              const char *checksum)
{
    char topic[PROTO_TOPIC_MAX];
    if (proto_topic(topic, sizeof topic, PROTO_TOPIC_CONFIG_UPDATE, uuid) < 0)
        return -EINVAL;
    json_t *doc = json_pack("{s:I, s:s}", "version", (json_int_t)version, "checksum", checksum);
    int rc = publish_json(n, topic, doc, 1, true);
    json_decref(doc);
    if (rc == 0 && n != NULL) {
        atomic_fetch_add(&n->config_updates, 1);
        log_event(RH_LOG_DEBUG, "config_update_published", "{s:s, s:I}", "uuid", uuid, "version",
                  (json_int_t)version);
    }
    return rc;
}

void notify_config_update(struct notify *n, const char *uuid, long long version,
                          const char *checksum)
{
    if (n == NULL)
        return;
    if (send_config_update(n, uuid, version, checksum) < 0)
        queue_pending(n, uuid, version, checksum);
}

/* Sends what waited for the connection, one entry at a time, without allocating (the old
 * way swapped in a fresh list; when that allocation failed the queue was NULL, unlocked,
 * for the MQTT thread to write into). An entry that cannot be sent goes back in the queue
 * (unless a newer version arrived meanwhile) and the rest waits for the next connection. */
static void flush_pending(struct notify *n)
{
    pthread_mutex_lock(&n->lock);
    size_t count = n->npending;
    pthread_mutex_unlock(&n->lock);
    size_t sent = 0;
    for (size_t i = 0; i < count; i++) {
        struct pending p;
        pthread_mutex_lock(&n->lock);
        bool have = n->npending > 0;
        if (have)
            p = n->pending[--n->npending];
        pthread_mutex_unlock(&n->lock);
        if (!have)
            break;
        if (send_config_update(n, p.uuid, p.version, p.checksum) < 0) {
            queue_pending(n, p.uuid, p.version, p.checksum);
            break;
        }
        sent++;
    }
    if (sent > 0)
        log_event(RH_LOG_INFO, "config_updates_republished", "{s:I}", "count", (json_int_t)sent);
}

void notify_on_commit(void *ctx, struct store *st, const json_t *bumped)
{
    struct notify *n = ctx;
    const struct central_options *o = &n->c->opts;
    struct runtime_broker broker = {
        .host = o->advertise_set ? o->advertise_host : o->mqtt_host,
        .port = o->advertise_set ? o->advertise_port : o->mqtt_port,
        .tls = o->mqtt_tls,
    };
    size_t i;
    json_t *v;
    json_array_foreach(bumped, i, v)
    {
        const char *uuid = json_string_value(v);
        json_t *row = NULL, *trains = NULL, *doc = NULL;
        char user[MQTT_ACL_NAME_LEN + 1], pass[MQTT_ACL_PASSWORD_LEN + 1];
        mqtt_acl_runtime_credentials(n->c, uuid, &broker, user, pass);
        /* Its trains changed: so does what its account may publish and read. */
        mqtt_acl_sync(n->c, st, uuid);
        if (store_controller_get(st, uuid, &row) == 0 &&
            placement_runtime_trains(n->c, st, row, timeutil_now_ms() / 1000, &trains) == 0 &&
            (doc = runtime_config_build(row, trains, &broker, o->heartbeat_interval)) != NULL)
            notify_config_update(n, uuid, json_integer_value(json_object_get(doc, "version")),
                                 json_string_value(json_object_get(doc, "checksum")));
        json_decref(row);
        json_decref(trains);
        json_decref(doc);
    }
}

/* ---- ingestion ---- */

static void ingest_status(struct central *c, const char *train_id, const json_t *doc)
{
    struct jsonx_err err;
    int64_t speed = 0, target = -1;
    const char *dir = NULL, *state = NULL, *ts = NULL;
    char ctl[UUIDSTR_LEN + 1];
    bool ctl_null = true;
    int has_speed;
    if ((has_speed = jsonx_int(doc, "speed", 0, 100, &speed, &err)) != 1 ||
        jsonx_int(doc, "target_speed", 0, 100, &target, &err) < 0 ||
        jsonx_string(doc, "direction", 0, 16, true, &dir, &err) < 0 ||
        jsonx_string(doc, "state", 0, 16, true, &state, &err) < 0 ||
        jsonx_string(doc, "timestamp", 0, 64, true, &ts, &err) < 0 ||
        jsonx_uuid(doc, "controller_id", true, ctl, &ctl_null, &err) < 0) {
        if (has_speed == 0)
            jsonx_err_set(&err, "speed", "'speed' is required");
        log_event(RH_LOG_WARNING, "status_rejected", "{s:s, s:s, s:s}", "train_id", train_id,
                  "field", err.field, "error", err.detail);
        return;
    }
    int64_t now = timeutil_now_ms() / 1000;
    json_t *row =
        json_pack("{s:s, s:I, s:s?, s:s?, s:s?, s:s?, s:I}", "train_id", train_id, "speed",
                  (json_int_t)speed, "direction", dir, "state", state, "reported_at", ts,
                  "controller_id", ctl_null ? NULL : ctl, "updated_at", (json_int_t)now);
    if (target >= 0)
        json_object_set_new(row, "target_speed", json_integer(target));
    struct store *st = c->store;
    json_t *train = NULL;
    if (store_begin(st, true) < 0)
        goto out;
    int rc = store_train_get(st, train_id, &train);
    if (rc == 0) {
        json_t *f = json_pack("{s:I}", "last_telemetry_at", (json_int_t)now);
        rc = store_status_upsert(st, row);
        if (rc == 0)
            rc = store_train_update(st, train_id, f);
        json_decref(f);
    }
    if (rc == 0) {
        json_t *saved = NULL, *event = NULL;
        if (store_status_get(st, train_id, &saved) == 0)
            event = view_status_live(
                c, saved, json_string_value(json_object_get(train, "actual_controller_id")));
        json_decref(saved);
        if (store_commit(st) == 0) {
            events_publish(c->events, "status", event);
            /* The throttles holding the train show what it now runs towards. */
            withrottle_train_status(atomic_load(&c->withrottle), train_id,
                                    (int)(target >= 0 ? target : speed), dir);
        } else {
            json_decref(event);
        }
    } else {
        store_rollback(st);
        if (rc == -ENOENT)
            log_event(RH_LOG_DEBUG, "status_unknown_train", "{s:s}", "train_id", train_id);
        else
            log_event(RH_LOG_ERROR, "database_error", "{s:s, s:s}", "while", "status_ingest",
                      "error", store_last_error(st));
    }
out:
    json_decref(train);
    json_decref(row);
}

/* Birth and will of an edge: a will (or clean shutdown) of the current session takes the
 * controller out of "online" at once; anything from an older session is ignored, so a quick
 * restart is never overridden by its predecessor's will. Anything from a *newer* session is
 * ignored too: the epoch moves only when the controller announces it over HTTP (registration),
 * so one forged publish with a huge epoch cannot take a healthy controller offline and make
 * its heartbeats look old (docs/mqtt.md, "Presence"). */
static void ingest_presence(struct central *c, const char *uuid, const json_t *doc)
{
    struct jsonx_err err;
    const char *state = NULL;
    int64_t epoch = -1;
    if (jsonx_string(doc, "state", 1, 16, false, &state, &err) != 1 ||
        jsonx_int(doc, "session_epoch", 0, INT64_MAX / 2, &epoch, &err) != 1 ||
        (strcmp(state, "online") != 0 && strcmp(state, "offline") != 0)) {
        log_event(RH_LOG_WARNING, "presence_rejected", "{s:s}", "uuid", uuid);
        return;
    }
    struct store *st = c->store;
    json_t *row = NULL, *f = NULL;
    if (store_begin(st, true) < 0)
        return;
    int rc = store_controller_get(st, uuid, &row);
    if (rc < 0)
        goto rollback;
    int64_t current = json_integer_value(json_object_get(row, "session_epoch"));
    if (epoch < current) {
        log_event(RH_LOG_DEBUG, "presence_old_epoch_ignored", "{s:s, s:I, s:I}", "uuid", uuid,
                  "epoch", (json_int_t)epoch, "current", (json_int_t)current);
        goto rollback;
    }
    if (epoch > current) {
        /* An edge that booted from its cache while the central was unreachable announces its
         * new epoch when it registers; until then its birth is not needed, and a forged one
         * must not count. */
        log_event(RH_LOG_WARNING, "presence_epoch_ahead_ignored", "{s:s, s:I, s:I}", "uuid", uuid,
                  "epoch", (json_int_t)epoch, "current", (json_int_t)current);
        goto rollback;
    }
    int64_t now = timeutil_now_ms() / 1000;
    if (strcmp(state, "online") == 0)
        f = json_pack("{s:I, s:n}", "last_seen", (json_int_t)now, "offline_epoch");
    else
        f = json_pack("{s:I}", "offline_epoch", (json_int_t)epoch);
    rc = store_controller_update(st, uuid, f);
    /* Gone: the trains it held and that were moved away may now go to their new owners. */
    if (rc == 0 && strcmp(state, "offline") == 0)
        rc = placement_release(c, st, uuid, now);
    if (rc < 0)
        goto rollback;
    json_t *saved = NULL, *event = NULL;
    if (store_controller_get(st, uuid, &saved) == 0)
        event = view_controller(c, saved, now, true);
    json_decref(saved);
    if (store_commit(st) == 0)
        events_publish(c->events, "controller", event);
    else
        json_decref(event);
    log_event(RH_LOG_INFO, "controller_presence", "{s:s, s:s, s:I}", "uuid", uuid, "state", state,
              "session_epoch", (json_int_t)epoch);
    goto out;
rollback:
    store_rollback(st);
out:
    json_decref(row);
    json_decref(f);
}

void notify_ingest(struct central *c, const char *topic, const void *payload, size_t len)
{
    char id[128];
    if (len == 0) /* a cleared retained message */
        return;
    if (len > MAX_PAYLOAD) {
        log_event(RH_LOG_WARNING, "mqtt_payload_too_large", "{s:s, s:I}", "topic", topic, "bytes",
                  (json_int_t)len);
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        log_event(RH_LOG_WARNING, "mqtt_payload_invalid", "{s:s, s:s}", "topic", topic, "error",
                  doc ? "not a JSON object" : jerr.text);
        json_decref(doc);
        return;
    }
    /* Several centrals on one database: status and presence are stored (in the order they
     * came) by the one that holds the duty, which tells the others (cluster.h). */
    bool mine = cluster_duty(c->cluster);
    char uuid[UUIDSTR_LEN + 1];
    switch (proto_topic_parse(topic, id, sizeof id)) {
    case PROTO_TOPIC_STATUS:
        if (mine && proto_train_id_valid(id, strlen(id)))
            ingest_status(c, id, doc);
        break;
    case PROTO_TOPIC_PRESENCE:
        if (mine && uuidstr_normalize(id, uuid) == 0)
            ingest_presence(c, uuid, doc);
        break;
    case PROTO_TOPIC_ESTOP_ACK:
        if (uuidstr_normalize(id, uuid) == 0)
            layout_ack(c, uuid, doc);
        break;
    default:
        break;
    }
    json_decref(doc);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    struct notify *n = obj;
    if (n->c->opts.mqtt_acl && strcmp(msg->topic, MQTT_ACL_RESPONSE_TOPIC) == 0) {
        mqtt_acl_on_response(n->c, msg->payload, (size_t)msg->payloadlen);
        return;
    }
    if (msg->payloadlen >= 0)
        notify_ingest(n->c, msg->topic, msg->payload, (size_t)msg->payloadlen);
}

static void subscribe_ingested(struct mosquitto *mosq)
{
    mosquitto_subscribe(mosq, NULL, PROTO_TOPIC_ALL_STATUS, 0);
    mosquitto_subscribe(mosq, NULL, PROTO_TOPIC_ALL_PRESENCE, 1);
}

void notify_resubscribe(struct notify *n)
{
    if (notify_connected(n))
        subscribe_ingested(n->mosq);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    struct notify *n = obj;
    if (rc != 0) {
        log_event(RH_LOG_WARNING, "mqtt_connect_refused", "{s:s}", "reason",
                  mosquitto_connack_string(rc));
        return;
    }
    atomic_store(&n->connected, true);
    if (n->c->opts.mqtt_acl) {
        mosquitto_subscribe(mosq, NULL, MQTT_ACL_RESPONSE_TOPIC, 1);
        mqtt_acl_reconcile(n->c);
    }
    subscribe_ingested(mosq);
    mosquitto_subscribe(mosq, NULL, PROTO_TOPIC_ALL_ESTOP_ACK, 1);
    /* A retained emergency stop (published by mistake, or by a stranger) would stop every
     * train at every reconnect of every edge: clear it. Edges ignore the empty message this
     * sends them, and retained ones anyway. */
    mosquitto_publish(mosq, NULL, PROTO_TOPIC_ESTOP, 0, NULL, 1, true);
    log_event(RH_LOG_INFO, "mqtt_connected", "{s:s, s:i, s:b}", "host", n->c->opts.mqtt_host,
              "port", n->c->opts.mqtt_port, "tls", n->c->opts.mqtt_tls);
    flush_pending(n);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    struct notify *n = obj;
    if (atomic_exchange(&n->connected, false))
        log_event(RH_LOG_WARNING, "mqtt_disconnected", "{s:s}", "reason", mosquitto_strerror(rc));
}

/* libmosquitto reports why a TLS connection failed (certificate verify failed, unknown CA,
 * handshake failure) only through its log; its errors are ours to log. */
static void on_log(struct mosquitto *mosq, void *obj, int level, const char *text)
{
    (void)mosq;
    (void)obj;
    if (level == MOSQ_LOG_ERR)
        log_event(RH_LOG_WARNING, "mqtt_library_error", "{s:s}", "error", text);
}

/* MQTT over TLS: the CA (or the system's store), the client certificate, and the broker's
 * host name checked against its certificate (tls_insecure off). The files are read once
 * through OpenSSL first, so that a bad one stops the start with a message naming it rather
 * than failing every connection later. */
static int tls_setup(struct notify *n)
{
    const struct central_options *o = &n->c->opts;
    char err[512];
    SSL_CTX *probe = NULL;
    struct tls_client_opts to = {
        .ca_file = o->mqtt_ca[0] ? o->mqtt_ca : NULL,
        .cert_file = o->mqtt_cert[0] ? o->mqtt_cert : NULL,
        .key_file = o->mqtt_key[0] ? o->mqtt_key : NULL,
        .verify = true,
    };
    if (tls_client_ctx_new(&to, &probe, err, sizeof err) < 0) {
        log_event(RH_LOG_ERROR, "mqtt_tls_invalid", "{s:s}", "error", err);
        fprintf(stderr, "roundhouse-central: MQTT TLS: %s\n", err);
        return -EINVAL;
    }
    SSL_CTX_free(probe);
    int rc = MOSQ_ERR_SUCCESS;
    if (to.ca_file == NULL)
        rc = mosquitto_int_option(n->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
    /* mosquitto_tls_set needs a CA file or directory: with the system's store, the default
     * directory (the system's store is also loaded). */
    if (rc == MOSQ_ERR_SUCCESS && (to.ca_file != NULL || to.cert_file != NULL))
        rc = mosquitto_tls_set(n->mosq, to.ca_file, to.ca_file ? NULL : X509_get_default_cert_dir(),
                               to.cert_file, to.key_file, NULL);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_tls_insecure_set(n->mosq, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_event(RH_LOG_ERROR, "mqtt_tls_invalid", "{s:s}", "error", mosquitto_strerror(rc));
        return -EINVAL;
    }
    return 0;
}

static void *connector_run(void *arg)
{
    struct notify *n = arg;
    const struct central_options *o = &n->c->opts;
    unsigned attempt = 0;
    uint64_t rnd = (uint64_t)timeutil_now_ms() | 1;
    pthread_mutex_lock(&n->lock);
    while (!n->stopping) {
        pthread_mutex_unlock(&n->lock);
        int rc = mosquitto_connect_async(n->mosq, o->mqtt_host, o->mqtt_port, 30);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_loop_start(n->mosq);
        pthread_mutex_lock(&n->lock);
        if (rc == MOSQ_ERR_SUCCESS) {
            n->loop_started = true;
            break;
        }
        if (attempt == 0 || attempt % 10 == 0)
            log_event(RH_LOG_WARNING, "mqtt_connect_failed", "{s:s, s:i, s:s, s:i}", "host",
                      o->mqtt_host, "port", o->mqtt_port, "error", mosquitto_strerror(rc),
                      "attempt", (int)attempt + 1);
        int64_t delay = 500 + backoff_delay_ms(attempt++, 1000, 30000, backoff_rand(&rnd));
        struct timespec until = timeutil_mono_after(delay);
        while (!n->stopping && pthread_cond_timedwait(&n->wake, &n->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&n->lock);
    return NULL;
}

int notify_start(struct central *c, struct notify **out)
{
    mosquitto_lib_init();
    struct notify *n = calloc(1, sizeof *n);
    if (n == NULL)
        return -ENOMEM;
    n->c = c;
    pthread_mutex_init(&n->lock, NULL);
    n->pending = calloc(MAX_PENDING, sizeof *n->pending);
    char id[64];
    char rnd[UUIDSTR_LEN + 1];
    uuidstr_generate(rnd);
    snprintf(id, sizeof id, "roundhouse-central-%.8s", rnd);
    n->mosq = mosquitto_new(id, true, n);
    if (n->mosq == NULL || n->pending == NULL) {
        notify_stop(n);
        return -ENOMEM;
    }
    if (c->opts.mqtt_username[0] != '\0')
        mosquitto_username_pw_set(n->mosq, c->opts.mqtt_username, c->opts.mqtt_password);
    mosquitto_int_option(n->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    /* Commands and notifications are small and latency-bound: no Nagle delay behind an
     * unacknowledged packet (it added ~20 ms to reassignment tails in the benchmarks). */
    mosquitto_int_option(n->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_reconnect_delay_set(n->mosq, 1, 30, true);
    mosquitto_connect_callback_set(n->mosq, on_connect);
    mosquitto_disconnect_callback_set(n->mosq, on_disconnect);
    mosquitto_message_callback_set(n->mosq, on_message);
    mosquitto_log_callback_set(n->mosq, on_log);
    if (c->opts.mqtt_tls && tls_setup(n) < 0) {
        notify_stop(n);
        return -EINVAL;
    }
    /* The first connection is made by a small thread of ours: libmosquitto's network thread
     * retries lost connections, but not a first connect that failed (broker down when the
     * central starts), so that one is retried here, with the same backoff, until it works;
     * then the library's loop takes over. The API never waits for any of it. */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&n->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&n->connector, NULL, connector_run, n) != 0) {
        pthread_cond_destroy(&n->wake);
        notify_stop(n);
        return -EAGAIN;
    }
    n->connector_started = true;
    *out = n;
    return 0;
}

void notify_stop(struct notify *n)
{
    if (n == NULL)
        return;
    if (n->connector_started) {
        pthread_mutex_lock(&n->lock);
        n->stopping = true;
        pthread_cond_signal(&n->wake);
        pthread_mutex_unlock(&n->lock);
        pthread_join(n->connector, NULL);
        pthread_cond_destroy(&n->wake);
    }
    if (n->mosq != NULL && n->loop_started) {
        mosquitto_disconnect(n->mosq);
        /* Not forced: a cancelled network thread could die inside a callback holding memory;
         * after mosquitto_disconnect the loop ends by itself, and a reconnect wait is
         * interrupted by loop_stop. */
        mosquitto_loop_stop(n->mosq, false);
    }
    if (n->mosq != NULL)
        mosquitto_destroy(n->mosq);
    pthread_mutex_destroy(&n->lock);
    free(n->pending);
    free(n);
    mosquitto_lib_cleanup();
}
