/* REST API of the central (docs/api.md): the helpers every handler uses, the service routes
 * (/health, /metrics, /api/ping, /api/events, the web UI's files) and the route table. The
 * handlers of each resource are in api_*.c (api_internal.h). Every handler validates the
 * whole request before it opens a transaction, and every change happens in one transaction,
 * so a rejected request changes nothing. */
#include "http_api.h"
#include "api_internal.h"
#include "http_metrics.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_views.h"
#include "central.h"
#include "cluster.h"
#include "events.h"
#include "jsonr.h"
#include "notify.h"
#include "registry.h"
#include "runtime_config.h"
#include "store.h"
#include "prom.h"
#include "timeutil.h"

#define MAX_SEGMENTS 8

/* ---- helpers ---- */

void api_db_failed(struct call *k, int rc)
{
    if (rc == -EAGAIN && k->attempt + 1 < API_ATTEMPTS) {
        k->conflict = true;
        log_event(RH_LOG_DEBUG, "database_conflict_retried", "{s:s, s:i}", "path", k->req->path,
                  "attempt", k->attempt + 1);
        http_response_error(k->resp, 503, "database_unavailable", NULL,
                            "the database could not complete the request");
        return;
    }
    atomic_fetch_add(&k->c->counters.db_errors, 1);
    log_event(RH_LOG_ERROR, "database_error", "{s:s, s:s, s:i}", "path", k->req->path, "error",
              store_last_error(k->c->store), "rc", rc);
    http_response_error(k->resp, 503, "database_unavailable", NULL,
                        "the database could not complete the request");
}

/* Opens a transaction; answers 503 itself when it cannot. */
bool api_begin(struct call *k, bool write)
{
    int rc = write && (k->serialize || k->attempt > 0) ? store_begin_serialized(k->c->store)
                                                       : store_begin(k->c->store, write);
    if (rc < 0)
        api_db_failed(k, rc);
    return rc == 0;
}

bool api_serialize_from_now(struct call *k)
{
    if (k->serialize || k->attempt > 0 || !store_serializes(k->c->store))
        return false;
    k->serialize = true;
    k->conflict = true; /* run_route runs the handler again */
    return true;
}

void api_invalid(struct call *k, const struct jsonx_err *err)
{
    http_response_error(k->resp, 422, "invalid_field", err->field, "%s", err->detail);
}

/* Parses the body as a JSON object. An empty body is {} when allow_empty. */
json_t *api_body_object(struct call *k, bool allow_empty)
{
    if (k->req->body_len == 0) {
        if (allow_empty)
            return json_object();
        http_response_error(k->resp, 400, "malformed_json", NULL,
                            "a JSON object is required in the request body");
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = jsonr_loadb(k->req->body, k->req->body_len,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (doc == NULL) {
        http_response_error(k->resp, 400, "malformed_json", NULL,
                            "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
                            jerr.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        http_response_error(k->resp, 422, "invalid_body", NULL,
                            "the request body must be a JSON object");
        return NULL;
    }
    return doc;
}

int api_get_train_id(const json_t *body, const char *key, const char **out, struct jsonx_err *err)
{
    int rc = jsonx_string(body, key, 1, PROTO_TRAIN_ID_MAX, false, out, err);
    if (rc == 1 && !proto_train_id_valid(*out, strlen(*out))) {
        jsonx_err_set(err, key, "'%s' must be 1-%d characters without spaces, '/', '+' or '#'", key,
                      PROTO_TRAIN_ID_MAX);
        return -1;
    }
    return rc;
}

/* Path parameter that must be a controller UUID; 404 for anything else (it cannot exist). */
bool api_path_uuid(struct call *k, const char *s, char out[UUIDSTR_LEN + 1])
{
    if (uuidstr_normalize(s, out) < 0) {
        http_response_error(k->resp, 404, "controller_not_found", NULL, "controller %s not found",
                            s);
        return false;
    }
    return true;
}

void api_not_found_controller(struct call *k, const char *id)
{
    http_response_error(k->resp, 404, "controller_not_found", NULL, "controller %s not found", id);
}

void api_not_found_train(struct call *k, const char *id)
{
    http_response_error(k->resp, 404, "train_not_found", NULL, "train %s not found", id);
}

static bool is_loopback_host(const char *h)
{
    return strcasecmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 ||
           strcasecmp(h, "ip6-localhost") == 0;
}

/* s (n bytes) into out (len bytes, NUL-terminated, cut to fit): every config download
 * copies the broker's host, where snprintf's formatting was a fiftieth of the request. */
static void copy_host(char *out, size_t len, const char *s, size_t n)
{
    if (len == 0)
        return;
    if (n >= len)
        n = len - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* The broker address for runtime configs (docs/operations.md, --mqtt-advertise). */
void api_broker_for(struct call *k, char *host, size_t hostlen, int *port)
{
    const struct central_options *o = &k->c->opts;
    if (o->advertise_set) {
        copy_host(host, hostlen, o->advertise_host, strlen(o->advertise_host));
        *port = o->advertise_port;
        return;
    }
    copy_host(host, hostlen, o->mqtt_host, strlen(o->mqtt_host));
    *port = o->mqtt_port;
    if (!is_loopback_host(o->mqtt_host))
        return;
    /* A loopback broker address means nothing to a controller on another machine: hand it
     * the host it used to reach us, which is this machine as it sees it: the Host header
     * without its port ("[v6]:port" without the brackets too). */
    const char *h = http_request_header(k->req, "Host");
    if (h == NULL || *h == '\0')
        return;
    size_t n = strlen(h);
    if (h[0] == '[') {
        const char *end = memchr(h, ']', n);
        if (end != NULL)
            copy_host(host, hostlen, h + 1, (size_t)(end - h - 1));
        return;
    }
    const char *colon = strrchr(h, ':');
    if (colon != NULL)
        n = (size_t)(colon - h);
    if (n > 0)
        copy_host(host, hostlen, h, n);
}

/* Before a train leaves its controller (deleted, moved, unassigned): a stop on its command
 * topic, so that a controller which does not take its new config (it refused it, it cannot
 * reach the central, it runs the earlier system) does not keep driving a train nobody can
 * command any more. false, with the 503 sent, when the broker did not take the stop: the
 * caller changes nothing. A train on no controller needs none. */
bool api_stop_before_leaving(struct call *k, const char *tid, const json_t *train)
{
    if (!json_is_string(json_object_get(train, "desired_controller_id")) &&
        !json_is_string(json_object_get(train, "actual_controller_id")))
        return true;
    json_t *stop = json_pack("{s:s}", "action", "stop");
    int rc = notify_command(k->c->notify, tid, stop);
    json_decref(stop);
    if (rc == 0) {
        log_event(RH_LOG_INFO, "train_stopped_before_leaving", "{s:s}", "train_id", tid);
        return true;
    }
    http_response_error(k->resp, 503, "broker_unavailable", NULL,
                        "train %s could not be stopped first (the MQTT broker is not reachable), "
                        "so nothing was changed; try again when the broker is back",
                        tid);
    return false;
}

/* ---- service ---- */

static void h_ping(struct call *k)
{
    if (store_check(k->c->store) < 0) {
        http_response_error(k->resp, 503, "database_unavailable", NULL,
                            "the database is not usable");
        return;
    }
    http_response_pack(k->resp, 200, "{s:s}", "status", "ok");
}

static void h_health(struct call *k)
{
    bool db_ok = store_check(k->c->store) == 0;
    /* Reads can work while writes fail (disk full, read-only or damaged file): then nothing
     * a controller or an operator sends is kept, and health must say so. */
    char write_error[512] = "";
    bool writes_ok = !db_ok || store_write_state(k->c->store, write_error, sizeof write_error);
    bool mqtt = notify_connected(k->c->notify);
    json_t *cluster = cluster_health(k->c->cluster);
    /* Without its cluster session an instance serves, but misses what the others change. */
    bool peers_ok = cluster_peers_ok(k->c->cluster);
    const char *status =
        !db_ok ? "unhealthy" : (mqtt && writes_ok && peers_ok ? "healthy" : "degraded");
    json_t *body = json_pack("{s:s, s:s, s:b, s:I, s:s}", "status", status, "database",
                             !db_ok ? "unavailable" : (writes_ok ? "ok" : "writes_failing"),
                             "mqtt_connected", mqtt, "uptime_seconds",
                             (json_int_t)((timeutil_mono_ms() - k->c->started_mono_ms) / 1000),
                             "version", ROUNDHOUSE_VERSION);
    if (!writes_ok) {
        json_object_set_new(body, "database_error", json_string(write_error));
        json_object_set_new(body, "reason",
                            json_pack("s++", "database writes are failing: ", write_error,
                                      mqtt ? ""
                                           : "; not connected "
                                             "to the MQTT broker"));
    } else if (!mqtt && db_ok) {
        json_object_set_new(body, "reason", json_string("not connected to the MQTT broker"));
    } else if (!peers_ok && db_ok) {
        json_object_set_new(body, "reason",
                            json_string("the session to the other central instances is down: "
                                        "their changes are not seen here"));
    }
    if (cluster != NULL)
        json_object_set_new(body, "cluster", cluster);
    http_response_json(k->resp, db_ok ? 200 : 503, body);
}

struct presence_count {
    struct central *c;
    int64_t now;
    long by_state[4];
};

static void count_presence(void *ctx, const struct store_presence_row *row)
{
    struct presence_count *n = ctx;
    n->by_state[view_presence_scanned(n->c, row, n->now)]++;
}

/* The registry's series: controllers by presence state, registrations, heartbeats. */
static void metrics_registry(struct central *c, int64_t now, struct prom *p)
{
    struct presence_count counts = {.c = c, .now = now};
    if (store_begin(c->store, false) == 0) {
        store_controller_presence_scan(c->store, count_presence, &counts);
        store_rollback(c->store);
    }
    char labels[96];
    prom_family(p, "roundhouse_controllers", "gauge", "Registered controllers by presence state.");
    for (int s = 0; s < 4; s++) {
        snprintf(labels, sizeof labels, "state=\"%s\"", presence_name((enum presence)s));
        prom_i64(p, "roundhouse_controllers", labels, counts.by_state[s]);
    }
    prom_family(p, "roundhouse_registrations_total", "counter",
                "Controller registrations by result.");
    for (int a = 0; a < 4; a++) {
        snprintf(labels, sizeof labels, "status=\"%s\"",
                 registry_status_name((enum registry_action)a));
        prom_u64(p, "roundhouse_registrations_total", labels,
                 atomic_load(&c->counters.registrations[a]));
    }
    prom_counter(p, "roundhouse_registrations_rejected_total",
                 "Registrations refused (rate limit, token).",
                 atomic_load(&c->counters.registrations_rejected));
    prom_counter(p, "roundhouse_heartbeats_total", "Heartbeats accepted.",
                 atomic_load(&c->counters.heartbeats));
    prom_family(p, "roundhouse_presence_transitions_total", "counter",
                "Controller presence changes.");
    for (int f = 0; f < 4; f++)
        for (int t = 0; t < 4; t++) {
            if (f == t)
                continue;
            snprintf(labels, sizeof labels, "from=\"%s\",to=\"%s\"",
                     presence_name((enum presence)f), presence_name((enum presence)t));
            prom_u64(p, "roundhouse_presence_transitions_total", labels,
                     atomic_load(&c->counters.presence_transitions[f][t]));
        }
    prom_counter(p, "roundhouse_heartbeat_missed_total",
                 "Controllers that left online without a heartbeat.",
                 atomic_load(&c->counters.heartbeats_missed));
    prom_counter(p, "roundhouse_controller_auth_failures_total",
                 "Controller requests refused for a missing or wrong controller secret.",
                 atomic_load(&c->counters.controller_auth_failures));
}

static void h_metrics(struct call *k)
{
    struct central *c = k->c;
    struct prom p;
    prom_init(&p);
    metrics_registry(c, k->now, &p);
    prom_counter(&p, "roundhouse_database_errors_total", "Failed database operations.",
                 atomic_load(&c->counters.db_errors));
    if (c->http_metrics != NULL)
        http_metrics_render(c->http_metrics, &p);
    prom_gauge(&p, "roundhouse_mqtt_connected", "1 while the broker connection is up.",
               notify_connected(c->notify) ? 1 : 0);
    prom_counter(&p, "roundhouse_config_notifications_total", "config/update messages published.",
                 notify_sent_config_updates(c->notify));
    prom_counter(&p, "roundhouse_commands_relayed_total", "Commands published to trains.",
                 notify_sent_commands(c->notify));
    prom_gauge(&p, "roundhouse_event_streams", "Open /api/events streams.",
               events_streams(c->events));
    cluster_metrics(c->cluster, &p);
    prom_gauge(&p, "roundhouse_uptime_seconds", "Seconds since start.",
               (timeutil_mono_ms() - c->started_mono_ms) / 1000);
    k->resp->text = prom_finish(&p);
    if (k->resp->text == NULL) {
        http_response_error(k->resp, 503, "out_of_memory", NULL, "metrics: out of memory");
        return;
    }
    k->resp->status = 200;
    k->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void h_events(struct call *k)
{
    events_stream(k->c->events, k->req, k->resp);
}

/* The web UI, compiled in from web/ (cmake/embed.cmake). */
static void serve_asset(struct call *k, const char *text, const char *type)
{
    k->resp->status = 200;
    k->resp->text = strdup(text);
    k->resp->content_type = type;
}

static void h_index(struct call *k)
{
    static const char page[] =
#include "web_index_html.inc"
        ;
    serve_asset(k, page, "text/html; charset=utf-8");
}

static void h_app_js(struct call *k)
{
    static const char js[] =
#include "web_app_js.inc"
        ;
    serve_asset(k, js, "text/javascript; charset=utf-8");
}

static void h_app_css(struct call *k)
{
    static const char css[] =
#include "web_app_css.inc"
        ;
    serve_asset(k, css, "text/css; charset=utf-8");
}

/* ---- routing ---- */

typedef void (*route_fn)(struct call *k);

/* Who may call a route: enum route_access (auth.h), enforced by accounts_authorize in
 * http_api_handle when operator accounts are on (--auth). */

/* The account routes (accounts.c). */
#define ACCOUNTS_ROUTE(name, op)                                                                   \
    static void name(struct call *k)                                                               \
    {                                                                                              \
        accounts_handle(k->c, op, k->req, k->resp, &k->who, k->arg[0], k->now);                    \
    }
ACCOUNTS_ROUTE(h_login, ACCOUNTS_LOGIN)
ACCOUNTS_ROUTE(h_logout, ACCOUNTS_LOGOUT)
ACCOUNTS_ROUTE(h_me, ACCOUNTS_ME)
ACCOUNTS_ROUTE(h_users_list, ACCOUNTS_USERS_LIST)
ACCOUNTS_ROUTE(h_user_create, ACCOUNTS_USER_CREATE)
ACCOUNTS_ROUTE(h_user_patch, ACCOUNTS_USER_PATCH)
ACCOUNTS_ROUTE(h_user_delete, ACCOUNTS_USER_DELETE)
ACCOUNTS_ROUTE(h_tokens_list, ACCOUNTS_TOKENS_LIST)
ACCOUNTS_ROUTE(h_token_create, ACCOUNTS_TOKEN_CREATE)
ACCOUNTS_ROUTE(h_token_delete, ACCOUNTS_TOKEN_DELETE)

struct route {
    const char *method;
    const char *pattern; /* '*' matches one path segment */
    enum route_access access;
    route_fn fn;
};

static const struct route routes[] = {
    {"GET", "/", ACCESS_PUBLIC, h_index},
    {"GET", "/app.js", ACCESS_PUBLIC, h_app_js},
    {"GET", "/app.css", ACCESS_PUBLIC, h_app_css},
    {"GET", "/health", ACCESS_PUBLIC, h_health},
    {"GET", "/metrics", ACCESS_READ, h_metrics},
    {"GET", "/api/ping", ACCESS_PUBLIC, h_ping},
    {"GET", "/api/events", ACCESS_READ, h_events},
    {"POST", "/api/controllers/register", ACCESS_CONTROLLER, h_register},
    {"GET", "/api/controllers", ACCESS_READ, h_controllers_list},
    {"GET", "/api/edge-controllers", ACCESS_READ, h_controllers_list},
    {"GET", "/api/controllers/*", ACCESS_READ, h_controller_get},
    {"GET", "/api/edge-controllers/*", ACCESS_READ, h_controller_get},
    {"GET", "/api/config/edge-controllers/*", ACCESS_READ, h_controller_get},
    {"PATCH", "/api/controllers/*", ACCESS_ADMIN, h_controller_patch},
    {"PATCH", "/api/edge-controllers/*", ACCESS_ADMIN, h_controller_patch},
    {"DELETE", "/api/controllers/*", ACCESS_ADMIN, h_controller_delete},
    {"DELETE", "/api/edge-controllers/*", ACCESS_ADMIN, h_controller_delete},
    {"GET", "/api/controllers/*/ping", ACCESS_CONTROLLER, h_controller_ping},
    {"POST", "/api/controllers/*/heartbeat", ACCESS_CONTROLLER, h_heartbeat},
    {"GET", "/api/controllers/*/config", ACCESS_CONTROLLER, h_runtime_config},
    {"GET", "/api/controllers/*/trains", ACCESS_READ, h_controller_trains},
    {"GET", "/api/edge-controllers/*/trains", ACCESS_READ, h_controller_trains},
    {"POST", "/api/controllers/*/trains", ACCESS_CONTROLLER, h_controller_train_post},
    {"GET", "/api/controllers/*/trains/*", ACCESS_READ, h_controller_train_get},
    {"GET", "/api/edge-controllers/*/trains/*", ACCESS_READ, h_controller_train_get},
    {"GET", "/api/trains", ACCESS_READ, h_trains},
    {"POST", "/api/trains", ACCESS_ADMIN, h_train_post},
    {"GET", "/api/config/trains", ACCESS_READ, h_config_trains},
    {"POST", "/api/config/trains", ACCESS_ADMIN, h_train_post},
    {"GET", "/api/config/trains/*", ACCESS_READ, h_config_train_get},
    {"GET", "/api/trains/*", ACCESS_READ, h_train_get},
    {"PUT", "/api/trains/*", ACCESS_ADMIN, h_train_put},
    {"DELETE", "/api/trains/*", ACCESS_ADMIN, h_train_delete},
    {"GET", "/api/trains/*/status", ACCESS_READ, h_train_status},
    {"GET", "/api/trains/*/photo", ACCESS_READ, h_train_photo_get},
    {"PUT", "/api/trains/*/photo", ACCESS_ADMIN, h_train_photo_put},
    {"DELETE", "/api/trains/*/photo", ACCESS_ADMIN, h_train_photo_delete},
    {"POST", "/api/trains/*/command", ACCESS_DRIVE, h_command},
    {"POST", "/api/emergency-stop", ACCESS_STOP, h_emergency_stop},
    {"GET", "/api/layout", ACCESS_READ, h_layout},
    {"POST", "/api/layout/resume", ACCESS_DRIVE, h_layout_resume},
    {"POST", "/api/controllers/prune", ACCESS_ADMIN, h_controllers_prune},
    {"POST", "/api/status/update", ACCESS_CONTROLLER, h_status_update},
    {"GET", "/api/config", ACCESS_READ, h_full_config},
    {"GET", "/api/plugins", ACCESS_READ, h_plugins},
    {"GET", "/api/export", ACCESS_ADMIN, h_export},
    {"GET", "/api/backup", ACCESS_ADMIN, h_backup},
    {"POST", "/api/import", ACCESS_ADMIN, h_import},
    {"POST", "/api/login", ACCESS_PUBLIC, h_login},
    {"POST", "/api/logout", ACCESS_PUBLIC, h_logout},
    {"GET", "/api/me", ACCESS_PUBLIC, h_me},
    {"GET", "/api/users", ACCESS_ADMIN, h_users_list},
    {"POST", "/api/users", ACCESS_ADMIN, h_user_create},
    {"PATCH", "/api/users/*", ACCESS_USER, h_user_patch},
    {"DELETE", "/api/users/*", ACCESS_ADMIN, h_user_delete},
    {"GET", "/api/tokens", ACCESS_USER, h_tokens_list},
    {"POST", "/api/tokens", ACCESS_USER, h_token_create},
    {"DELETE", "/api/tokens/*", ACCESS_USER, h_token_delete},
};

/* Splits "/a/b/c" into segments (in buf); returns the count or -1 if too many/too long. */
static int split(const char *path, char *buf, size_t buflen, const char *seg[MAX_SEGMENTS])
{
    size_t n = strlen(path);
    if (n >= buflen)
        return -1;
    memcpy(buf, path, n + 1);
    int count = 0;
    char *p = buf;
    while (*p == '/')
        p++;
    while (*p) {
        if (count == MAX_SEGMENTS)
            return -1;
        seg[count++] = p;
        char *slash = strchr(p, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    return count;
}

/* Whether the path's segments match a route pattern ('*': any non-empty segment, taken as an
 * argument). The pattern is read in place, split by the same rules as split() splits the
 * path: every request tries many routes, and copying each pattern cost more than its handler
 * in the cheapest requests. */
static bool match(const char *pattern, const char *const *seg, int nseg, const char *arg[2])
{
    const char *p = pattern;
    while (*p == '/')
        p++;
    int a = 0, i = 0;
    while (*p) {
        if (i == nseg)
            return false;
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 1 && p[0] == '*') {
            if (seg[i][0] == '\0')
                return false;
            if (a < 2)
                arg[a++] = seg[i];
        } else if (strncmp(p, seg[i], len) != 0 || seg[i][len] != '\0') {
            return false;
        }
        i++;
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    return i == nseg;
}

/* A handler, and again (bounded) while it meets serialization failures: on PostgreSQL with
 * several centrals, another instance wrote what this request read, and the request's
 * transaction was rolled back whole. It runs again on what is committed now, as the
 * requests of one central run one after the other. What a handler does before its commit
 * besides the database (a stop published before a train leaves its controller) may happen
 * twice; each of those is harmless to repeat. */
static void run_route(struct call *k, route_fn fn)
{
    struct http_response *resp = k->resp;
    for (k->attempt = 0;; k->attempt++) {
        k->conflict = false;
        fn(k);
        if (!k->conflict || resp->suspended || resp->stream != NULL)
            return;
        const char *route = resp->route;
        json_decref(resp->json);
        /* *resp is reset on the next line; the analyzer loses that across the handler it
         * cannot see. NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
        free(resp->text);
        *resp = (struct http_response){.status = 500, .retry_after = -1, .route = route};
        json_decref(k->pending_events);
        k->pending_events = NULL;
        k->now = timeutil_now_ms() / 1000;
    }
}

void http_api_handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
    struct call k = {.c = ctx, .req = req, .resp = resp, .now = timeutil_now_ms() / 1000};
    char buf[512];
    const char *seg[MAX_SEGMENTS];
    int nseg = split(req->path, buf, sizeof buf, seg);
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    char allow[128] = "";
    size_t alen = 0;
    bool found = false;
    for (size_t i = 0; nseg >= 0 && i < sizeof routes / sizeof routes[0]; i++) {
        const char *arg[2] = {NULL, NULL};
        if (!match(routes[i].pattern, seg, nseg, arg))
            continue;
        if (strcmp(routes[i].method, method) == 0) {
            k.arg[0] = arg[0];
            k.arg[1] = arg[1];
            resp->route = routes[i].pattern;
            found = true;
            if (accounts_authorize(k.c, req, resp, routes[i].access, k.now, &k.who) < 0)
                break;
            run_route(&k, routes[i].fn);
            break;
        }
        if (strstr(allow, routes[i].method) == NULL)
            alen += (size_t)snprintf(allow + alen, sizeof allow - alen, "%s%s", alen ? ", " : "",
                                     routes[i].method);
    }
    if (!found && alen > 0) {
        snprintf(resp->allow, sizeof resp->allow, "%s", allow);
        http_response_error(resp, 405, "method_not_allowed", NULL,
                            "%s is not allowed on %s (allowed: %s)", req->method, req->path, allow);
    } else if (!found) {
        http_response_error(resp, 404, "not_found", NULL, "no such resource: %s", req->path);
    }
    json_decref(k.pending_events);
}

void http_api_observe(void *ctx, const char *method, const char *route, unsigned status,
                      double seconds)
{
    struct central *c = ctx;
    http_metrics_observe(c->http_metrics, method, route, status, seconds);
}
