/* The fleet simulator's run: N simulated controllers in one process on one epoll loop.
 *
 * What each controller does with the central is decided by the edge's own code, linked from
 * rh_sync (src/edge/sync.cmake): the state machine of sync.c says when to register,
 * self-register trains, download the config, heartbeat, register again after a 404, and how
 * long to wait after a failure or a Retry-After; answer.c reads every answer into the
 * machine's event exactly as the edge does, and a downloaded config passes the edge's checks
 * (checksum, schema, own UUID) before it is applied. The fleet builds the requests and
 * carries them out, as edge_central.c does for the edge.
 *
 * What is not the edge's, and why:
 *  - The long poll (the edge's fallback while its broker is unreachable) is never asked for:
 *    the machine is told at once that the broker is up. A held long poll occupies one of the
 *    fleet's --http-connections for up to 50 s, and the fleet opens its MQTT connections in a
 *    trickle (--mqtt-connecting), so thousands of controllers still waiting for theirs would
 *    fill the pool with held requests and stall everyone's registration. A notification
 *    missed while a controller's MQTT is down is learnt from its next heartbeat's answer.
 *  - The edge self-registers one train (TRAIN_ID); a simulated controller registers
 *    --trains-per-controller trains, one request each, which the machine sees as its one
 *    train registration: in flight until the last answer.
 *  - Identities derive from the seed and the index (the duplicate count relies on that): a
 *    registration answer with another UUID is a failed registration here; the edge would
 *    adopt the UUID.
 *  - The requests run on libcurl's multi interface with pooled keep-alive connections
 *    (httpq.c), not api_client.c's one connection per request; an action the machine asks
 *    for waits in a queue for a free connection. MQTT is one light libmosquitto client per
 *    controller on the same loop, not mqtt_link.c; a config is applied at once (no motors,
 *    no apply transaction): a simulated train reaches any speed at once. */
#include "fleet.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "answer.h"
#include "backoff.h"
#include "canon.h"
#include "httpq.h"
#include "log.h"
#include "parse.h"
#include "procstat.h"
#include "protocol.h"
#include "secret.h"
#include "sha256.h"
#include "simid.h"
#include "sync.h"
#include "timeutil.h"
#include "uuidstr.h"

#define CTL_EVSRC 0x43544c52
#define FLEET_TICK_MS 20
#define FLEET_MAX_TRAINS FLEET_MAX_TRAINS_PER_CONTROLLER
#define FLEET_MAX_MOVES 64
#define FLEET_MOVE_TIMEOUT_MS 30000
#define FLEET_MQTT_CONNECT_TIMEOUT_MS 10000
#define FLEET_LIST_TIMEOUT_MS 120000
#define FLEET_SHUTDOWN_MS 2000
#define FLEET_DRAIN_MS 30000
#define FLEET_BODY_MAX (256u * 1024) /* a train move's answer */
#define FLEET_LIST_MAX (512u * 1024 * 1024)
#define FLEET_SAMPLES_MAX 2000000
#define FLEET_EPOLL_BATCH 512

enum mstate { M_OFF = 0, M_WAIT, M_CONNECTING, M_UP };
enum phase { PH_BOOT = 0, PH_MEASURE, PH_DRAIN, PH_SHUTDOWN, PH_DONE };

struct tsim {
    int speed;
    bool reverse, estopped;
    char id[SIMID_TRAIN_MAX + 1];
};

struct ctl {
    int evsrc; /* CTL_EVSRC: first, see httpq.h */
    long idx;  /* global index: identities derive from it */
    long pos;  /* position in this process's array (idx with --shard 0/1) */
    struct fleet *f;
    char uuid[UUIDSTR_LEN + 1];
    char name[SIMID_NAME_MAX];
    char secret_header[SECRET_HEX_LEN + 32]; /* "X-Controller-Secret: ..." */
    /* Central side: the edge's machine decides, one request at a time. */
    struct sync sync;
    enum sync_action pending; /* asked for by the machine, waiting for an HTTP connection */
    int64_t wake_ms;          /* the machine wants a tick then; -1: only on events */
    bool queued, busy, configured_once, hb_ok_since_apply, ready;
    bool counted_registered, counted_configured;
    int trains_registered; /* self-registrations answered since the last registration */
    int64_t epoch;
    int64_t rejected_version; /* last config refused for its content; -1: none */
    char etag[128], checksum[CANON_CHECKSUM_LEN + 1], rejected_checksum[CANON_CHECKSUM_LEN + 1];
    struct tsim *trains;
    int ntrains;
    /* MQTT side */
    struct mosquitto *mosq;
    int fd;
    uint32_t ep_events;
    enum mstate ms;
    int64_t m_retry_ms, m_started_ms, misc_due_ms;
    unsigned m_attempt;
    int subacks;
    int offline_mid;
    bool offline_sent, offline_acked;
    int moving; /* active moves involving this controller */
};

struct move {
    bool active, put_ok, done;
    char train[SIMID_TRAIN_MAX + 1];
    long from, to;
    int64_t start_ms, put_us, done_us;
};

struct fleet {
    const struct fleet_options *o;
    struct fleet_result *res;
    volatile sig_atomic_t *stop;
    int epfd;
    struct httpq *http;
    struct ctl *ctls;
    long n;       /* controllers simulated here */
    long n_total; /* controllers of the whole fleet (all shards) */
    long *queue;  /* ring of controller indices waiting for an HTTP slot */
    long qhead, qlen;
    char (*sorted_uuids)[UUIDSTR_LEN + 1];
    enum phase phase;
    int64_t now_ms, start_ms, boot_done_ms, measure_start_ms, measure_end_ms, phase_deadline_ms;
    int64_t measure_start_us;
    long n_ready, n_registered, n_configured, n_connecting, n_up, n_offline_acked;
    struct move moves[FLEET_MAX_MOVES];
    bool list_wanted, list_running, list_done;
    uint64_t rng;
    char prefix[SIMID_NAME_MAX];
    pid_t central_pid;
    struct procstat_sample cs0;
    int64_t cs0_ms;
    bool cs0_ok;
    int64_t last_progress_ms;
};

static const char *const req_names[FREQ_COUNT] = {"register",  "train", "config",
                                                  "heartbeat", "put",   "list"};
static const char *const reg_status_names[4] = {"restored", "reactivated", "registered",
                                                "existing"};

const char *fleet_req_name(enum fleet_req q)
{
    return (unsigned)q < FREQ_COUNT ? req_names[q] : "?";
}

void fleet_result_init(struct fleet_result *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < FREQ_COUNT; i++) {
        stats_init(&r->req[i].latency, FLEET_SAMPLES_MAX);
        r->req[i].first_start_us = -1;
        r->req[i].last_end_us = -1;
    }
    stats_init(&r->steady_hb, FLEET_SAMPLES_MAX);
    stats_init(&r->move_latency, FLEET_SAMPLES_MAX);
}

void fleet_result_free(struct fleet_result *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < FREQ_COUNT; i++)
        stats_free(&r->req[i].latency);
    stats_free(&r->steady_hb);
    stats_free(&r->move_latency);
}

/* --- small helpers ---------------------------------------------------------------------- */

static uint64_t fleet_rand(struct fleet *f)
{
    return backoff_rand(&f->rng);
}

static char *json_text(json_t *j)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

static struct tsim *ctl_train(struct ctl *c, const char *id)
{
    for (int i = 0; i < c->ntrains; i++)
        if (strcmp(c->trains[i].id, id) == 0)
            return &c->trains[i];
    return NULL;
}

static int64_t earliest(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static void enqueue(struct fleet *f, struct ctl *c)
{
    if (c->queued || c->busy || f->qlen >= f->n)
        return;
    f->queue[(f->qhead + f->qlen) % f->n] = c->pos;
    f->qlen++;
    c->queued = true;
}

/* How many trains the controller registers itself (the edge: its one TRAIN_ID, or none). */
static int ctl_trains_wanted(const struct fleet *f, const struct ctl *c)
{
    (void)c;
    return f->o->trains_per_controller;
}

static bool ctl_registered(const struct ctl *c)
{
    return c->sync.phase == SYNC_REGISTERED;
}

/* Feeds one event to the controller's machine. A request it asks for waits in the queue for
 * a connection; the machine counts it as in flight from now on. */
static void ctl_feed(struct fleet *f, struct ctl *c, const struct sync_event *ev)
{
    struct sync_output out;
    sync_step(&c->sync, ev, f->now_ms, &out);
    c->wake_ms = out.wake_ms;
    if (out.action != SYNC_ACT_NONE) {
        c->pending = out.action;
        enqueue(f, c);
    }
    /* out.longpoll_version stays -1: the machine believes the broker up (see the top). */
}

static void ctl_feed_kind(struct fleet *f, struct ctl *c, enum sync_event_kind kind,
                          int64_t version)
{
    struct sync_event ev = {.kind = kind, .version = version, .retry_after_ms = -1};
    ctl_feed(f, c, &ev);
}

/* Ready: registered with its trains, the config the central wants applied and reported, MQTT
 * connected with every subscription acknowledged. */
static void check_ready(struct fleet *f, struct ctl *c)
{
    const struct sync *s = &c->sync;
    if (c->ready)
        return;
    if (ctl_registered(c) && !s->train_pending && c->configured_once && !s->config_wanted &&
        c->hb_ok_since_apply && c->ms == M_UP && c->subacks == 0) {
        c->ready = true;
        f->n_ready++;
    }
}

/* A controller's machine starts as the edge's does at boot, with nothing applied, and is
 * told the broker is up so that it never asks for a long poll (see the top). */
static void ctl_boot(struct fleet *f, struct ctl *c)
{
    uint64_t seed = (f->o->seed + 1) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(c->idx + 1);
    double hb_s = f->o->heartbeat_interval_s;
    sync_init(&c->sync, f->now_ms, ctl_trains_wanted(f, c) > 0, 0, -1, seed);
    if (hb_s > 0)
        sync_heartbeat_override_set(&c->sync, (int64_t)(hb_s * 1000.0 + 0.5));
    ctl_feed_kind(f, c, SYNC_EV_BROKER_UP, -1);
}

/* --- MQTT ------------------------------------------------------------------------------- */

static void ctl_interest(struct ctl *c)
{
    if (c->fd < 0)
        return;
    uint32_t want = EPOLLIN;
    if (c->ms == M_CONNECTING || mosquitto_want_write(c->mosq))
        want |= EPOLLOUT;
    if (want == c->ep_events)
        return;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    if (epoll_ctl(c->f->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->ep_events = want;
}

static void ctl_flush(struct ctl *c)
{
    if (c->fd >= 0 && mosquitto_want_write(c->mosq))
        mosquitto_loop_write(c->mosq, 16);
    ctl_interest(c);
}

static char *presence_payload(const struct ctl *c, const char *state)
{
    char ts[TIMEUTIL_ISO_LEN + 1];
    if (timeutil_format(timeutil_now_ms() / 1000, ts) < 0)
        ts[0] = '\0';
    return json_text(json_pack("{s:s, s:I, s:s, s:s}", "state", state, "session_epoch",
                               (json_int_t)c->epoch, "version", ROUNDHOUSE_VERSION, "timestamp",
                               ts));
}

static void status_publish(struct ctl *c, const struct tsim *t, int qos)
{
    char topic[SIMID_TRAIN_MAX + 32], ts[32];
    if (c->ms != M_UP)
        return;
    if (timeutil_format_ms(timeutil_now_ms(), ts, sizeof ts) < 0)
        ts[0] = '\0';
    const char *state = t->estopped ? "estopped" : t->speed > 0 ? "running" : "stopped";
    char *p = json_text(json_pack("{s:s, s:i, s:s, s:i, s:s, s:s, s:s}", "train_id", t->id, "speed",
                                  t->speed, "direction", t->reverse ? "BACKWARD" : "FORWARD",
                                  "target_speed", t->speed, "state", state, "controller_id",
                                  c->uuid, "timestamp", ts));
    if (p == NULL)
        return;
    proto_topic(topic, sizeof topic, PROTO_TOPIC_STATUS, t->id);
    if (mosquitto_publish(c->mosq, NULL, topic, (int)strlen(p), p, qos, true) == MOSQ_ERR_SUCCESS)
        c->f->res->statuses++;
    free(p);
}

static void train_subscribe(struct ctl *c, const char *id, bool on)
{
    char topic[SIMID_TRAIN_MAX + 32];
    if (c->ms != M_UP)
        return;
    proto_topic(topic, sizeof topic, PROTO_TOPIC_COMMANDS, id);
    if (on) {
        if (mosquitto_subscribe(c->mosq, NULL, topic, 1) == MOSQ_ERR_SUCCESS)
            c->subacks++;
    } else {
        mosquitto_unsubscribe(c->mosq, NULL, topic);
    }
}

static void mqtt_schedule_retry(struct fleet *f, struct ctl *c)
{
    c->ms = M_WAIT;
    c->m_retry_ms = f->now_ms + backoff_delay_ms(c->m_attempt, 500, 30000, fleet_rand(f)) + 50;
    if (c->m_attempt < 32)
        c->m_attempt++;
}

static void on_mqtt_connect(struct mosquitto *m, void *obj, int rc)
{
    struct ctl *c = obj;
    struct fleet *f = c->f;
    char topic[UUIDSTR_LEN + 48];
    (void)m;
    if (rc != 0) {
        f->res->mqtt_connect_failures++;
        mosquitto_disconnect(c->mosq);
        return;
    }
    if (c->ms == M_CONNECTING)
        f->n_connecting--;
    c->ms = M_UP;
    c->m_attempt = 0;
    f->n_up++;
    if (f->n_up > f->res->mqtt_up)
        f->res->mqtt_up = f->n_up;
    c->misc_due_ms = f->now_ms + 1000;
    /* A clean session forgets subscriptions: subscribe again on every connection. */
    c->subacks = 0;
    proto_topic(topic, sizeof topic, PROTO_TOPIC_CONFIG_UPDATE, c->uuid);
    if (mosquitto_subscribe(c->mosq, NULL, topic, 1) == MOSQ_ERR_SUCCESS)
        c->subacks++;
    if (mosquitto_subscribe(c->mosq, NULL, PROTO_TOPIC_ESTOP, 1) == MOSQ_ERR_SUCCESS)
        c->subacks++;
    for (int i = 0; i < c->ntrains; i++)
        train_subscribe(c, c->trains[i].id, true);
    char *p = presence_payload(c, "online");
    proto_topic(topic, sizeof topic, PROTO_TOPIC_PRESENCE, c->uuid);
    if (p != NULL)
        mosquitto_publish(c->mosq, NULL, topic, (int)strlen(p), p, 1, true);
    free(p);
    /* The retained status may be from before: refresh it, as the edge does. */
    for (int i = 0; i < c->ntrains; i++)
        status_publish(c, &c->trains[i], 0);
}

static void on_mqtt_disconnect(struct mosquitto *m, void *obj, int rc)
{
    struct ctl *c = obj;
    struct fleet *f = c->f;
    (void)m;
    (void)rc;
    if (c->ms == M_CONNECTING)
        f->n_connecting--;
    if (c->ms == M_UP)
        f->n_up--;
    /* libmosquitto closed the socket, which also took it out of the epoll set. */
    c->fd = -1;
    c->ep_events = 0;
    c->subacks = 0;
    if (f->phase >= PH_SHUTDOWN) {
        c->ms = M_OFF;
        return;
    }
    f->res->mqtt_disconnects++;
    mqtt_schedule_retry(f, c);
}

static void on_mqtt_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
    struct ctl *c = obj;
    (void)m;
    (void)mid;
    (void)n;
    (void)granted;
    if (c->subacks > 0)
        c->subacks--;
    check_ready(c->f, c);
}

static void on_mqtt_publish(struct mosquitto *m, void *obj, int mid)
{
    struct ctl *c = obj;
    (void)m;
    if (c->offline_sent && !c->offline_acked && mid == c->offline_mid) {
        c->offline_acked = true;
        c->f->n_offline_acked++;
    }
}

static void handle_command(struct ctl *c, struct tsim *t, const void *payload, size_t len)
{
    /* The edge's own parser: what it would reject whole changes nothing here either. */
    struct proto_command cmd;
    char err[128];
    if (proto_command_parse(payload, len, &cmd, err, sizeof err) < 0)
        return;
    c->f->res->commands++;
    if (cmd.has_direction)
        t->reverse = cmd.reverse;
    switch (cmd.action) {
    case PROTO_ACT_ESTOP:
        t->speed = 0;
        t->estopped = true;
        break;
    case PROTO_ACT_STOP:
        t->speed = 0;
        t->estopped = false;
        break;
    case PROTO_ACT_START:
        t->speed = cmd.has_speed ? cmd.speed : (t->speed > 0 ? t->speed : 50);
        t->estopped = false;
        break;
    case PROTO_ACT_SET_SPEED:
        t->speed = cmd.speed;
        t->estopped = false;
        break;
    default:
        break;
    }
    /* A simulated motor reaches its target at once: one status answers the command. */
    status_publish(c, t, 0);
}

static void on_mqtt_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    struct ctl *c = obj;
    struct fleet *f = c->f;
    const char *topic = msg->topic;
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    (void)m;
    if (topic == NULL)
        return;
    char id[SIMID_TRAIN_MAX + 1];
    enum proto_topic kind = proto_topic_parse(topic, id, sizeof id);
    if (kind == PROTO_TOPIC_LAYOUT_ESTOP) {
        for (int i = 0; i < c->ntrains; i++) {
            c->trains[i].speed = 0;
            c->trains[i].estopped = true;
            status_publish(c, &c->trains[i], 0);
        }
        return;
    }
    if (kind == PROTO_TOPIC_COMMANDS) {
        struct tsim *t = ctl_train(c, id);
        if (t != NULL)
            handle_command(c, t, msg->payload, len);
        return;
    }
    if (kind == PROTO_TOPIC_CONFIG_UPDATE && len > 0 && len <= 4096) {
        json_t *j = json_loadb(msg->payload, len, 0, NULL);
        json_t *v = json_object_get(j, "version");
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            int64_t version = json_integer_value(v);
            if (sync_version_wanted(&c->sync, version))
                f->res->config_updates++;
            ctl_feed_kind(f, c, SYNC_EV_NOTIFY, version);
        }
        json_decref(j);
    }
}

static void mqtt_connect(struct fleet *f, struct ctl *c)
{
    char topic[UUIDSTR_LEN + 48], id[UUIDSTR_LEN + 32];
    char *will = NULL;
    int fd;
    if (c->mosq == NULL) {
        snprintf(id, sizeof id, "roundhouse-edge-%s", c->uuid);
        c->mosq = mosquitto_new(id, true, c);
        if (c->mosq == NULL)
            goto failed;
        mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
        mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
        mosquitto_connect_callback_set(c->mosq, on_mqtt_connect);
        mosquitto_disconnect_callback_set(c->mosq, on_mqtt_disconnect);
        mosquitto_subscribe_callback_set(c->mosq, on_mqtt_subscribe);
        mosquitto_message_callback_set(c->mosq, on_mqtt_message);
        mosquitto_publish_callback_set(c->mosq, on_mqtt_publish);
    }
    /* The will describes this session: armed with the epoch of the last registration. */
    will = presence_payload(c, "offline");
    proto_topic(topic, sizeof topic, PROTO_TOPIC_PRESENCE, c->uuid);
    if (will == NULL ||
        mosquitto_will_set(c->mosq, topic, (int)strlen(will), will, 1, true) != MOSQ_ERR_SUCCESS)
        goto failed;
    if (mosquitto_connect_async(c->mosq, f->o->mqtt_host, f->o->mqtt_port,
                                f->o->mqtt_keepalive_s) != MOSQ_ERR_SUCCESS)
        goto failed;
    fd = mosquitto_socket(c->mosq);
    if (fd < 0)
        goto failed;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        mosquitto_disconnect(c->mosq);
        goto failed;
    }
    c->fd = fd;
    c->ep_events = ev.events;
    c->ms = M_CONNECTING;
    c->m_started_ms = f->now_ms;
    f->n_connecting++;
    free(will);
    return;
failed:
    free(will);
    f->res->mqtt_connect_failures++;
    mqtt_schedule_retry(f, c);
}

static void mqtt_tick(struct fleet *f, struct ctl *c)
{
    switch (c->ms) {
    case M_OFF:
    case M_WAIT:
        if (ctl_registered(c) && f->phase < PH_SHUTDOWN && f->now_ms >= c->m_retry_ms &&
            f->n_connecting < f->o->mqtt_connecting_max)
            mqtt_connect(f, c);
        break;
    case M_CONNECTING:
        if (f->now_ms - c->m_started_ms > FLEET_MQTT_CONNECT_TIMEOUT_MS) {
            /* A broker that accepts TCP but never answers CONNECT: drop and retry. */
            f->res->mqtt_connect_failures++;
            mosquitto_disconnect(c->mosq);
            if (c->ms == M_CONNECTING) {
                /* No callback came: the library keeps the socket until the next call. */
                f->n_connecting--;
                if (c->fd >= 0)
                    epoll_ctl(f->epfd, EPOLL_CTL_DEL, c->fd, NULL);
                c->fd = -1;
                c->ep_events = 0;
                mqtt_schedule_retry(f, c);
            }
        }
        break;
    case M_UP:
        if (f->now_ms >= c->misc_due_ms) {
            c->misc_due_ms = f->now_ms + 1000;
            mosquitto_loop_misc(c->mosq); /* keepalive PINGREQ */
            if (c->fd >= 0 && mosquitto_socket(c->mosq) < 0) {
                /* Closed inside the library without a callback. */
                on_mqtt_disconnect(c->mosq, c, -1);
                break;
            }
            ctl_flush(c);
        }
        break;
    }
}

static void ctl_on_event(struct ctl *c, uint32_t events)
{
    if (c->fd < 0)
        return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        mosquitto_loop_read(c->mosq, 16); /* may call on_mqtt_disconnect: fd becomes -1 */
    if (c->fd >= 0 && ((events & EPOLLOUT) || mosquitto_want_write(c->mosq)))
        mosquitto_loop_write(c->mosq, 16);
    ctl_interest(c);
}

/* --- HTTP requests of a controller ------------------------------------------------------- */

static char *register_body(const struct ctl *c)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "name", c->name, "address", "127.0.0.1",
                          "uuid", c->uuid, "version", ROUNDHOUSE_VERSION, "platform",
                          "roundhouse-fleet", "issue_secret", 1);
    if (j != NULL && c->sync.applied_version >= 0)
        json_object_set_new(j, "applied_config_version", json_integer(c->sync.applied_version));
    return json_text(j);
}

static char *train_body(const struct fleet *f, const struct ctl *c)
{
    char id[SIMID_TRAIN_MAX + 1], name[96];
    if (simid_train_id(f->o->seed, c->idx, c->trains_registered, id, sizeof id) < 0)
        return NULL;
    snprintf(name, sizeof name, "Fleet train %ld/%d", c->idx, c->trains_registered);
    return json_text(json_pack("{s:s, s:s, s:{s:s, s:{}}}", "train_id", id, "name", name, "plugin",
                               "name", "simulator", "config"));
}

static char *heartbeat_body(const struct ctl *c)
{
    json_t *trains = json_array();
    for (int i = 0; trains != NULL && i < c->ntrains; i++)
        json_array_append_new(trains, json_pack("{s:s, s:i, s:s}", "train_id", c->trains[i].id,
                                                "speed", c->trains[i].speed, "direction",
                                                c->trains[i].reverse ? "BACKWARD" : "FORWARD"));
    json_t *j = json_pack("{s:s, s:s, s:o}", "version", ROUNDHOUSE_VERSION, "platform",
                          "roundhouse-fleet", "trains", trains);
    if (j == NULL)
        return NULL;
    if (c->sync.applied_version >= 0) {
        json_object_set_new(j, "config_version", json_integer(c->sync.applied_version));
        if (c->checksum[0] != '\0')
            json_object_set_new(j, "config_hash", json_string(c->checksum));
    }
    if (c->epoch > 0)
        json_object_set_new(j, "session_epoch", json_integer(c->epoch));
    return json_text(j);
}

/* The machine's action a, started as the edge's edge_central.c starts it (request_start). */
static int ctl_start(struct fleet *f, struct ctl *c, enum sync_action a)
{
    char path[UUIDSTR_LEN + 64];
    char *body = NULL;
    const char *method = "POST", *inm = NULL;
    int tag, rc;
    switch (a) {
    case SYNC_ACT_REGISTER:
        snprintf(path, sizeof path, "/api/controllers/register");
        body = register_body(c);
        tag = FREQ_REGISTER;
        break;
    case SYNC_ACT_REGISTER_TRAIN:
        snprintf(path, sizeof path, "/api/controllers/%s/trains", c->uuid);
        body = train_body(f, c);
        tag = FREQ_TRAIN;
        break;
    case SYNC_ACT_FETCH_CONFIG:
        snprintf(path, sizeof path, "/api/controllers/%s/config", c->uuid);
        method = "GET";
        inm = c->etag[0] != '\0' ? c->etag : NULL;
        tag = FREQ_CONFIG;
        break;
    case SYNC_ACT_HEARTBEAT:
        snprintf(path, sizeof path, "/api/controllers/%s/heartbeat", c->uuid);
        body = heartbeat_body(c);
        tag = FREQ_HEARTBEAT;
        break;
    default:
        return -EINVAL;
    }
    if (strcmp(method, "POST") == 0 && body == NULL)
        return -ENOMEM;
    /* Every call made as the controller carries its secret, as the edge's do (the train
     * registration too: the edge sends it there, the central does not require it). An
     * answer may be as long as the edge's own client takes. */
    rc = httpq_start(f->http, method, path, body, inm, c->secret_header, API_BODY_MAX, c, tag);
    free(body);
    if (rc == 0)
        c->busy = true;
    return rc;
}

/* The queued action, while the run still makes requests. One that cannot even start is
 * tried again a second later through a tick, as the edge does. */
static void ctl_start_pending(struct fleet *f, struct ctl *c)
{
    enum sync_action a = c->pending;
    c->pending = SYNC_ACT_NONE;
    if (a == SYNC_ACT_NONE || f->phase >= PH_SHUTDOWN)
        return;
    if (ctl_start(f, c, a) < 0) {
        c->sync.inflight = SYNC_ACT_NONE;
        c->wake_ms = earliest(c->wake_ms, f->now_ms + 1000);
    }
}

static json_t *answer_json(const struct httpq_result *r)
{
    if (r->body_len == 0 || r->body_truncated)
        return NULL;
    return json_loadb(r->body, r->body_len, 0, NULL);
}

static void registered(struct fleet *f, struct ctl *c, const struct answer *a)
{
    const char *status = json_string_value(json_object_get(a->body, "status"));
    for (int i = 0; status != NULL && i < 4; i++)
        if (strcmp(status, reg_status_names[i]) == 0)
            f->res->reg_status[i]++;
    /* Every registration announces the trains again (sync.c). */
    c->trains_registered = 0;
    int64_t old_epoch = c->epoch;
    if (a->session_epoch >= 0)
        c->epoch = a->session_epoch;
    if (!c->counted_registered) {
        c->counted_registered = true;
        f->n_registered++;
        if (f->n_registered == f->n)
            f->res->registered_s = (double)(f->now_ms - f->start_ms) / 1000.0;
    }
    /* A new session while connected: announce it (the will follows at the next connect). */
    if (c->ms == M_UP && c->epoch != old_epoch) {
        char topic[UUIDSTR_LEN + 48];
        char *p = presence_payload(c, "online");
        proto_topic(topic, sizeof topic, PROTO_TOPIC_PRESENCE, c->uuid);
        if (p != NULL)
            mosquitto_publish(c->mosq, NULL, topic, (int)strlen(p), p, 1, true);
        free(p);
    }
}

static void register_done(struct fleet *f, struct ctl *c, struct answer *a)
{
    if (a->ev.kind == SYNC_EV_REGISTERED && strcmp(a->uuid, c->uuid) != 0) {
        /* Not adopted (see the top): tried again like any failed registration. */
        log_event(RH_LOG_WARNING, "register_unexpected_answer", "{s:s, s:s}", "uuid", c->uuid,
                  "got", a->uuid);
        a->ev.kind = SYNC_EV_REGISTER_FAILED;
    }
    if (a->ev.kind == SYNC_EV_REGISTERED)
        registered(f, c, a);
    ctl_feed(f, c, &a->ev);
}

static void train_done(struct fleet *f, struct ctl *c, const struct answer *a)
{
    /* Answered for good (registered; 409: moved to another controller by an earlier run;
     * refused): on to the next train, the machine still counting its registration in
     * flight. */
    if (a->ev.kind == SYNC_EV_TRAIN_DONE && ++c->trains_registered < ctl_trains_wanted(f, c)) {
        c->pending = SYNC_ACT_REGISTER_TRAIN;
        enqueue(f, c);
        return;
    }
    ctl_feed(f, c, &a->ev);
}

/* Replaces the train set by the config's: removed trains stop (final status) and are
 * unsubscribed, new ones subscribed; unchanged ones keep their state. */
static void apply_trains(struct ctl *c, const json_t *list)
{
    struct tsim next[FLEET_MAX_TRAINS] = {0};
    int n = 0;
    size_t i;
    const json_t *t;
    json_array_foreach(list, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "train_id"));
        if (id == NULL || strlen(id) > SIMID_TRAIN_MAX)
            continue;
        if (n == FLEET_MAX_TRAINS)
            break;
        struct tsim *old = ctl_train(c, id);
        if (old != NULL) {
            next[n] = *old;
        } else {
            memset(&next[n], 0, sizeof next[n]);
            snprintf(next[n].id, sizeof next[n].id, "%s", id);
            train_subscribe(c, id, true);
        }
        n++;
    }
    for (int k = 0; k < c->ntrains; k++) {
        bool kept = false;
        for (int m = 0; m < n && !kept; m++)
            kept = strcmp(next[m].id, c->trains[k].id) == 0;
        if (!kept) {
            c->trains[k].speed = 0;
            status_publish(c, &c->trains[k], 0);
            train_subscribe(c, c->trains[k].id, false);
        }
    }
    memcpy(c->trains, next, (size_t)n * sizeof next[0]);
    c->ntrains = n;
}

/* A config that passed the edge's checks, applied at once; the event for the machine. */
static struct sync_event config_apply(struct fleet *f, struct ctl *c, const json_t *cfg,
                                      const char *etag)
{
    int64_t version = json_integer_value(json_object_get(cfg, "version"));
    const char *sum = json_string_value(json_object_get(cfg, "checksum"));
    apply_trains(c, json_object_get(cfg, "trains"));
    snprintf(c->checksum, sizeof c->checksum, "%s", sum != NULL ? sum : "");
    snprintf(c->etag, sizeof c->etag, "%s", etag);
    c->configured_once = true;
    c->hb_ok_since_apply = false;
    if (!c->counted_configured) {
        c->counted_configured = true;
        f->n_configured++;
    }
    return (struct sync_event){.kind = SYNC_EV_CONFIG_APPLIED, .version = version,
                               .retry_after_ms = -1};
}

/* A 200 to the download: the edge's verdict on the document (answer_config_document). */
static void config_downloaded(struct fleet *f, struct ctl *c, const struct httpq_result *r)
{
    struct sync_event ev;
    char reason[200] = "";
    json_t *cfg = NULL;
    enum answer_doc verdict =
        answer_config_document(r->body, r->body_len, c->uuid, c->rejected_version,
                               c->rejected_checksum, &cfg, &ev, reason, sizeof reason);
    if (verdict == ANSWER_DOC_APPLY) {
        ev = config_apply(f, c, cfg, r->etag);
    } else {
        log_event(RH_LOG_WARNING, "config_rejected", "{s:s, s:s, s:b}", "uuid", c->uuid,
                  "reason", verdict == ANSWER_DOC_REPEATED ? "refused before" : reason, "retry",
                  verdict == ANSWER_DOC_DAMAGED);
        if (verdict == ANSWER_DOC_REFUSED && ev.kind == SYNC_EV_CONFIG_REJECTED) {
            const char *sum = json_string_value(json_object_get(cfg, "checksum"));
            c->rejected_version = ev.version;
            snprintf(c->rejected_checksum, sizeof c->rejected_checksum, "%s", sum ? sum : "");
        }
    }
    json_decref(cfg);
    ctl_feed(f, c, &ev);
}

static void config_done(struct fleet *f, struct ctl *c, const struct httpq_result *r,
                        const struct answer *a)
{
    if (a->document) {
        config_downloaded(f, c, r);
        return;
    }
    if (a->ev.kind == SYNC_EV_CONFIG_UNCHANGED) {
        f->res->req[FREQ_CONFIG].not_modified++;
        c->configured_once = true;
    }
    ctl_feed(f, c, &a->ev);
}

static void move_finish(struct fleet *f, struct move *mv, bool ok)
{
    if (ok) {
        int64_t lat = mv->done_us - mv->put_us;
        stats_add(&f->res->move_latency, lat > 0 ? lat : 0);
        f->res->moves_done++;
    }
    f->ctls[mv->from].moving--;
    f->ctls[mv->to].moving--;
    mv->active = false;
}

/* A heartbeat listing a moved train completes the move to its new owner. */
static void moves_reported(struct fleet *f, struct ctl *c)
{
    int64_t t = timeutil_mono_us();
    for (int i = 0; c->moving > 0 && i < FLEET_MAX_MOVES; i++) {
        struct move *mv = &f->moves[i];
        if (!mv->active || mv->done || mv->to != c->pos || ctl_train(c, mv->train) == NULL)
            continue;
        mv->done = true;
        mv->done_us = t;
        if (mv->put_ok)
            move_finish(f, mv, true);
    }
}

static void heartbeat_done(struct fleet *f, struct ctl *c, const struct answer *a)
{
    if (a->ev.kind == SYNC_EV_HEARTBEAT_OK) {
        c->hb_ok_since_apply = true;
        moves_reported(f, c);
    }
    ctl_feed(f, c, &a->ev);
    check_ready(f, c);
}

/* A controller's request answered: read as the edge reads it (answer.c), then acted on. */
static void ctl_answered(struct fleet *f, struct ctl *c, int tag, const struct httpq_result *r)
{
    static const enum sync_action actions[] = {
        [FREQ_REGISTER] = SYNC_ACT_REGISTER,
        [FREQ_TRAIN] = SYNC_ACT_REGISTER_TRAIN,
        [FREQ_CONFIG] = SYNC_ACT_FETCH_CONFIG,
        [FREQ_HEARTBEAT] = SYNC_ACT_HEARTBEAT,
    };
    /* An answer above the limit fails like no answer, as in the edge's client. */
    struct api_response ar = {
        .status = r->body_truncated ? 0 : r->status,
        .body = r->body,
        .body_len = r->body_len,
        .retry_after_ms = r->retry_after_s >= 0 ? r->retry_after_s * 1000 : -1,
        .etag = r->etag,
    };
    struct answer a;
    c->busy = false;
    answer_read(actions[tag], &ar, &a);
    switch (tag) {
    case FREQ_REGISTER:
        register_done(f, c, &a);
        break;
    case FREQ_TRAIN:
        train_done(f, c, &a);
        break;
    case FREQ_CONFIG:
        config_done(f, c, r, &a);
        break;
    case FREQ_HEARTBEAT:
        heartbeat_done(f, c, &a);
        break;
    default:
        break;
    }
    answer_clear(&a);
    if (c->ms == M_UP)
        ctl_flush(c); /* statuses and (un)subscriptions queued by an apply */
}

/* --- admin requests: moves and the duplicate count --------------------------------------- */

static void put_done(struct fleet *f, struct move *mv, const struct httpq_result *r)
{
    if (r->status != 200) {
        log_event(RH_LOG_WARNING, "move_refused", "{s:s, s:i}", "train_id", mv->train, "status",
                  (int)r->status);
        f->res->moves_failed++;
        move_finish(f, mv, false);
        return;
    }
    mv->put_ok = true;
    mv->put_us = timeutil_mono_us();
    if (mv->done) /* the new owner reported it before we read the PUT's answer */
        move_finish(f, mv, true);
}

static int cmp_uuid(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void list_done(struct fleet *f, const struct httpq_result *r)
{
    f->list_running = false;
    f->list_done = true;
    json_t *j = r->status == 200 ? answer_json(r) : NULL;
    if (!json_is_array(j)) {
        log_event(RH_LOG_WARNING, "controller_list_failed", "{s:i, s:b}", "status", (int)r->status,
                  "truncated", r->body_truncated);
        json_decref(j);
        return;
    }
    unsigned char *seen = calloc((size_t)f->n_total, 1);
    if (seen == NULL) {
        json_decref(j);
        return;
    }
    size_t plen = strlen(f->prefix), i;
    long dup = 0, found = 0;
    json_t *row;
    json_array_foreach(j, i, row)
    {
        const char *name = json_string_value(json_object_get(row, "name"));
        const char *id = json_string_value(json_object_get(row, "id"));
        if (name == NULL || strncmp(name, f->prefix, plen) != 0)
            continue;
        const char(*hit)[UUIDSTR_LEN + 1] = id != NULL
                                                ? bsearch(id, f->sorted_uuids, (size_t)f->n_total,
                                                          sizeof f->sorted_uuids[0], cmp_uuid)
                                                : NULL;
        if (hit == NULL) {
            dup++; /* a record with our name that is not one of our identities */
            continue;
        }
        size_t k = (size_t)(hit - f->sorted_uuids);
        if (seen[k]) {
            dup++;
        } else {
            seen[k] = 1;
            found++;
        }
    }
    free(seen);
    f->res->duplicates_checked = true;
    f->res->duplicates = dup;
    f->res->missing = f->n_total - found; /* other shards may still be booting */
    json_decref(j);
}

static void on_http_done(void *ctx, void *req_ctx, int tag, const struct httpq_result *r)
{
    struct fleet *f = ctx;
    struct fleet_req_stats *st = &f->res->req[tag];
    int64_t end = timeutil_mono_us();
    f->now_ms = timeutil_mono_ms();
    if (st->first_start_us < 0 || end - r->latency_us < st->first_start_us)
        st->first_start_us = end - r->latency_us;
    st->last_end_us = end;
    stats_add(&st->latency, r->latency_us);
    if (r->status == 0)
        st->transport_errors++;
    if (r->status == 429)
        st->status_429++;
    bool ok = (r->status >= 200 && r->status < 300) || r->status == 304 ||
              (tag == FREQ_TRAIN && r->status == 409);
    if (ok)
        st->ok++;
    else
        st->errors++;
    if (tag == FREQ_HEARTBEAT && f->phase == PH_MEASURE &&
        end - r->latency_us >= f->measure_start_us) {
        stats_add(&f->res->steady_hb, r->latency_us);
        if (!ok)
            f->res->steady_hb_errors++;
    }
    if (!ok && r->status != 429)
        log_event(RH_LOG_DEBUG, "request_failed", "{s:s, s:i, s:i}", "request", req_names[tag],
                  "status", (int)r->status, "curl", r->curl_code);

    if (tag == FREQ_PUT) {
        put_done(f, req_ctx, r);
        return;
    }
    if (tag == FREQ_LIST) {
        list_done(f, r);
        return;
    }
    ctl_answered(f, req_ctx, tag, r);
}

static void dispatch(struct fleet *f)
{
    if (f->list_wanted && !f->list_running && httpq_has_room(f->http)) {
        if (httpq_start(f->http, "GET", "/api/controllers", NULL, NULL, NULL, FLEET_LIST_MAX, NULL,
                        FREQ_LIST) == 0) {
            f->list_wanted = false;
            f->list_running = true;
        }
    }
    for (long budget = f->qlen; budget > 0 && f->qlen > 0 && httpq_has_room(f->http); budget--) {
        struct ctl *c = &f->ctls[f->queue[f->qhead]];
        f->qhead = (f->qhead + 1) % f->n;
        f->qlen--;
        c->queued = false;
        ctl_start_pending(f, c);
    }
}

/* --- reassign ----------------------------------------------------------------------------- */

static void move_start(struct fleet *f)
{
    struct move *mv = NULL;
    for (int i = 0; i < f->o->reassign_inflight && i < FLEET_MAX_MOVES; i++)
        if (!f->moves[i].active) {
            mv = &f->moves[i];
            break;
        }
    if (mv == NULL || !httpq_has_room(f->http))
        return;
    /* Random picks, bounded: the fleet may be too small to find a free pair right now. */
    for (int tries = 0; tries < 64; tries++) {
        struct ctl *a = &f->ctls[fleet_rand(f) % (uint64_t)f->n];
        struct ctl *b = &f->ctls[fleet_rand(f) % (uint64_t)f->n];
        if (a == b || a->moving || b->moving || a->ntrains == 0 || !a->ready || !b->ready ||
            b->ntrains >= FLEET_MAX_TRAINS - 1)
            continue;
        const struct tsim *t = &a->trains[fleet_rand(f) % (uint64_t)a->ntrains];
        char path[SIMID_TRAIN_MAX + 32];
        snprintf(path, sizeof path, "/api/trains/%s", t->id);
        char *body = json_text(json_pack("{s:s}", "controller_id", b->uuid));
        if (body == NULL)
            return;
        memset(mv, 0, sizeof *mv);
        snprintf(mv->train, sizeof mv->train, "%s", t->id);
        int rc = httpq_start(f->http, "PUT", path, body, NULL, NULL, FLEET_BODY_MAX, mv, FREQ_PUT);
        free(body);
        if (rc < 0)
            return;
        mv->active = true;
        mv->from = a->pos;
        mv->to = b->pos;
        mv->start_ms = f->now_ms;
        a->moving++;
        b->moving++;
        f->res->moves_started++;
        return;
    }
}

static void moves_tick(struct fleet *f)
{
    for (int i = 0; i < FLEET_MAX_MOVES; i++) {
        struct move *mv = &f->moves[i];
        if (mv->active && f->now_ms - mv->start_ms > FLEET_MOVE_TIMEOUT_MS) {
            log_event(RH_LOG_WARNING, "move_timeout", "{s:s}", "train_id", mv->train);
            f->res->moves_timeout++;
            move_finish(f, mv, false);
        }
    }
    if (f->phase == PH_MEASURE && f->now_ms < f->measure_end_ms)
        for (int i = 0; i < f->o->reassign_inflight; i++)
            move_start(f);
}

static bool moves_active(const struct fleet *f)
{
    for (int i = 0; i < FLEET_MAX_MOVES; i++)
        if (f->moves[i].active)
            return true;
    return false;
}

/* --- phases -------------------------------------------------------------------------------- */

static void central_sample(struct fleet *f, bool start)
{
    struct procstat_sample s;
    if (f->central_pid <= 0 || procstat_read(f->central_pid, &s) < 0)
        return;
    if (start) {
        f->cs0 = s;
        f->cs0_ms = f->now_ms;
        f->cs0_ok = true;
        return;
    }
    f->res->central_rss_kib = s.rss_kib;
    f->res->central_hwm_kib = s.hwm_kib;
    f->res->central_sampled = true;
    long tck = sysconf(_SC_CLK_TCK);
    double wall = (double)(f->now_ms - f->cs0_ms) / 1000.0;
    if (f->cs0_ok && tck > 0 && wall > 0)
        f->res->central_cpu_pct =
            100.0 * (double)(s.cpu_ticks - f->cs0.cpu_ticks) / (double)tck / wall;
}

static void enter_measure(struct fleet *f)
{
    f->phase = PH_MEASURE;
    f->measure_start_ms = f->now_ms;
    f->measure_start_us = timeutil_mono_us();
    f->measure_end_ms = f->now_ms + (int64_t)(f->o->duration_s * 1000.0);
    central_sample(f, true);
    if (f->o->scenario == FLEET_STEADY) {
        /* Spread the heartbeats over one period, as independently booted edges are: the
         * shell moves each machine's next heartbeat, which the edge's never does. */
        for (long i = 0; i < f->n; i++) {
            struct ctl *c = &f->ctls[i];
            int64_t iv = sync_heartbeat_period_ms(&c->sync);
            c->sync.next_heartbeat_ms =
                f->now_ms + (iv > 0 ? (int64_t)(fleet_rand(f) % (uint64_t)iv) : 0);
            c->wake_ms = earliest(c->wake_ms, c->sync.next_heartbeat_ms);
        }
    }
}

static void enter_drain(struct fleet *f)
{
    /* The duplicate count is a large read: only after the measured phase. */
    f->list_wanted = true;
    f->phase = PH_DRAIN;
    f->phase_deadline_ms = f->now_ms + FLEET_DRAIN_MS;
}

static void enter_shutdown(struct fleet *f)
{
    char topic[UUIDSTR_LEN + 48];
    f->phase = PH_SHUTDOWN;
    f->phase_deadline_ms = f->now_ms + FLEET_SHUTDOWN_MS;
    /* As the edge at SIGTERM: an offline presence for this session, QoS 1. */
    for (long i = 0; i < f->n; i++) {
        struct ctl *c = &f->ctls[i];
        if (c->ms != M_UP)
            continue;
        char *p = presence_payload(c, "offline");
        proto_topic(topic, sizeof topic, PROTO_TOPIC_PRESENCE, c->uuid);
        if (p != NULL && mosquitto_publish(c->mosq, &c->offline_mid, topic, (int)strlen(p), p, 1,
                                           true) == MOSQ_ERR_SUCCESS)
            c->offline_sent = true;
        else
            f->n_offline_acked++; /* nothing to wait for */
        free(p);
        ctl_flush(c);
    }
}

static long count_up(const struct fleet *f)
{
    long n = 0;
    for (long i = 0; i < f->n; i++)
        n += f->ctls[i].ms == M_UP;
    return n;
}

static void phase_tick(struct fleet *f)
{
    if (*f->stop && f->phase < PH_SHUTDOWN) {
        f->res->interrupted = true;
        if (f->phase == PH_MEASURE)
            central_sample(f, false);
        enter_shutdown(f);
        return;
    }
    switch (f->phase) {
    case PH_BOOT:
        if (f->now_ms - f->last_progress_ms >= 1000) {
            f->last_progress_ms = f->now_ms;
            log_event(RH_LOG_INFO, "boot_progress", "{s:I, s:I, s:I, s:I, s:I}", "registered",
                      (json_int_t)f->n_registered, "configured", (json_int_t)f->n_configured,
                      "mqtt_up", (json_int_t)f->n_up, "ready", (json_int_t)f->n_ready, "queued",
                      (json_int_t)f->qlen);
        }
        if (f->n_ready == f->n ||
            f->now_ms - f->start_ms > (int64_t)(f->o->boot_timeout_s * 1000)) {
            f->res->boot_complete = f->n_ready == f->n;
            f->boot_done_ms = f->now_ms;
            f->res->boot_s = (double)(f->now_ms - f->start_ms) / 1000.0;
            if (f->o->scenario == FLEET_BOOT_STORM || !f->res->boot_complete) {
                central_sample(f, false);
                enter_drain(f);
            } else {
                enter_measure(f);
            }
        }
        break;
    case PH_MEASURE:
        if (f->now_ms >= f->measure_end_ms) {
            f->res->measure_s = (double)(f->now_ms - f->measure_start_ms) / 1000.0;
            central_sample(f, false);
            enter_drain(f);
        }
        break;
    case PH_DRAIN:
        /* Wait for the duplicate count and for moves still on their way. */
        if ((!f->list_wanted && !f->list_running && !moves_active(f)) ||
            f->now_ms >= f->phase_deadline_ms + (f->list_running ? FLEET_LIST_TIMEOUT_MS : 0))
            enter_shutdown(f);
        break;
    case PH_SHUTDOWN:
        if (f->n_offline_acked >= count_up(f) || f->now_ms >= f->phase_deadline_ms)
            f->phase = PH_DONE;
        break;
    case PH_DONE:
        break;
    }
}

static void tick(struct fleet *f)
{
    for (long i = 0; i < f->n; i++) {
        struct ctl *c = &f->ctls[i];
        mqtt_tick(f, c);
        if (c->wake_ms >= 0 && f->now_ms >= c->wake_ms && f->phase < PH_SHUTDOWN)
            ctl_feed_kind(f, c, SYNC_EV_TICK, -1);
    }
    if (f->o->scenario == FLEET_REASSIGN)
        moves_tick(f);
    phase_tick(f);
}

/* --- setup and the loop ------------------------------------------------------------------ */

/* Descriptors per simulated controller: its MQTT socket, and the socketpair that
 * libmosquitto opens in every client for waking a threaded loop (unused here, but open). */
#define FLEET_FDS_PER_CONTROLLER 3

long fleet_shard_size(const struct fleet_options *o)
{
    return (o->controllers - o->shard + o->shards - 1) / o->shards;
}

long fleet_fds_needed(const struct fleet_options *o)
{
    return fleet_shard_size(o) * FLEET_FDS_PER_CONTROLLER + o->http_connections + 64;
}

static int raise_nofile(const struct fleet_options *o, struct fleet_result *res)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)fleet_fds_needed(o);
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    /* Above the hard limit only with CAP_SYS_RESOURCE (root); otherwise up to it. */
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        struct rlimit more = {.rlim_cur = need, .rlim_max = need};
        if (setrlimit(RLIMIT_NOFILE, &more) == 0)
            rl = more;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    res->nofile_limit = rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
    if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur)
        return -EMFILE;
    return 0;
}

static void find_central(struct fleet *f)
{
    if (f->o->central_pid > 0) {
        f->central_pid = (pid_t)f->o->central_pid;
        f->res->central_pid = f->o->central_pid;
        return;
    }
    CURLU *u = curl_url();
    char *port = NULL;
    long p = 0;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, f->o->central, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK && port != NULL &&
        parse_long(port, 1, 65535, &p) < 0)
        p = 0;
    curl_free(port);
    curl_url_cleanup(u);
    pid_t pid = 0;
    if (p > 0 && p < 65536 && procstat_find_listener((int)p, &pid) == 0) {
        f->central_pid = pid;
        f->res->central_pid = pid;
    }
}

static int fleet_setup(struct fleet *f)
{
    const struct fleet_options *o = f->o;
    f->n_total = o->controllers;
    f->n = fleet_shard_size(o);
    f->ctls = calloc((size_t)f->n, sizeof *f->ctls);
    f->queue = calloc((size_t)f->n, sizeof *f->queue);
    f->sorted_uuids = calloc((size_t)f->n_total, sizeof *f->sorted_uuids);
    if (f->ctls == NULL || f->queue == NULL || f->sorted_uuids == NULL)
        return -ENOMEM;
    if (simid_name_prefix(o->seed, f->prefix, sizeof f->prefix) < 0)
        return -EINVAL;
    for (long i = 0; i < f->n_total; i++)
        simid_uuid(o->seed, i, f->sorted_uuids[i]);
    for (long j = 0; j < f->n; j++) {
        struct ctl *c = &f->ctls[j];
        c->evsrc = CTL_EVSRC;
        c->idx = o->shard + j * o->shards;
        c->pos = j;
        c->f = f;
        c->fd = -1;
        c->wake_ms = -1;
        c->rejected_version = -1;
        memcpy(c->uuid, f->sorted_uuids[c->idx], sizeof c->uuid);
        /* Like its UUID, a simulated controller's secret derives from the seed and its index,
         * so that a second run against the same database presents the secret of the first:
         * the central adopts it with the UUID (rule 2, as after a database reset), then
         * requires it on every heartbeat and config download, as for a real edge. */
        char seedtext[96], sec[SHA256_HEX_LEN + 1];
        snprintf(seedtext, sizeof seedtext, "roundhouse-fleet-secret/%llu/%ld",
                 (unsigned long long)o->seed, c->idx);
        sha256_hex(seedtext, strlen(seedtext), sec);
        snprintf(c->secret_header, sizeof c->secret_header, "X-Controller-Secret: %s", sec);
        if (simid_name(o->seed, c->idx, c->name, sizeof c->name) < 0)
            return -EINVAL;
        c->trains = calloc(FLEET_MAX_TRAINS, sizeof *c->trains);
        if (c->trains == NULL)
            return -ENOMEM;
    }
    qsort(f->sorted_uuids, (size_t)f->n_total, sizeof f->sorted_uuids[0], cmp_uuid);
    f->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (f->epfd < 0)
        return -errno;
    return httpq_new(f->epfd, o->central, o->http_connections, on_http_done, f, &f->http);
}

static void fleet_teardown(struct fleet *f)
{
    for (long i = 0; f->ctls != NULL && i < f->n; i++) {
        struct ctl *c = &f->ctls[i];
        if (c->mosq != NULL) {
            if (c->ms == M_UP || c->ms == M_CONNECTING) {
                mosquitto_disconnect(c->mosq);
                if (mosquitto_socket(c->mosq) >= 0)
                    mosquitto_loop_write(c->mosq, 1);
            }
            mosquitto_destroy(c->mosq);
        }
        free(c->trains);
    }
    httpq_free(f->http);
    if (f->epfd >= 0)
        close(f->epfd);
    free(f->ctls);
    free(f->queue);
    free(f->sorted_uuids);
}

int fleet_run(const struct fleet_options *o, volatile sig_atomic_t *stop, struct fleet_result *res)
{
    struct fleet f = {.o = o, .res = res, .stop = stop, .epfd = -1};
    struct epoll_event evs[FLEET_EPOLL_BATCH];
    int rc = raise_nofile(o, res);
    if (rc < 0)
        return rc;
    f.rng = o->seed * 0x9e3779b97f4a7c15ULL + 1;
    rc = fleet_setup(&f);
    if (rc < 0)
        goto out;
    find_central(&f);
    f.now_ms = timeutil_mono_ms();
    f.start_ms = f.now_ms;
    f.last_progress_ms = f.now_ms;
    central_sample(&f, true);
    for (long i = 0; i < f.n; i++)
        ctl_boot(&f, &f.ctls[i]);
    int64_t next_tick = f.now_ms;
    /* Bounded: every phase has a deadline (boot timeout, duration, drain, shutdown). */
    while (f.phase != PH_DONE) {
        f.now_ms = timeutil_mono_ms();
        if (f.now_ms >= next_tick) {
            tick(&f);
            next_tick = f.now_ms + FLEET_TICK_MS;
        }
        httpq_on_timeout(f.http, f.now_ms);
        dispatch(&f);
        int64_t wake = next_tick;
        int64_t hd = httpq_deadline_ms(f.http);
        if (hd >= 0 && hd < wake)
            wake = hd;
        int timeout = wake > f.now_ms ? (int)(wake - f.now_ms) : 0;
        int n = epoll_wait(f.epfd, evs, FLEET_EPOLL_BATCH, timeout);
        if (n < 0 && errno != EINTR) {
            rc = -errno;
            goto out;
        }
        f.now_ms = timeutil_mono_ms();
        for (int i = 0; i < n; i++) {
            int kind = *(int *)evs[i].data.ptr;
            if (kind == HTTPQ_EVSRC)
                httpq_on_event(f.http, evs[i].data.ptr, evs[i].events);
            else if (kind == CTL_EVSRC)
                ctl_on_event(evs[i].data.ptr, evs[i].events);
        }
        httpq_collect(f.http);
        int herr = httpq_take_error(f.http);
        if (herr < 0)
            log_event(RH_LOG_ERROR, "http_socket_registration_failed", "{s:s, s:i}", "error",
                      strerror(-herr), "inflight", httpq_inflight(f.http));
    }
    res->registered = f.n_registered;
    res->configured = f.n_configured;
    res->ready = f.n_ready;
    rc = 0;
out:
    fleet_teardown(&f);
    return rc;
}
