#include "health.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "edge.h"
#include "histogram.h"
#include "strbuf.h"
#include "timeutil.h"

struct health {
    struct MHD_Daemon *d;
    struct edge *e;
};

/* --- content ---------------------------------------------------------------------------- */

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
    for (int i = 0; i < TRAIN_ACT_COUNT; i++)
        expo_add(&x, "controller_commands_total{action=\"%s\"} %llu\n",
                 train_action_name((enum train_action)i), (unsigned long long)m->commands[i]);
    counter(&x, "controller_commands_rejected_total", "Train commands rejected.",
            m->commands_rejected);
    counter(&x, "controller_failsafe_stops_total",
            "Fail-safe stops: moving trains ramped down for lack of broker contact.",
            m->failsafe_stops);
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

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s == NULL)
        return MHD_NO;
    return reply(c, status, "application/json", s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct health *h = cls;
    (void)version;
    (void)upload_data;
    /* Request bodies are never read: drop them as they arrive. */
    if (*con_cls == NULL) {
        *con_cls = h;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_json(
            c, 405, json_pack("{s:s, s:s}", "detail", "only GET", "error", "method_not_allowed"));
    int64_t now = timeutil_mono_ms();
    if (strcmp(url, "/health") == 0) {
        int status = 200;
        json_t *j = edge_health_json(h->e, now, &status);
        return reply_json(c, (unsigned)status, j);
    }
    if (strcmp(url, "/metrics") == 0) {
        char *text = edge_metrics_text(h->e, now);
        if (text == NULL)
            return MHD_NO;
        return reply(c, 200, "text/plain; version=0.0.4", text);
    }
    return reply_json(c, 404, json_pack("{s:s, s:s}", "detail", "not found", "error", "not_found"));
}

int health_start(struct health **out, const char *host, int port, struct edge *e, int *bound_port)
{
    struct addrinfo hints = {0}, *ai = NULL;
    struct health *h = NULL;
    char portstr[16];
    int rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(portstr, sizeof portstr, "%d", port);
    if (getaddrinfo(host, portstr, &hints, &ai) != 0 || ai == NULL) {
        rc = -EADDRNOTAVAIL;
        goto out;
    }
    h = calloc(1, sizeof *h);
    if (h == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    h->e = e;
    unsigned flags = MHD_NO_FLAG; /* external select: our loop runs it */
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                            ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (h->d == NULL) {
        rc = -EADDRINUSE;
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info ? (int)info->port : port;
    *out = h;
    h = NULL;
    rc = 0;
out:
    if (ai != NULL)
        freeaddrinfo(ai);
    free(h);
    return rc;
}

void health_stop(struct health *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}

unsigned health_fds(struct health *h, struct pollfd *fds, unsigned max)
{
    fd_set rs, ws, es;
    MHD_socket maxfd = 0;
    unsigned n = 0;
    if (h == NULL)
        return 0;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_ZERO(&es);
    if (MHD_get_fdset2(h->d, &rs, &ws, &es, &maxfd, FD_SETSIZE) != MHD_YES)
        return 0;
    for (int fd = 0; fd <= maxfd && n < max; fd++) {
        short ev = 0;
        if (FD_ISSET(fd, &rs))
            ev |= POLLIN;
        if (FD_ISSET(fd, &ws))
            ev |= POLLOUT;
        if (ev == 0)
            continue;
        fds[n].fd = fd;
        fds[n].events = ev;
        fds[n].revents = 0;
        n++;
    }
    return n;
}

void health_run(struct health *h)
{
    if (h != NULL)
        MHD_run(h->d);
}

int64_t health_timeout_ms(struct health *h)
{
    MHD_UNSIGNED_LONG_LONG t = 0;
    if (h == NULL || MHD_get_timeout(h->d, &t) != MHD_YES)
        return -1;
    return (int64_t)t;
}
