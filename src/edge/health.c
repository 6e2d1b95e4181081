/* accept4 */
#define _GNU_SOURCE
#include "health.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <http_parser.h>

#include "edge.h"
#include "histogram.h"
#include "strbuf.h"
#include "timeutil.h"

/* --- content ---------------------------------------------------------------------------- */

/* Whether the state directory can keep what the edge writes: the last write failed, or it is
 * read-only, or (almost) full. A Pi whose SD card went read-only still drives, but would
 * boot the next time without its identity's latest session or its newest config. */
#define STATE_DIR_MIN_FREE (64 * 1024)
static bool state_dir_problem(const struct edge *e, char *out, size_t outlen)
{
    if (e->state_error[0] != '\0') {
        snprintf(out, outlen, "%s", e->state_error);
        return true;
    }
    struct statvfs v;
    if (statvfs(e->opts.state_dir, &v) < 0) {
        snprintf(out, outlen, "%.400s: %s", e->opts.state_dir, strerror(errno));
        return true;
    }
    if (v.f_flag & ST_RDONLY) {
        snprintf(out, outlen, "%.400s: read-only file system", e->opts.state_dir);
        return true;
    }
    unsigned long long avail = (unsigned long long)v.f_bavail * v.f_frsize;
    if (avail < STATE_DIR_MIN_FREE) {
        snprintf(out, outlen, "%.400s: disk full (%llu bytes free)", e->opts.state_dir, avail);
        return true;
    }
    return false;
}

json_t *edge_health_json(const struct edge *e, int64_t now_ms, int *http_status)
{
    const char *status = "healthy";
    char reason[512] = "ok";
    json_t *trains = json_array();

    for (size_t i = 0; i < e->trains.n; i++) {
        const struct train *t = &e->trains.v[i];
        json_t *j = json_pack(
            "{s:s, s:i, s:s, s:i, s:s, s:s, s:b, s:b}", "train_id", t->id, "speed", t->ramp.speed,
            "direction", motor_direction_name(t->ramp.direction), "target_speed",
            t->ramp.target_speed, "state", ramp_state_name(ramp_state(&t->ramp)), "plugin",
            t->plugin, "invert_directions", t->invert, "releasing", t->releasing);
        if (j == NULL)
            continue;
        if (t->motor != NULL)
            json_object_set_new(j, "motor", motor_describe(t->motor));
        if (t->error[0] != '\0')
            json_object_set_new(j, "error", json_string(t->error));
        if (t->motor_rc < 0)
            json_object_set_new(j, "motor_error", json_string(strerror(-t->motor_rc)));
        json_array_append_new(trains, j);
    }

    char state_problem[600];
    bool state_bad = state_dir_problem(e, state_problem, sizeof state_problem);
    char ahead[TIMEUTIL_ISO_LEN + 1] = "";
    bool clock_behind = e->cache_ahead_ms > 0 && timeutil_now_ms() < e->cache_ahead_ms;
    if (clock_behind && timeutil_format(e->cache_ahead_ms / 1000, ahead) < 0)
        ahead[0] = '\0';

    /* The first problem found names the status, most severe first. */
    for (size_t i = 0; i < e->trains.n; i++) {
        const struct train *t = &e->trains.v[i];
        if (t->error[0] != '\0') {
            status = "unhealthy";
            snprintf(reason, sizeof reason, "train %s: %s", t->id, t->error);
            break;
        }
    }
    if (strcmp(status, "healthy") == 0) {
        if (e->apply_error[0] != '\0') {
            /* Still driving the previous config, which works: degraded, not unhealthy. */
            status = "degraded";
            snprintf(reason, sizeof reason, "%s; still running config %lld", e->apply_error,
                     (long long)e->applied_version);
        } else if (e->config == NULL && e->held != NULL &&
                   strcmp(e->cache_state, "superseded") == 0) {
            status = "degraded";
            snprintf(reason, sizeof reason,
                     "trains held stopped: %s; they are driven again once the central API sends "
                     "the current config",
                     e->cache_reason);
        } else if (e->config == NULL && e->held != NULL) {
            status = "degraded";
            snprintf(reason, sizeof reason,
                     "cached config too old (%s); trains not driven until the central API "
                     "confirms it",
                     e->cache_reason);
        } else if (e->config == NULL) {
            status = "degraded";
            snprintf(reason, sizeof reason,
                     "no runtime config (%s); waiting for the central API%s%s", e->cache_state,
                     e->last_sync_error[0] ? ": " : "", e->last_sync_error);
        } else if (!mqtt_link_connected(e->mqtt)) {
            status = "degraded";
            snprintf(reason, sizeof reason, "MQTT broker %s not connected",
                     mqtt_link_broker(e->mqtt));
        } else if (state_bad) {
            status = "degraded";
            snprintf(reason, sizeof reason,
                     "state directory: %.440s (the identity and config cache cannot be kept)",
                     state_problem);
        } else if (clock_behind) {
            status = "degraded";
            snprintf(reason, sizeof reason,
                     "this clock is behind the last cache write (cached_at %s): driving from the "
                     "cache, whose checksum is valid, but its age is unknown; check NTP",
                     ahead);
        } else if (e->credential_error[0] != '\0') {
            status = "degraded";
            snprintf(reason, sizeof reason, "controller credential: %.440s", e->credential_error);
        } else if (!e->registered) {
            status = "degraded";
            snprintf(reason, sizeof reason, "not registered with the central API%s%s",
                     e->last_sync_error[0] ? ": " : "", e->last_sync_error);
        } else if (e->trains.n == 0) {
            snprintf(reason, sizeof reason, "waiting for assignment");
        }
    }
    *http_status = strcmp(status, "unhealthy") == 0 ? 503 : 200;

    json_t *h =
        json_pack("{s:s, s:s, s:s?, s:s, s:s, s:o, s:b, s:s, s:b, s:s, s:s, s:I, s:b}", "status",
                  status, "reason", reason, "controller_uuid", e->uuid[0] ? e->uuid : NULL, "name",
                  e->name, "version", ROUNDHOUSE_VERSION, "trains", trains, "mqtt_connected",
                  mqtt_link_connected(e->mqtt), "mqtt_broker", mqtt_link_broker(e->mqtt),
                  "registered", e->registered, "cache_state", e->cache_state, "cache_reason",
                  e->cache_reason, "uptime_seconds",
                  (json_int_t)((now_ms - e->started_mono_ms) / 1000), "simulate", e->opts.simulate);
    if (h == NULL)
        return NULL;
    json_object_set_new(h, "config_version",
                        e->applied_version >= 0 ? json_integer(e->applied_version) : json_null());
    json_object_set_new(h, "session_epoch", json_integer(e->session_epoch));
    /* Whether a controller secret is held (never the secret), and why it may not work. */
    json_object_set_new(h, "credential", json_string(credential_state_name(e->credential)));
    json_object_set_new(h, "credential_error",
                        e->credential_error[0] ? json_string(e->credential_error) : json_null());
    json_object_set_new(h, "central",
                        e->central_in_use[0] ? json_string(e->central_in_use) : json_null());
    json_object_set_new(h, "clock_behind_cache", json_boolean(clock_behind));
    json_object_set_new(h, "state_dir_error", state_bad ? json_string(state_problem) : json_null());
    json_object_set_new(h, "config_error",
                        e->apply_error[0] ? json_string(e->apply_error) : json_null());
    json_object_set_new(h, "rejected_config_version",
                        e->rejected_version >= 0 ? json_integer(e->rejected_version) : json_null());
    json_object_set_new(h, "applying",
                        e->apply.pending ? json_integer(json_integer_value(
                                               json_object_get(e->apply.cfg, "version")))
                                         : json_null());
    json_object_set(h, "last_command", e->last_command ? e->last_command : json_null());
    return h;
}

/* The exposition being written; the first failure sticks (rc) and the text is dropped. */
struct expo {
    char *buf;
    size_t len, cap;
    int rc;
};

#define expo_add(x, ...)                                                                           \
    do {                                                                                           \
        if ((x)->rc == 0)                                                                          \
            (x)->rc = strbuf_appendf(&(x)->buf, &(x)->len, &(x)->cap, __VA_ARGS__);                \
    } while (0)

static void counter(struct expo *x, const char *name, const char *help, uint64_t v)
{
    expo_add(x, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
             (unsigned long long)v);
}

static void gauge(struct expo *x, const char *name, const char *help, long long v)
{
    expo_add(x, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, v);
}

char *edge_metrics_text(const struct edge *e, int64_t now_ms)
{
    static const char *const reg_reasons[REG_FAIL_COUNT] = {
        "network", "rate_limited", "rejected", "server_error", "invalid_response",
    };
    const struct edge_metrics *m = &e->m;
    struct expo x = {.cap = 8192};

    x.buf = malloc(x.cap);
    if (x.buf == NULL)
        return NULL;
    x.buf[0] = '\0';
    counter(&x, "controller_registration_attempts_total", "Registration requests started.",
            m->registration_attempts);
    expo_add(&x, "# HELP controller_registration_failures_total Failed registrations by "
                 "reason.\n# TYPE controller_registration_failures_total counter\n");
    for (int i = 0; i < REG_FAIL_COUNT; i++)
        expo_add(&x, "controller_registration_failures_total{reason=\"%s\"} %llu\n", reg_reasons[i],
                 (unsigned long long)m->registration_failures[i]);
    counter(&x, "controller_config_cache_hits_total", "Boots that drove from the cached config.",
            m->cache_hits);
    counter(&x, "controller_config_downloads_total", "Runtime config requests.",
            m->config_downloads);
    if (x.rc == 0)
        x.rc = histogram_render(&m->download_seconds, "controller_config_download_seconds",
                                "Time to an answer of a runtime config request (200, 304 or "
                                "error), in seconds.",
                                &x.buf, &x.len, &x.cap);
    counter(&x, "controller_config_applies_total", "Runtime configs applied.", m->config_applies);
    counter(&x, "controller_config_rejections_total",
            "Downloaded configs refused (schema, checksum, identity).", m->config_rejections);
    counter(&x, "controller_config_rollbacks_total", "Configs rolled back after a failed apply.",
            m->config_rollbacks);
    gauge(&x, "controller_config_version", "Applied runtime config version (-1: none).",
          (long long)e->applied_version);
    counter(&x, "controller_config_longpolls_total",
            "Config long polls started (while the broker is unreachable).", m->longpolls);
    counter(&x, "controller_heartbeats_total", "Heartbeats answered with 200.", m->heartbeats_ok);
    counter(&x, "controller_heartbeat_failures_total", "Heartbeats not answered with 200.",
            m->heartbeats_failed);
    gauge(&x, "controller_mqtt_connected", "1 while connected to the MQTT broker.",
          mqtt_link_connected(e->mqtt) ? 1 : 0);
    counter(&x, "controller_mqtt_connects_total", "Successful MQTT connections.", m->mqtt_connects);
    expo_add(&x, "# HELP controller_commands_total Train commands applied by action.\n"
                 "# TYPE controller_commands_total counter\n");
    for (int i = 0; i < PROTO_ACT_COUNT; i++)
        expo_add(&x, "controller_commands_total{action=\"%s\"} %llu\n",
                 proto_action_name((enum proto_action)i), (unsigned long long)m->commands[i]);
    counter(&x, "controller_commands_rejected_total", "Train commands rejected.",
            m->commands_rejected);
    counter(&x, "controller_failsafe_stops_total",
            "Fail-safe stops: moving trains ramped down for lack of broker contact.",
            m->failsafe_stops);
    counter(&x, "controller_mqtt_probes_total",
            "Probes of a broker silent for a third of the fail-safe timeout.", m->mqtt_probes);
    counter(&x, "controller_status_messages_total", "Train status messages published.",
            m->status_published);
    gauge(&x, "controller_trains", "Trains assigned to this controller.", (long long)e->trains.n);
    gauge(&x, "controller_registered", "1 while registered with the central API.",
          e->registered ? 1 : 0);
    gauge(&x, "controller_uptime_seconds", "Seconds since start.",
          (long long)((now_ms - e->started_mono_ms) / 1000));
    if (x.rc < 0) {
        free(x.buf);
        return NULL;
    }
    return x.buf;
}

/* --- HTTP ------------------------------------------------------------------------------- */

/* A tiny HTTP/1.1 server on the daemon's own poll loop: one request per connection, answered
 * with "Connection: close". Everything a client controls is bounded: the request head
 * (HEALTH_HEAD_MAX), what is read in all (HEALTH_INPUT_MAX; request bodies are read and
 * dropped), the time a connection may take (HEALTH_CONN_TIMEOUT_MS, from accept: a slow
 * client does not earn more time by trickling bytes) and the number of connections
 * (HEALTH_MAX_CONNS; beyond it new ones wait in the listen backlog). */
#define HEALTH_MAX_CONNS 16
#define HEALTH_HEAD_MAX 8192
#define HEALTH_INPUT_MAX (64 * 1024)
#define HEALTH_CONN_TIMEOUT_MS 10000
#define HEALTH_LINGER_MS 2000
#define HEALTH_PATH_MAX 64

enum conn_state { CONN_FREE = 0, CONN_READ, CONN_WRITE, CONN_LINGER };

struct health_conn {
    enum conn_state state;
    int fd;
    http_parser parser;
    char path[HEALTH_PATH_MAX]; /* the URL up to '?', "" when longer than the bound */
    size_t path_len;
    bool path_long, path_ended;
    bool head_done, request_done;
    size_t in_len;
    char *out; /* the answer, owned */
    size_t out_len, out_off;
    int64_t deadline_ms;
};

struct health {
    int lfd;
    struct edge *e;
    struct health_conn conns[HEALTH_MAX_CONNS];
    size_t nconns;
};

static struct health_conn *conn_of(http_parser *p)
{
    return p->data;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct health_conn *c = conn_of(p);
    const char *q = memchr(at, '?', len);
    if (c->path_ended)
        return 0;
    if (q != NULL) {
        len = (size_t)(q - at);
        c->path_ended = true;
    }
    if (c->path_long || c->path_len + len >= sizeof c->path) {
        c->path_long = true;
        return 0;
    }
    memcpy(c->path + c->path_len, at, len);
    c->path_len += len;
    c->path[c->path_len] = '\0';
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    conn_of(p)->head_done = true;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    conn_of(p)->request_done = true;
    http_parser_pause(p, 1); /* one request per connection: a pipelined one is not read */
    return 0;
}

static const http_parser_settings request_settings = {
    .on_url = on_url,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

static void conn_close(struct health *h, struct health_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
    h->nconns--;
}

/* Queues the answer; body is consumed (freed). HEAD gets the head alone. */
static void conn_reply(struct health_conn *c, unsigned status, const char *type, char *body,
                       bool head_only)
{
    size_t blen = body ? strlen(body) : 0, cap = 0;
    int rc = strbuf_appendf(&c->out, &c->out_len, &cap,
                            "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\n"
                            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                            status, http_status_str((enum http_status)status), type, blen);
    if (rc == 0 && !head_only && blen > 0)
        rc = strbuf_appendf(&c->out, &c->out_len, &cap, "%s", body);
    free(body);
    if (rc < 0) {
        free(c->out);
        c->out = NULL;
        c->out_len = 0;
    }
    c->out_off = 0;
    c->state = CONN_WRITE;
}

static void conn_reply_json(struct health_conn *c, unsigned status, json_t *j, bool head_only)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    conn_reply(c, s ? status : 500, "application/json", s, head_only);
}

static void conn_error(struct health_conn *c, unsigned status, const char *detail,
                       const char *error)
{
    conn_reply_json(c, status, json_pack("{s:s, s:s}", "detail", detail, "error", error), false);
}

static void conn_route(struct health *h, struct health_conn *c)
{
    unsigned method = c->parser.method;
    bool head = method == HTTP_HEAD;
    if (method != HTTP_GET && method != HTTP_HEAD) {
        conn_error(c, 405, "only GET", "method_not_allowed");
        return;
    }
    int64_t now = timeutil_mono_ms();
    if (!c->path_long && strcmp(c->path, "/health") == 0) {
        int status = 200;
        json_t *j = edge_health_json(h->e, now, &status);
        conn_reply_json(c, (unsigned)status, j, head);
    } else if (!c->path_long && strcmp(c->path, "/metrics") == 0) {
        char *text = edge_metrics_text(h->e, now);
        if (text == NULL)
            conn_error(c, 500, "out of memory", "internal");
        else
            conn_reply(c, 200, "text/plain; version=0.0.4", text, head);
    } else {
        conn_reply_json(c, 404,
                        json_pack("{s:s, s:s}", "detail", "not found", "error", "not_found"), head);
    }
}

static void conn_read(struct health *h, struct health_conn *c)
{
    char buf[4096];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) { /* gone before asking anything complete */
            conn_close(h, c);
            return;
        }
        if (c->in_len + (size_t)n > HEALTH_INPUT_MAX) {
            conn_error(c, 413, "request too large", "payload_too_large");
            return;
        }
        /* Until the head is complete the parser gets no more than its bound. */
        size_t off = 0;
        while (off < (size_t)n) {
            size_t take = (size_t)n - off;
            if (!c->head_done) {
                if (c->in_len >= HEALTH_HEAD_MAX) {
                    conn_error(c, 431, "request head too large", "header_too_large");
                    return;
                }
                if (take > HEALTH_HEAD_MAX - c->in_len)
                    take = HEALTH_HEAD_MAX - c->in_len;
            }
            size_t used = http_parser_execute(&c->parser, &request_settings, buf + off, take);
            c->in_len += used;
            off += used;
            if (c->request_done) {
                conn_route(h, c);
                return;
            }
            if (used != take || HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
                conn_error(c, 400, "malformed request", "bad_request");
                return;
            }
        }
    }
}

/* After the answer: the client's unread bytes are drained, not left in the socket, where
 * closing would turn them into a reset that can destroy the answer before it is read. */
static void conn_linger(struct health *h, struct health_conn *c)
{
    char buf[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0)
            break;
    }
    conn_close(h, c);
}

static void conn_write(struct health *h, struct health_conn *c, int64_t now)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            conn_close(h, c);
            return;
        }
        c->out_off += (size_t)n;
    }
    shutdown(c->fd, SHUT_WR);
    c->state = CONN_LINGER;
    if (c->deadline_ms > now + HEALTH_LINGER_MS)
        c->deadline_ms = now + HEALTH_LINGER_MS;
    conn_linger(h, c);
}

static void accept_all(struct health *h, int64_t now)
{
    while (h->nconns < HEALTH_MAX_CONNS) {
        int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a connection that died in the backlog */
        struct health_conn *c = NULL;
        for (size_t i = 0; i < HEALTH_MAX_CONNS && c == NULL; i++)
            if (h->conns[i].state == CONN_FREE)
                c = &h->conns[i];
        if (c == NULL) { /* cannot happen while nconns counts right */
            close(fd);
            return;
        }
        memset(c, 0, sizeof *c);
        c->fd = fd;
        c->state = CONN_READ;
        c->deadline_ms = now + HEALTH_CONN_TIMEOUT_MS;
        http_parser_init(&c->parser, HTTP_REQUEST);
        c->parser.data = c;
        h->nconns++;
    }
}

int health_start(struct health **out, const char *host, int port, struct edge *e, int *bound_port)
{
    struct addrinfo hints = {0}, *ai = NULL;
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    struct health *h = NULL;
    char portstr[16];
    int fd = -1, one = 1, rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%d", port);
    if (getaddrinfo(host, portstr, &hints, &ai) != 0 || ai == NULL) {
        rc = -EADDRNOTAVAIL;
        goto out;
    }
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    /* A restarted edge must get its port back while old connections sit in TIME_WAIT. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
        rc = -errno;
        goto out;
    }
    h = calloc(1, sizeof *h);
    if (h == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < HEALTH_MAX_CONNS; i++)
        h->conns[i].fd = -1;
    h->e = e;
    h->lfd = fd;
    fd = -1;
    *bound_port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                 : ((struct sockaddr_in *)&sa)->sin_port);
    *out = h;
    h = NULL;
    rc = 0;
out:
    if (ai != NULL)
        freeaddrinfo(ai);
    if (fd >= 0)
        close(fd);
    free(h);
    return rc;
}

void health_stop(struct health *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < HEALTH_MAX_CONNS; i++)
        if (h->conns[i].state != CONN_FREE)
            conn_close(h, &h->conns[i]);
    close(h->lfd);
    free(h);
}

unsigned health_fds(struct health *h, struct pollfd *fds, unsigned max)
{
    unsigned n = 0;
    if (h == NULL)
        return 0;
    /* At the cap the listener is not watched: new clients wait in the backlog. */
    if (h->nconns < HEALTH_MAX_CONNS && n < max)
        fds[n++] = (struct pollfd){.fd = h->lfd, .events = POLLIN};
    for (size_t i = 0; i < HEALTH_MAX_CONNS && n < max; i++) {
        const struct health_conn *c = &h->conns[i];
        if (c->state != CONN_FREE)
            fds[n++] =
                (struct pollfd){.fd = c->fd, .events = c->state == CONN_WRITE ? POLLOUT : POLLIN};
    }
    return n;
}

void health_run(struct health *h, const struct pollfd *fds, unsigned nfds)
{
    if (h == NULL)
        return;
    int64_t now = timeutil_mono_ms();
    for (unsigned i = 0; i < nfds; i++) {
        if (fds[i].revents == 0)
            continue;
        if (fds[i].fd == h->lfd) {
            accept_all(h, now);
            continue;
        }
        for (size_t k = 0; k < HEALTH_MAX_CONNS; k++) {
            struct health_conn *c = &h->conns[k];
            if (c->state == CONN_FREE || c->fd != fds[i].fd)
                continue;
            if (c->state == CONN_READ)
                conn_read(h, c);
            if (c->state == CONN_WRITE)
                conn_write(h, c, now); /* at once: the socket is nearly always writable */
            else if (c->state == CONN_LINGER)
                conn_linger(h, c);
            break;
        }
    }
    for (size_t k = 0; k < HEALTH_MAX_CONNS; k++) {
        struct health_conn *c = &h->conns[k];
        if (c->state != CONN_FREE && now >= c->deadline_ms)
            conn_close(h, c);
    }
}

int64_t health_timeout_ms(struct health *h)
{
    int64_t next = -1, now = timeutil_mono_ms();
    if (h == NULL)
        return -1;
    for (size_t k = 0; k < HEALTH_MAX_CONNS; k++) {
        const struct health_conn *c = &h->conns[k];
        if (c->state == CONN_FREE)
            continue;
        int64_t left = c->deadline_ms > now ? c->deadline_ms - now : 0;
        if (next < 0 || left < next)
            next = left;
    }
    return next;
}
