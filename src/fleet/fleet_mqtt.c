/* A simulated controller's MQTT side, as roundhouse-edge's (edge_mqtt.c, docs/mqtt.md): one
 * libmosquitto client per controller, connected once it is registered (at most
 * --mqtt-connecting at a time) and driven from the fleet's epoll loop; the retained
 * presence birth and will of its session, subscriptions to its trains' commands, the layout
 * emergency stop and its config notifications; a status answering each command at once (a
 * simulated motor has no ramp). Reconnects with full jitter, 0.5 s to 30 s. */
#include <jansson.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "backoff.h"
#include "fleet_internal.h"
#include "protocol.h"
#include "timeutil.h"

#define FLEET_MQTT_CONNECT_TIMEOUT_MS 10000

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

void fleet_mqtt_flush(struct ctl *c)
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
    return fleet_json_text(json_pack("{s:s, s:I, s:s, s:s}", "state", state, "session_epoch",
                                     (json_int_t)c->epoch, "version", ROUNDHOUSE_VERSION,
                                     "timestamp", ts));
}

int fleet_mqtt_presence(struct ctl *c, const char *state, int *mid)
{
    char topic[UUIDSTR_LEN + 48];
    char *p = presence_payload(c, state);
    if (p == NULL)
        return MOSQ_ERR_NOMEM;
    proto_topic(topic, sizeof topic, PROTO_TOPIC_PRESENCE, c->uuid);
    int rc = mosquitto_publish(c->mosq, mid, topic, (int)strlen(p), p, 1, true);
    free(p);
    return rc;
}

void fleet_mqtt_status(struct ctl *c, const struct tsim *t, int qos)
{
    char topic[SIMID_TRAIN_MAX + 32], ts[32];
    if (c->ms != M_UP)
        return;
    if (timeutil_format_ms(timeutil_now_ms(), ts, sizeof ts) < 0)
        ts[0] = '\0';
    const char *state = t->estopped ? "estopped" : t->speed > 0 ? "running" : "stopped";
    char *p = fleet_json_text(
        json_pack("{s:s, s:i, s:s, s:i, s:s, s:s, s:s}", "train_id", t->id, "speed", t->speed,
                  "direction", t->reverse ? "BACKWARD" : "FORWARD", "target_speed", t->speed,
                  "state", state, "controller_id", c->uuid, "timestamp", ts));
    if (p == NULL)
        return;
    proto_topic(topic, sizeof topic, PROTO_TOPIC_STATUS, t->id);
    if (mosquitto_publish(c->mosq, NULL, topic, (int)strlen(p), p, qos, true) == MOSQ_ERR_SUCCESS)
        c->f->res->statuses++;
    free(p);
}

void fleet_mqtt_subscribe(struct ctl *c, const char *id, bool on)
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
        fleet_mqtt_subscribe(c, c->trains[i].id, true);
    fleet_mqtt_presence(c, "online", NULL);
    /* The retained status may be from before: refresh it, as the edge does. */
    for (int i = 0; i < c->ntrains; i++)
        fleet_mqtt_status(c, &c->trains[i], 0);
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
    fleet_ctl_check_ready(c->f, c);
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
    fleet_mqtt_status(c, t, 0);
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
            fleet_mqtt_status(c, &c->trains[i], 0);
        }
        return;
    }
    if (kind == PROTO_TOPIC_COMMANDS) {
        struct tsim *t = fleet_ctl_train(c, id);
        if (t != NULL)
            handle_command(c, t, msg->payload, len);
        return;
    }
    if (kind == PROTO_TOPIC_CONFIG_UPDATE && len > 0 && len <= 4096) {
        json_t *j = json_loadb(msg->payload, len, 0, NULL);
        json_t *v = json_object_get(j, "version");
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            fleet_ctl_notified(f, c, json_integer_value(v));
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

void fleet_mqtt_tick(struct fleet *f, struct ctl *c)
{
    switch (c->ms) {
    case M_OFF:
    case M_WAIT:
        if (fleet_ctl_registered(c) && f->phase < PH_SHUTDOWN && f->now_ms >= c->m_retry_ms &&
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
            fleet_mqtt_flush(c);
        }
        break;
    }
}

void fleet_mqtt_event(struct ctl *c, uint32_t events)
{
    if (c->fd < 0)
        return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        mosquitto_loop_read(c->mosq, 16); /* may call on_mqtt_disconnect: fd becomes -1 */
    if (c->fd >= 0 && ((events & EPOLLOUT) || mosquitto_want_write(c->mosq)))
        mosquitto_loop_write(c->mosq, 16);
    ctl_interest(c);
}

void fleet_mqtt_goodbye(struct fleet *f, struct ctl *c)
{
    if (c->ms != M_UP)
        return;
    if (fleet_mqtt_presence(c, "offline", &c->offline_mid) == MOSQ_ERR_SUCCESS)
        c->offline_sent = true;
    else
        f->n_offline_acked++; /* nothing to wait for */
    fleet_mqtt_flush(c);
}

void fleet_mqtt_close(struct ctl *c)
{
    if (c->mosq == NULL)
        return;
    if (c->ms == M_UP || c->ms == M_CONNECTING) {
        mosquitto_disconnect(c->mosq);
        if (mosquitto_socket(c->mosq) >= 0)
            mosquitto_loop_write(c->mosq, 1);
    }
    mosquitto_destroy(c->mosq);
    c->mosq = NULL;
}
