#define _GNU_SOURCE /* accept4 */
#include "withrottle.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "central.h"
#include "command.h"
#include "layout.h"
#include "log.h"
#include "protocol.h"
#include "store.h"
#include "strbuf.h"
#include "timeutil.h"
#include "withrottle_proto.h"

/* Limits (docs/throttles.md). */
#define MAX_CLIENTS 64
#define MAX_PER_IP 8
#define MAX_HOLDINGS 16 /* trains held by one connection, over all its throttles */
#define MAX_OUT (4 * 1024 * 1024)
#define MAX_BAD_LINES 100
#define LINES_PER_S 100 /* a slider sends a few dozen a second */
#define LINES_BURST 200
#define MAX_STATUS_QUEUE 4096
/* After a throttle reverses a train, the edge reports the old direction until the train has
 * ramped down to 0: not pushed back to the throttles meanwhile. */
#define DIRECTION_HOLD_MS 10000

struct holding {
    char throttle;
    char key_type;
    int address;
    char train_id[PROTO_TRAIN_ID_MAX + 1];
    int speed;   /* 0-126, what the throttles were last told */
    int forward; /* 1 forward, 0 reverse */
    int64_t dir_hold_until_ms;
};

struct client {
    int fd;
    char ip[INET6_ADDRSTRLEN];
    int port;
    char name[WITHROTTLE_TEXT_MAX + 1];
    struct withrottle_linebuf in;
    char *out;
    size_t outlen, outcap;
    bool dead; /* close after this round */
    const char *dead_reason;
    bool heartbeat;
    bool heartbeat_tripped;
    int64_t last_rx_ms;
    double tokens;
    int64_t tokens_ms;
    unsigned bad_lines;
    struct holding h[MAX_HOLDINGS];
    size_t nh;
};

struct status_update {
    char train_id[PROTO_TRAIN_ID_MAX + 1];
    int speed;
    int forward; /* -1 unknown */
};

struct withrottle {
    struct central *c;
    struct withrottle_config cfg;
    char host[64];
    int listen_fd;
    int wake_fd;
    int port;
    pthread_t thread;
    bool thread_started;
    bool power_dirty; /* the layout's state changed: tell every throttle (under lock) */
    struct client *clients[MAX_CLIENTS];
    pthread_mutex_t lock; /* stopping, queue */
    bool stopping;
    struct status_update *queue, *spare; /* filled by the MQTT thread; swapped when drained */
    size_t nqueue;
    unsigned long queue_dropped;
};

/* ---- output ---- */

static void kill_client(struct client *cl, const char *reason)
{
    if (!cl->dead) {
        cl->dead = true;
        cl->dead_reason = reason;
    }
}

/* Queues data and a newline for the client; past MAX_OUT (a client that does not read) or
 * out of memory, the client is closed instead. */
static void out_append(struct client *cl, const char *data, size_t n)
{
    if (cl->dead)
        return;
    size_t need = cl->outlen + n + 1;
    if (need > MAX_OUT) {
        kill_client(cl, "output_overflow");
        return;
    }
    if (strbuf_append(&cl->out, &cl->outlen, &cl->outcap, data, n) < 0 ||
        strbuf_append(&cl->out, &cl->outlen, &cl->outcap, "\n", 1) < 0)
        kill_client(cl, "out_of_memory");
}

static void send_line(struct client *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void send_line(struct client *cl, const char *fmt, ...)
{
    if (cl->dead)
        return;
    char line[WITHROTTLE_LINE_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line - 1)
        return;
    out_append(cl, line, (size_t)n);
}

/* A long line (the roster) without the per-line size limit of send_line. */
static void send_text(struct client *cl, const char *text)
{
    out_append(cl, text, strlen(text));
}

static void send_train(struct client *cl, const struct holding *h, char op, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void send_train(struct client *cl, const struct holding *h, char op, const char *fmt, ...)
{
    char payload[WITHROTTLE_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(payload, sizeof payload, fmt, ap);
    va_end(ap);
    char line[WITHROTTLE_LINE_MAX + 32];
    if (withrottle_format_train(line, sizeof line, h->throttle, op, h->key_type, h->address,
                                payload) == 0)
        send_line(cl, "%s", line);
}

static void flush_client(struct client *cl)
{
    while (cl->outlen > 0 && !cl->dead) {
        ssize_t n = send(cl->fd, cl->out, cl->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) {
            kill_client(cl, "write_failed");
            return;
        }
        memmove(cl->out, cl->out + n, cl->outlen - (size_t)n);
        cl->outlen -= (size_t)n;
    }
}

/* ---- commands ---- */

/* Through the command path REST uses (command.c): the same rules, the same topic. 0 when the
 * broker has it; otherwise the throttle (when there is one) is told why not. */
static int publish(struct withrottle *w, struct client *cl, const char *tid, const char *action,
                   int speed, const char *direction)
{
    struct command cmd = {.action = action, .speed = speed, .direction = direction};
    struct command_target t;
    json_t *payload = NULL;
    int store_rc;
    enum command_result r =
        command_send(w->c, tid, &cmd, timeutil_now_ms() / 1000, &t, &payload, &store_rc);
    command_target_clear(&t);
    if (r == COMMAND_SENT) {
        log_event(RH_LOG_DEBUG, "command_relayed", "{s:s, s:O, s:s, s:s?}", "train_id", tid,
                  "command", payload, "source", "withrottle", "client", cl ? cl->ip : NULL);
        json_decref(payload);
        return 0;
    }
    static const char *const why[] = {
        [COMMAND_LAYOUT_STOPPED] = "Track power is off: turn it on to drive",
        [COMMAND_NO_TRAIN] = "The train no longer exists",
        [COMMAND_DISABLED] = "The train's controller is disabled: enable it to drive the train",
        [COMMAND_NO_BROKER] = "The MQTT broker is not reachable: the command was not sent",
        [COMMAND_FAILED] = "The command could not be sent",
    };
    log_event(RH_LOG_WARNING, "withrottle_command_failed", "{s:s, s:s, s:s}", "train_id", tid,
              "action", action, "error", why[r]);
    if (cl != NULL)
        send_line(cl, "HM%s", why[r]);
    return r == COMMAND_FAILED && store_rc < 0 ? store_rc : -EIO;
}

/* Calls fn for every holding of train tid, in every connection. */
static void each_holding(struct withrottle *w, const char *tid,
                         void (*fn)(struct client *, struct holding *, void *), void *arg)
{
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        struct client *cl = w->clients[i];
        if (cl == NULL)
            continue;
        for (size_t j = 0; j < cl->nh; j++)
            if (strcmp(cl->h[j].train_id, tid) == 0)
                fn(cl, &cl->h[j], arg);
    }
}

struct push {
    const struct holding *skip; /* the throttle that gave the command sets its own display */
    int speed;                  /* -1: unchanged */
    int forward;                /* -1: unchanged */
    int64_t hold_until_ms;
    bool force;
};

static void push_one(struct client *cl, struct holding *h, void *arg)
{
    struct push *p = arg;
    if (p->hold_until_ms > 0)
        h->dir_hold_until_ms = p->hold_until_ms;
    if (p->speed >= 0 && (h->speed != p->speed || p->force)) {
        h->speed = p->speed;
        if (h != p->skip)
            send_train(cl, h, 'A', "V%d", p->speed);
    }
    if (p->forward >= 0 && (h->forward != p->forward || p->force)) {
        h->forward = p->forward;
        if (h != p->skip)
            send_train(cl, h, 'A', "R%d", p->forward);
    }
}

static void push(struct withrottle *w, const char *tid, const struct holding *skip, int speed,
                 int forward, int64_t hold_until_ms)
{
    struct push p = {skip, speed, forward, hold_until_ms, false};
    each_holding(w, tid, push_one, &p);
}

static void count_one(struct client *cl, struct holding *h, void *arg)
{
    (void)cl;
    (void)h;
    (*(size_t *)arg)++;
}

static size_t holders(struct withrottle *w, const char *tid)
{
    size_t n = 0;
    each_holding(w, tid, count_one, &n);
    return n;
}

/* Drops holding j of cl; the train is stopped when no other throttle holds it. */
static void release(struct withrottle *w, struct client *cl, size_t j, bool answer)
{
    struct holding h = cl->h[j];
    cl->h[j] = cl->h[--cl->nh];
    if (answer)
        send_train(cl, &h, '-', "%s", "");
    if (holders(w, h.train_id) == 0) {
        publish(w, NULL, h.train_id, "stop", -1, NULL);
        push(w, h.train_id, NULL, 0, -1, 0);
    }
    log_event(RH_LOG_INFO, "withrottle_released", "{s:s, s:s, s:i}", "client", cl->ip, "train_id",
              h.train_id, "address", h.address);
}

static void send_state(struct client *cl, const struct holding *h)
{
    send_train(cl, h, 'A', "V%d", h->speed);
    send_train(cl, h, 'A', "R%d", h->forward);
    send_train(cl, h, 'A', "s%d", 1);
}

static json_t *find_train(struct withrottle *w, int address, const char *roster_name)
{
    struct store *st = w->c->store;
    json_t *train = NULL, *list = NULL;
    if (store_begin(st, false) < 0)
        return NULL;
    if (store_train_find_by_address(st, address, &train) < 0 && roster_name != NULL &&
        store_train_list(st, NULL, &list) == 0) {
        size_t i;
        json_t *t;
        json_array_foreach(list, i, t)
        {
            char clean[WITHROTTLE_TEXT_MAX + 1];
            withrottle_clean_text(json_string_value(json_object_get(t, "name")), clean,
                                  sizeof clean);
            if (strcmp(clean, roster_name) == 0) {
                train = json_incref(t);
                break;
            }
        }
    }
    json_t *status = NULL;
    if (train != NULL &&
        store_status_get(st, json_string_value(json_object_get(train, "id")), &status) == 0)
        json_object_set_new(train, "_status", status);
    store_rollback(st);
    json_decref(list);
    return train;
}

static void acquire(struct withrottle *w, struct client *cl, const struct withrottle_cmd *c)
{
    json_t *train = find_train(w, c->address, c->action == WT_ACT_ROSTER ? c->text : NULL);
    if (train == NULL) {
        send_line(cl, "HMNo train has address %d", c->address);
        return;
    }
    const char *tid = json_string_value(json_object_get(train, "id"));
    int address = (int)json_integer_value(json_object_get(train, "address"));
    char key_type = address == c->address ? c->key_type : (address < 128 ? 'S' : 'L');
    for (size_t j = 0; j < cl->nh; j++) {
        if (cl->h[j].throttle == c->throttle && strcmp(cl->h[j].train_id, tid) == 0) {
            send_train(cl, &cl->h[j], '+', "%s", ""); /* already held: the state again */
            send_state(cl, &cl->h[j]);
            json_decref(train);
            return;
        }
    }
    if (cl->nh == MAX_HOLDINGS) {
        send_line(cl, "HMAt most %d trains per device", MAX_HOLDINGS);
        json_decref(train);
        return;
    }
    struct holding *h = &cl->h[cl->nh++];
    memset(h, 0, sizeof *h);
    h->throttle = c->throttle;
    h->key_type = key_type;
    h->address = address;
    snprintf(h->train_id, sizeof h->train_id, "%s", tid);
    h->forward = 1;
    /* What the other throttles show, else what the train reported. */
    bool known = false;
    for (size_t i = 0; i < MAX_CLIENTS && !known; i++) {
        struct client *o = w->clients[i];
        for (size_t j = 0; o != NULL && j < o->nh; j++) {
            if (&o->h[j] != h && strcmp(o->h[j].train_id, tid) == 0) {
                h->speed = o->h[j].speed;
                h->forward = o->h[j].forward;
                known = true;
                break;
            }
        }
    }
    json_t *st = json_object_get(train, "_status");
    if (!known && st != NULL) {
        json_t *target = json_object_get(st, "target_speed");
        json_int_t pct = json_is_integer(target) ? json_integer_value(target)
                                                 : json_integer_value(json_object_get(st, "speed"));
        h->speed = withrottle_percent_to_speed((int)pct);
        const char *d = json_string_value(json_object_get(st, "direction"));
        h->forward = d == NULL || strcasecmp(d, "FORWARD") == 0;
    }
    send_train(cl, h, '+', "%s", "");
    send_train(cl, h, 'L', "%s", ""); /* function labels: a DC train has none */
    send_state(cl, h);
    log_event(RH_LOG_INFO, "withrottle_acquired", "{s:s, s:s, s:s, s:i}", "client", cl->ip, "name",
              cl->name, "train_id", tid, "address", address);
    json_decref(train);
}

static void estop_train(struct withrottle *w, struct client *cl, const char *tid)
{
    publish(w, cl, tid, "emergencyStop", -1, NULL);
    /* Every display, the sender's too: the stop is not its slider's doing. */
    struct push p = {NULL, 0, -1, 0, true};
    each_holding(w, tid, push_one, &p);
}

static void train_action(struct withrottle *w, struct client *cl, struct holding *h,
                         const struct withrottle_cmd *c, int64_t now)
{
    switch (c->action) {
    case WT_ACT_SPEED:
        if (c->value < 0) {
            estop_train(w, cl, h->train_id);
        } else if (layout_is_stopped(w->c) && c->value > 0) {
            h->speed = 0;
            send_train(cl, h, 'A', "V0");
            send_line(cl, "HMTrack power is off: turn it on to drive");
        } else if (publish(w, cl, h->train_id, "setSpeed", withrottle_speed_to_percent(c->value),
                           NULL) == 0) {
            h->speed = -1; /* push() sets it, and tells the others */
            push(w, h->train_id, h, c->value, -1, 0);
        }
        break;
    case WT_ACT_IDLE:
        if (publish(w, cl, h->train_id, "setSpeed", 0, NULL) == 0) {
            h->speed = -1;
            push(w, h->train_id, h, 0, -1, 0);
        }
        break;
    case WT_ACT_ESTOP:
        estop_train(w, cl, h->train_id);
        break;
    case WT_ACT_DIRECTION:
        if (publish(w, cl, h->train_id, "setDirection", -1, c->value ? "FORWARD" : "REVERSE") ==
            0) {
            h->forward = -1;
            push(w, h->train_id, h, -1, c->value, now + DIRECTION_HOLD_MS);
        }
        break;
    case WT_ACT_STEPS:
        send_train(cl, h, 'A', "s%d", 1); /* 128-step mode only */
        break;
    case WT_ACT_FUNCTION:
    case WT_ACT_FORCE_FUNCTION:
        send_train(cl, h, 'A', "F0%d", c->value); /* no function: it stays off */
        break;
    case WT_ACT_QUERY:
        if (c->value == 'V')
            send_train(cl, h, 'A', "V%d", h->speed);
        else if (c->value == 'R')
            send_train(cl, h, 'A', "R%d", h->forward);
        else
            send_train(cl, h, 'A', "s%d", 1);
        break;
    default:
        break;
    }
}

static void throttle_cmd(struct withrottle *w, struct client *cl, const struct withrottle_cmd *c,
                         int64_t now)
{
    if (c->op == WT_OP_ACQUIRE || c->op == WT_OP_STEAL) {
        acquire(w, cl, c);
        return;
    }
    /* From the end: release() moves the last holding into the freed slot. */
    bool any = false;
    for (size_t j = cl->nh; j-- > 0;) {
        struct holding *h = &cl->h[j];
        if (h->throttle != c->throttle || (!c->all && h->address != c->address))
            continue;
        any = true;
        if (c->op == WT_OP_RELEASE)
            release(w, cl, j, true);
        else
            train_action(w, cl, h, c, now);
    }
    if (!any && !c->all)
        send_line(cl, "HMThrottle %c holds no train with address %d", c->throttle, c->address);
}

static void power_broadcast(struct withrottle *w)
{
    int on = layout_is_stopped(w->c) ? 0 : 1;
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        if (w->clients[i] != NULL)
            send_line(w->clients[i], "PPA%d", on);
}

/* The power change this thread made itself: told at once, before what follows from it, and
 * not a second time when the layout's own notification comes round. */
static void power_now(struct withrottle *w)
{
    pthread_mutex_lock(&w->lock);
    w->power_dirty = false;
    pthread_mutex_unlock(&w->lock);
    power_broadcast(w);
}

/* Track power is the layout's state: off is the layout-wide emergency stop (REST's, with its
 * confirmations); on resumes the layout, which lets every throttle drive again and starts no
 * train. Either way every throttle, and the web UI, hears of it (withrottle_power_changed). */
static void set_power(struct withrottle *w, struct client *cl, bool on)
{
    char origin[80];
    snprintf(origin, sizeof origin, "withrottle %.24s (%.30s)", cl->name[0] ? cl->name : "?",
             cl->ip);
    if (on) {
        if (layout_resume(w->c, origin) < 0) {
            send_line(cl, "HMThe layout could not be resumed (database error)");
            send_line(cl, "PPA0");
            return;
        }
        power_now(w);
        return;
    }
    struct layout_stop_result r;
    if (layout_emergency_stop(w->c, "withrottle power off", origin, &r) < 0) {
        send_line(cl, "HMThe MQTT broker is not reachable: the emergency stop was NOT sent");
        send_line(cl, "PPA%d", layout_is_stopped(w->c) ? 0 : 1);
        return;
    }
    power_now(w);
    /* Every display shows 0 at once; the edges' status follows. */
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        struct client *other = w->clients[i];
        if (other == NULL)
            continue;
        for (size_t j = 0; j < other->nh; j++) {
            struct push p = {NULL, 0, -1, 0, true};
            each_holding(w, other->h[j].train_id, push_one, &p);
        }
    }
}

/* Wakes the thread's poll (its eventfd). */
static void wake(struct withrottle *w)
{
    uint64_t one = 1;
    ssize_t ignored = write(w->wake_fd, &one, sizeof one);
    (void)ignored;
}

void withrottle_power_changed(struct withrottle *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->power_dirty = true;
    bool stopping = w->stopping;
    pthread_mutex_unlock(&w->lock);
    if (!stopping)
        wake(w);
}

struct line_ctx {
    struct withrottle *w;
    struct client *cl;
    int64_t now;
};

static int on_line(void *arg, const char *line, size_t len)
{
    struct line_ctx *x = arg;
    struct client *cl = x->cl;
    struct withrottle *w = x->w;
    /* Flood: a token bucket per connection. */
    cl->tokens += (double)(x->now - cl->tokens_ms) * LINES_PER_S / 1000.0;
    cl->tokens_ms = x->now;
    if (cl->tokens > LINES_BURST)
        cl->tokens = LINES_BURST;
    if (cl->tokens < 1.0) {
        kill_client(cl, "flood");
        return -EBUSY;
    }
    cl->tokens -= 1.0;
    cl->last_rx_ms = x->now;
    cl->heartbeat_tripped = false;
    struct withrottle_cmd c;
    if (withrottle_parse(line, len, &c) < 0) {
        if (++cl->bad_lines > MAX_BAD_LINES) {
            kill_client(cl, "too_many_bad_lines");
            return -EPROTO;
        }
        log_event(RH_LOG_DEBUG, "withrottle_line_ignored", "{s:s, s:I}", "client", cl->ip, "bytes",
                  (json_int_t)len);
        return 0;
    }
    switch (c.kind) {
    case WT_NAME:
        withrottle_clean_text(c.text, cl->name, sizeof cl->name);
        send_line(cl, "*%d", w->cfg.heartbeat_s);
        break;
    case WT_HEARTBEAT_ON:
        cl->heartbeat = true;
        break;
    case WT_HEARTBEAT_OFF:
        cl->heartbeat = false;
        break;
    case WT_POWER:
        set_power(w, cl, c.value == 1);
        break;
    case WT_QUIT:
        kill_client(cl, "quit");
        return -ECONNRESET;
    case WT_THROTTLE:
        throttle_cmd(w, cl, &c, x->now);
        break;
    default:
        break;
    }
    return 0;
}

/* ---- connections ---- */

static void close_client(struct withrottle *w, size_t idx)
{
    struct client *cl = w->clients[idx];
    /* A vanished throttle leaves no train running that nobody else holds. */
    size_t nh = cl->nh;
    while (cl->nh > 0)
        release(w, cl, cl->nh - 1, false);
    w->clients[idx] = NULL;
    flush_client(cl);
    close(cl->fd);
    log_event(RH_LOG_INFO, "withrottle_disconnected", "{s:s, s:i, s:s, s:s, s:I}", "client", cl->ip,
              "port", cl->port, "name", cl->name, "reason",
              cl->dead_reason ? cl->dead_reason : "closed", "trains_released", (json_int_t)nh);
    free(cl->out);
    free(cl);
}

static void send_greeting(struct withrottle *w, struct client *cl)
{
    send_line(cl, "VN2.0");
    send_line(cl, "HTRoundhouse");
    send_line(cl, "HtRoundhouse %s (DC layout)", ROUNDHOUSE_VERSION);
    json_t *trains = NULL;
    if (store_begin(w->c->store, false) == 0) {
        if (store_train_list(w->c->store, NULL, &trains) < 0)
            trains = NULL;
        store_rollback(w->c->store);
    }
    size_t n = json_array_size(trains);
    struct withrottle_roster_entry *e = calloc(n ? n : 1, sizeof *e);
    char *roster = NULL;
    size_t k = 0;
    for (size_t i = 0; e != NULL && i < n; i++) {
        json_t *t = json_array_get(trains, i);
        if (!json_is_integer(json_object_get(t, "address")))
            continue;
        e[k].name = json_string_value(json_object_get(t, "name"));
        e[k].address = (int)json_integer_value(json_object_get(t, "address"));
        k++;
    }
    if (e != NULL && withrottle_format_roster(e, k, &roster) == 0)
        send_text(cl, roster);
    free(roster);
    free(e);
    json_decref(trains);
    send_line(cl, "PPA%d", layout_is_stopped(w->c) ? 0 : 1);
    send_line(cl, "PW%d", w->cfg.web_port);
    send_line(cl, "*%d", w->cfg.heartbeat_s);
}

static void accept_clients(struct withrottle *w, int64_t now)
{
    for (int round = 0; round < 16; round++) {
        struct sockaddr_storage sa = {0};
        socklen_t salen = sizeof sa;
        int fd =
            accept4(w->listen_fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        char ip[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (sa.ss_family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
            inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
            port = ntohs(s4->sin_port);
        } else if (sa.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
            port = ntohs(s6->sin6_port);
        }
        size_t free_slot = MAX_CLIENTS, same_ip = 0;
        for (size_t i = 0; i < MAX_CLIENTS; i++) {
            if (w->clients[i] == NULL && free_slot == MAX_CLIENTS)
                free_slot = i;
            else if (w->clients[i] != NULL && strcmp(w->clients[i]->ip, ip) == 0)
                same_ip++;
        }
        if (free_slot == MAX_CLIENTS || same_ip >= MAX_PER_IP) {
            static const char msg[] = "HMToo many connections\n";
            ssize_t ignored = send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)ignored;
            close(fd);
            log_event(RH_LOG_WARNING, "withrottle_refused", "{s:s, s:s}", "client", ip, "reason",
                      same_ip >= MAX_PER_IP ? "per_ip_limit" : "connection_limit");
            continue;
        }
        struct client *cl = calloc(1, sizeof *cl);
        if (cl == NULL) {
            close(fd);
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        cl->fd = fd;
        snprintf(cl->ip, sizeof cl->ip, "%s", ip);
        cl->port = port;
        cl->last_rx_ms = now;
        cl->tokens = LINES_BURST;
        cl->tokens_ms = now;
        w->clients[free_slot] = cl;
        log_event(RH_LOG_INFO, "withrottle_connected", "{s:s, s:i}", "client", ip, "port", port);
        send_greeting(w, cl);
        flush_client(cl);
    }
}

static void read_client(struct withrottle *w, struct client *cl, int64_t now)
{
    char buf[4096];
    ssize_t n = recv(cl->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        kill_client(cl, n == 0 ? "closed" : "read_failed");
        return;
    }
    struct line_ctx x = {w, cl, now};
    int rc = withrottle_linebuf_feed(&cl->in, buf, (size_t)n, on_line, &x);
    if (rc == -EMSGSIZE)
        kill_client(cl, "line_too_long");
}

/* Heartbeat: a throttle that asked for it (*+) and then fell silent past the interval has
 * its trains stopped at once, as JMRI does; it keeps holding them. */
static void check_heartbeats(struct withrottle *w, int64_t now)
{
    int64_t limit = (int64_t)w->cfg.heartbeat_s * 1000;
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        struct client *cl = w->clients[i];
        if (cl == NULL || !cl->heartbeat || cl->heartbeat_tripped || now - cl->last_rx_ms <= limit)
            continue;
        cl->heartbeat_tripped = true;
        log_event(RH_LOG_WARNING, "withrottle_heartbeat_lost", "{s:s, s:s, s:I}", "client", cl->ip,
                  "name", cl->name, "trains", (json_int_t)cl->nh);
        for (size_t j = 0; j < cl->nh; j++)
            estop_train(w, cl, cl->h[j].train_id);
    }
}

static void drain_status(struct withrottle *w, int64_t now)
{
    pthread_mutex_lock(&w->lock);
    size_t n = w->nqueue;
    struct status_update *q = w->queue;
    w->queue = w->spare;
    w->spare = q;
    w->nqueue = 0;
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < n; i++) {
        int steps = withrottle_percent_to_speed(q[i].speed);
        /* Direction is pushed unless a throttle just reversed the train (it reports the old
         * direction while ramping down). */
        for (size_t c = 0; c < MAX_CLIENTS; c++) {
            struct client *cl = w->clients[c];
            for (size_t j = 0; cl != NULL && j < cl->nh; j++) {
                struct holding *h = &cl->h[j];
                if (strcmp(h->train_id, q[i].train_id) != 0)
                    continue;
                if (h->speed != steps) {
                    h->speed = steps;
                    send_train(cl, h, 'A', "V%d", steps);
                }
                if (q[i].forward >= 0 && h->forward != q[i].forward &&
                    now >= h->dir_hold_until_ms) {
                    h->forward = q[i].forward;
                    send_train(cl, h, 'A', "R%d", h->forward);
                }
            }
        }
    }
}

void withrottle_train_status(struct withrottle *w, const char *train_id, int speed,
                             const char *direction)
{
    if (w == NULL || train_id == NULL || strlen(train_id) > PROTO_TRAIN_ID_MAX)
        return;
    int forward = direction == NULL ? -1 : strcasecmp(direction, "FORWARD") == 0 ? 1 : 0;
    pthread_mutex_lock(&w->lock);
    size_t i;
    for (i = 0; i < w->nqueue; i++)
        if (strcmp(w->queue[i].train_id, train_id) == 0)
            break;
    if (i == w->nqueue && w->nqueue == MAX_STATUS_QUEUE) {
        w->queue_dropped++;
        pthread_mutex_unlock(&w->lock);
        return;
    }
    if (i == w->nqueue)
        w->nqueue++;
    snprintf(w->queue[i].train_id, sizeof w->queue[i].train_id, "%s", train_id);
    w->queue[i].speed = speed;
    w->queue[i].forward = forward;
    bool stopping = w->stopping;
    pthread_mutex_unlock(&w->lock);
    if (!stopping)
        wake(w);
}

static void *run(void *arg)
{
    struct withrottle *w = arg;
    struct pollfd pfd[MAX_CLIENTS + 2];
    size_t idx[MAX_CLIENTS + 2];
    for (;;) {
        pthread_mutex_lock(&w->lock);
        bool stopping = w->stopping;
        pthread_mutex_unlock(&w->lock);
        if (stopping)
            break;
        size_t n = 0;
        pfd[n++] = (struct pollfd){.fd = w->listen_fd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = w->wake_fd, .events = POLLIN};
        for (size_t i = 0; i < MAX_CLIENTS; i++) {
            struct client *cl = w->clients[i];
            if (cl == NULL)
                continue;
            idx[n] = i;
            pfd[n++] = (struct pollfd){.fd = cl->fd,
                                       .events = (short)(POLLIN | (cl->outlen ? POLLOUT : 0))};
        }
        /* Without clients nothing is timed (the heartbeat checks are per client): sleep
         * until a connection, a status to pass on or the stop (wake_fd). */
        int rc = poll(pfd, n, n > 2 ? 250 : -1);
        int64_t now = timeutil_mono_ms();
        if (rc > 0 && (pfd[1].revents & POLLIN)) {
            uint64_t v;
            ssize_t ignored = read(w->wake_fd, &v, sizeof v);
            (void)ignored;
        }
        drain_status(w, now);
        pthread_mutex_lock(&w->lock);
        bool power = w->power_dirty;
        w->power_dirty = false;
        pthread_mutex_unlock(&w->lock);
        if (power)
            power_broadcast(w);
        for (size_t k = 2; rc > 0 && k < n; k++) {
            struct client *cl = w->clients[idx[k]];
            if (cl == NULL)
                continue;
            if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
                read_client(w, cl, now);
        }
        if (rc > 0 && (pfd[0].revents & POLLIN))
            accept_clients(w, now);
        check_heartbeats(w, now);
        for (size_t i = 0; i < MAX_CLIENTS; i++) {
            if (w->clients[i] == NULL)
                continue;
            flush_client(w->clients[i]);
        }
        for (size_t i = 0; i < MAX_CLIENTS; i++)
            if (w->clients[i] != NULL && w->clients[i]->dead)
                close_client(w, i);
        /* The pushes that closing caused (the trains it stopped). */
        for (size_t i = 0; i < MAX_CLIENTS; i++)
            if (w->clients[i] != NULL)
                flush_client(w->clients[i]);
    }
    return NULL;
}

int withrottle_port(const struct withrottle *w)
{
    return w ? w->port : 0;
}

int withrottle_start(struct central *c, const struct withrottle_config *cfg,
                     struct withrottle **out, char *err, size_t errlen)
{
    struct withrottle *w = calloc(1, sizeof *w);
    if (w == NULL)
        return -ENOMEM;
    w->c = c;
    w->cfg = *cfg;
    snprintf(w->host, sizeof w->host, "%s", cfg->host);
    w->cfg.host = w->host;
    w->listen_fd = -1;
    w->wake_fd = -1;
    pthread_mutex_init(&w->lock, NULL);
    w->queue = calloc(MAX_STATUS_QUEUE, sizeof *w->queue);
    w->spare = calloc(MAX_STATUS_QUEUE, sizeof *w->spare);
    int rc = -ENOMEM;
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    if (w->queue == NULL || w->spare == NULL)
        goto fail;
    int g = getaddrinfo(cfg->host, port, &hints, &ai);
    if (g != 0) {
        strbuf_errorf(err, errlen, "%s:%d: %s", cfg->host, cfg->port, gai_strerror(g));
        rc = -EINVAL;
        goto fail;
    }
    w->listen_fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (w->listen_fd < 0 ||
        setsockopt(w->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(w->listen_fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(w->listen_fd, 16) < 0) {
        rc = -errno;
        strbuf_errorf(err, errlen, "%s:%d: %s", cfg->host, cfg->port, strerror(errno));
        freeaddrinfo(ai);
        goto fail;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa = {0};
    socklen_t salen = sizeof sa;
    if (getsockname(w->listen_fd, (struct sockaddr *)&sa, &salen) == 0) {
        struct sockaddr_in6 s6;
        struct sockaddr_in s4;
        memcpy(&s6, &sa, sizeof s6);
        memcpy(&s4, &sa, sizeof s4);
        w->port = ntohs(sa.ss_family == AF_INET6 ? s6.sin6_port : s4.sin_port);
    }
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake_fd < 0) {
        rc = -errno;
        strbuf_errorf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&w->thread, NULL, run, w) != 0) {
        rc = -EAGAIN;
        strbuf_errorf(err, errlen, "cannot start the WiThrottle thread");
        goto fail;
    }
    w->thread_started = true;
    *out = w;
    return 0;
fail:
    withrottle_free(w);
    return rc;
}

void withrottle_stop(struct withrottle *w)
{
    if (w == NULL || !w->thread_started)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_mutex_unlock(&w->lock);
    wake(w);
    pthread_join(w->thread, NULL);
    w->thread_started = false;
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        if (w->clients[i] != NULL) {
            kill_client(w->clients[i], "shutdown");
            close_client(w, i);
        }
    }
    if (w->listen_fd >= 0)
        close(w->listen_fd);
    w->listen_fd = -1;
}

void withrottle_free(struct withrottle *w)
{
    if (w == NULL)
        return;
    withrottle_stop(w);
    if (w->listen_fd >= 0)
        close(w->listen_fd);
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    pthread_mutex_destroy(&w->lock);
    free(w->queue);
    free(w->spare);
    free(w);
}
