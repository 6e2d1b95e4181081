/* REST API of the central (docs/api.md). Every handler validates the whole request before it
 * opens a transaction, and every change happens in one transaction, so a rejected request
 * changes nothing. */
#include "http_api.h"
#include "http_metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include <strings.h>

#include <microhttpd.h>

#include "accounts.h"
#include "api_views.h"
#include "central.h"
#include "jsonx.h"
#include "driving.h"
#include "layout.h"
#include "events.h"
#include "log.h"
#include "longpoll.h"
#include "parse.h"
#include "placement.h"
#include "protocol.h"
#include "notify.h"
#include "ratelimit.h"
#include "registry.h"
#include "registry_io.h"
#include "runtime_config.h"
#include "store.h"
#include "timeutil.h"
#include "uuidstr.h"

#define MAX_SEGMENTS 8
/* Settings key of the controllers the operator deleted (remove_controller). */
#define DELETED_KEY "deleted_controllers"
#define LONGPOLL_MAX_WAIT_S 55
/* Tries of a registration whose transaction hit a serialization failure (store.h: -EAGAIN). */
#define REGISTER_ATTEMPTS 5

struct call {
    struct central *c;
    const struct http_request *req;
    struct http_response *resp;
    const char *arg[2];       /* the path segments matched by '*' */
    int64_t now;              /* wall clock, seconds */
    json_t *pending_events;   /* train views to publish after commit (heartbeats) */
    struct auth_identity who; /* with --auth: the caller (accounts_authorize) */
};

/* ---- helpers ---- */

static void db_failed(struct call *k, int rc)
{
    atomic_fetch_add(&k->c->counters.db_errors, 1);
    log_event(LOG_ERROR, "database_error", "{s:s, s:s, s:i}", "path", k->req->path, "error",
              store_last_error(k->c->store), "rc", rc);
    http_response_error(k->resp, 503, "database_unavailable", NULL,
                        "the database could not complete the request");
}

/* Opens a transaction; answers 503 itself when it cannot. */
static bool begin(struct call *k, bool write)
{
    int rc = store_begin(k->c->store, write);
    if (rc < 0)
        db_failed(k, rc);
    return rc == 0;
}

static void invalid(struct call *k, const struct jsonx_err *err)
{
    http_response_error(k->resp, 422, "invalid_field", err->field, "%s", err->detail);
}

/* Parses the body as a JSON object. An empty body is {} when allow_empty. */
static json_t *body_object(struct call *k, bool allow_empty)
{
    if (k->req->body_len == 0) {
        if (allow_empty)
            return json_object();
        http_response_error(k->resp, 400, "malformed_json", NULL,
                            "a JSON object is required in the request body");
        return NULL;
    }
    json_error_t jerr;
    json_t *doc =
        json_loadb(k->req->body, k->req->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
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

static int get_train_id(const json_t *body, const char *key, const char **out,
                        struct jsonx_err *err)
{
    int rc = jsonx_string(body, key, 1, PROTO_TRAIN_ID_MAX, false, out, err);
    if (rc == 1 && !runtime_config_train_id_valid(*out)) {
        jsonx_err_set(err, key, "'%s' must be 1-%d characters without spaces, '/', '+' or '#'", key,
                      PROTO_TRAIN_ID_MAX);
        return -1;
    }
    return rc;
}

/* Path parameter that must be a controller UUID; 404 for anything else (it cannot exist). */
static bool path_uuid(struct call *k, const char *s, char out[UUIDSTR_LEN + 1])
{
    if (uuidstr_normalize(s, out) < 0) {
        http_response_error(k->resp, 404, "controller_not_found", NULL, "controller %s not found",
                            s);
        return false;
    }
    return true;
}

static void not_found_controller(struct call *k, const char *id)
{
    http_response_error(k->resp, 404, "controller_not_found", NULL, "controller %s not found", id);
}

static void not_found_train(struct call *k, const char *id)
{
    http_response_error(k->resp, 404, "train_not_found", NULL, "train %s not found", id);
}

static bool is_loopback_host(const char *h)
{
    return strcasecmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 ||
           strcasecmp(h, "ip6-localhost") == 0;
}

/* The broker address for runtime configs (docs/operations.md, --mqtt-advertise). */
static void broker_for(struct call *k, char *host, size_t hostlen, int *port)
{
    const struct central_options *o = &k->c->opts;
    if (o->advertise_set) {
        snprintf(host, hostlen, "%s", o->advertise_host);
        *port = o->advertise_port;
        return;
    }
    snprintf(host, hostlen, "%s", o->mqtt_host);
    *port = o->mqtt_port;
    if (!is_loopback_host(o->mqtt_host))
        return;
    /* A loopback broker address means nothing to a controller on another machine: hand it
     * the host it used to reach us, which is this machine as it sees it. */
    const char *h = http_request_header(k->req, "Host");
    if (h == NULL || *h == '\0')
        return;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", h);
    char *end;
    if (buf[0] == '[') {
        end = strchr(buf, ']');
        if (end == NULL)
            return;
        *end = '\0';
        snprintf(host, hostlen, "%s", buf + 1);
        return;
    }
    end = strrchr(buf, ':');
    if (end != NULL)
        *end = '\0';
    if (buf[0] != '\0')
        snprintf(host, hostlen, "%s", buf);
}

/* ---- service ---- */

static void h_ping(struct call *k)
{
    if (store_begin(k->c->store, false) < 0 || (store_ping(k->c->store) < 0)) {
        http_response_error(k->resp, 503, "database_unavailable", NULL,
                            "the database is not usable");
        return;
    }
    store_rollback(k->c->store);
    http_response_json(k->resp, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_health(struct call *k)
{
    bool db_ok = false;
    if (store_begin(k->c->store, false) == 0) {
        db_ok = store_ping(k->c->store) == 0;
        store_rollback(k->c->store);
    }
    /* Reads can work while writes fail (disk full, read-only or damaged file): then nothing
     * a controller or an operator sends is kept, and health must say so. */
    char write_error[512] = "";
    bool writes_ok = !db_ok || store_write_state(k->c->store, write_error, sizeof write_error);
    bool mqtt = notify_connected(k->c->notify);
    const char *status = !db_ok ? "unhealthy" : (mqtt && writes_ok ? "healthy" : "degraded");
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
    }
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

static void h_metrics(struct call *k)
{
    struct central *c = k->c;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return;
    buf[0] = '\0';
    struct presence_count counts = {.c = c, .now = k->now};
    if (store_begin(c->store, false) == 0) {
        store_controller_presence_scan(c->store, count_presence, &counts);
        store_rollback(c->store);
    }
    long *by_state = counts.by_state;
    strbuf_appendf(&buf, &len, &cap,
                   "# HELP roundhouse_controllers Registered controllers by presence state.\n"
                   "# TYPE roundhouse_controllers gauge\n");
    for (int s = 0; s < 4; s++)
        strbuf_appendf(&buf, &len, &cap, "roundhouse_controllers{state=\"%s\"} %ld\n",
                       presence_name((enum presence)s), by_state[s]);
    strbuf_appendf(&buf, &len, &cap,
                   "# HELP roundhouse_registrations_total Controller registrations by result.\n"
                   "# TYPE roundhouse_registrations_total counter\n");
    for (int a = 0; a < 4; a++)
        strbuf_appendf(&buf, &len, &cap, "roundhouse_registrations_total{status=\"%s\"} %lu\n",
                       registry_status_name((enum registry_action)a),
                       atomic_load(&c->counters.registrations[a]));
    strbuf_appendf(
        &buf, &len, &cap,
        "# HELP roundhouse_registrations_rejected_total Registrations refused (rate limit, "
        "token).\n# TYPE roundhouse_registrations_rejected_total counter\n"
        "roundhouse_registrations_rejected_total %lu\n",
        atomic_load(&c->counters.registrations_rejected));
    strbuf_appendf(&buf, &len, &cap,
                   "# HELP roundhouse_heartbeats_total Heartbeats accepted.\n"
                   "# TYPE roundhouse_heartbeats_total counter\nroundhouse_heartbeats_total %lu\n",
                   atomic_load(&c->counters.heartbeats));
    strbuf_appendf(&buf, &len, &cap,
                   "# HELP roundhouse_database_errors_total Failed database operations.\n"
                   "# TYPE roundhouse_database_errors_total counter\n"
                   "roundhouse_database_errors_total %lu\n",
                   atomic_load(&c->counters.db_errors));
    if (c->http_metrics != NULL)
        http_metrics_render(c->http_metrics, &buf, &len, &cap);
    strbuf_appendf(
        &buf, &len, &cap,
        "# HELP roundhouse_mqtt_connected 1 while the broker connection is up.\n"
        "# TYPE roundhouse_mqtt_connected gauge\nroundhouse_mqtt_connected %d\n"
        "# HELP roundhouse_config_notifications_total config/update messages published.\n"
        "# TYPE roundhouse_config_notifications_total counter\n"
        "roundhouse_config_notifications_total %lu\n"
        "# HELP roundhouse_commands_relayed_total Commands published to trains.\n"
        "# TYPE roundhouse_commands_relayed_total counter\n"
        "roundhouse_commands_relayed_total %lu\n",
        notify_connected(c->notify) ? 1 : 0, notify_sent_config_updates(c->notify),
        notify_sent_commands(c->notify));
    strbuf_appendf(&buf, &len, &cap,
                   "# HELP roundhouse_presence_transitions_total Controller presence changes.\n"
                   "# TYPE roundhouse_presence_transitions_total counter\n");
    for (int f = 0; f < 4; f++)
        for (int t = 0; t < 4; t++)
            if (f != t)
                strbuf_appendf(&buf, &len, &cap,
                               "roundhouse_presence_transitions_total{from=\"%s\",to=\"%s\"} %lu\n",
                               presence_name((enum presence)f), presence_name((enum presence)t),
                               atomic_load(&c->counters.presence_transitions[f][t]));
    strbuf_appendf(
        &buf, &len, &cap,
        "# HELP roundhouse_heartbeat_missed_total Controllers that left online without a "
        "heartbeat.\n# TYPE roundhouse_heartbeat_missed_total counter\n"
        "roundhouse_heartbeat_missed_total %lu\n"
        "# HELP roundhouse_event_streams Open /api/events streams.\n"
        "# TYPE roundhouse_event_streams gauge\nroundhouse_event_streams %u\n",
        atomic_load(&c->counters.heartbeats_missed), events_streams(c->events));
    strbuf_appendf(&buf, &len, &cap,
                   "# HELP roundhouse_uptime_seconds Seconds since start.\n"
                   "# TYPE roundhouse_uptime_seconds gauge\nroundhouse_uptime_seconds %lld\n",
                   (long long)((timeutil_mono_ms() - c->started_mono_ms) / 1000));
    k->resp->status = 200;
    k->resp->text = buf;
    k->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* ---- controllers ---- */

/* The request of POST /api/controllers/register, validated. */
struct register_req {
    const char *name, *address, *version, *platform, *hardware_id;
    bool has_uuid;
    char uuid[UUIDSTR_LEN + 1];
    int64_t applied;
    int64_t epoch; /* the session epoch the edge already announced over MQTT, -1: none */
};

static int parse_register(const json_t *b, struct register_req *r, struct jsonx_err *err)
{
    memset(r, 0, sizeof *r);
    r->applied = -1;
    r->epoch = -1;
    bool is_null = false;
    int rc;
    if ((rc = jsonx_string(b, "name", 1, PROTO_NAME_MAX, false, &r->name, err)) < 0)
        return -1;
    if (rc == 0) {
        jsonx_err_set(err, "name", "'name' is required");
        return -1;
    }
    if (jsonx_string(b, "address", 0, 255, true, &r->address, err) < 0 ||
        jsonx_string(b, "version", 0, 64, true, &r->version, err) < 0 ||
        jsonx_string(b, "platform", 0, 128, true, &r->platform, err) < 0 ||
        jsonx_string(b, "hardware_id", 0, 128, true, &r->hardware_id, err) < 0 ||
        jsonx_int(b, "applied_config_version", 0, INT64_MAX / 2, &r->applied, err) < 0 ||
        jsonx_int(b, "session_epoch", 0, INT64_MAX / 2, &r->epoch, err) < 0)
        return -1;
    rc = jsonx_uuid(b, "uuid", true, r->uuid, &is_null, err);
    if (rc < 0)
        return -1;
    r->has_uuid = rc == 1 && !is_null;
    return 0;
}

/* A restored controller that the operator had deleted: it comes back (its edge still runs,
 * and gets a config without trains), but not silently: logged, and marked in its metadata
 * (returned_after_delete) for the UI and the CLI. */
static int mark_if_deleted(struct call *k, const char *id, json_t *fields)
{
    json_t *doc = NULL;
    int rc = store_setting_get(k->c->store, DELETED_KEY, &doc);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    json_t *was = json_object_get(doc, id);
    if (was != NULL) {
        char at[TIMEUTIL_ISO_LEN + 1] = "";
        timeutil_format(json_integer_value(json_object_get(was, "at")), at);
        log_event(LOG_WARNING, "deleted_controller_returned", "{s:s, s:s, s:s}", "uuid", id,
                  "deleted_at", at, "detail",
                  "its edge still runs: stop it, or clear its state directory, to keep it gone");
        json_object_set_new(fields, "metadata", json_pack("{s:s}", "returned_after_delete", at));
        json_object_del(doc, id);
        rc = store_setting_put(k->c->store, DELETED_KEY, doc);
    }
    json_decref(doc);
    return rc;
}

static void h_register(struct call *k)
{
    struct central *c = k->c;
    int64_t t0 = timeutil_mono_ms();
    if (c->opts.registration_token[0] != '\0') {
        const char *tok = http_request_header(k->req, "X-Registration-Token");
        size_t want = strlen(c->opts.registration_token);
        /* Constant-time compare over the expected length. */
        unsigned diff = tok == NULL || strlen(tok) != want;
        for (size_t i = 0; tok != NULL && i < want && tok[i]; i++)
            diff |= (unsigned)(tok[i] ^ c->opts.registration_token[i]);
        if (diff) {
            atomic_fetch_add(&c->counters.registrations_rejected, 1);
            http_response_error(k->resp, 401, "registration_token_invalid", "X-Registration-Token",
                                "a valid X-Registration-Token header is required");
            return;
        }
    }
    int retry = 1;
    if (c->register_limit != NULL &&
        !ratelimit_take(c->register_limit, k->req->client_ip, timeutil_mono_ms(), &retry)) {
        atomic_fetch_add(&c->counters.registrations_rejected, 1);
        k->resp->retry_after = retry;
        http_response_error(k->resp, 429, "rate_limited", NULL,
                            "too many registrations from %s; retry in %d s", k->req->client_ip,
                            retry);
        return;
    }
    json_t *b = body_object(k, false);
    if (b == NULL)
        return;
    struct register_req r;
    struct jsonx_err err;
    if (parse_register(b, &r, &err) < 0) {
        invalid(k, &err);
        json_decref(b);
        return;
    }

    json_t *existing = NULL, *candidates = NULL, *fields = NULL;
    char id[UUIDSTR_LEN + 1] = "";
    int attempts = 0;
retry:;
    int rc = store_begin(c->store, true);
    if (rc < 0)
        goto db_fail;
    bool known = false;
    if (r.has_uuid) {
        rc = store_controller_get(c->store, r.uuid, &existing);
        if (rc < 0 && rc != -ENOENT)
            goto db_fail_tx;
        known = rc == 0;
    }
    struct registry_candidate cand[16];
    size_t ncand = 0;
    if (!r.has_uuid) {
        rc = store_controller_find_by_name(c->store, r.name, &candidates);
        if (rc < 0)
            goto db_fail_tx;
        size_t i;
        json_t *row;
        json_array_foreach(candidates, i, row)
        {
            if (ncand == sizeof cand / sizeof cand[0])
                break;
            cand[ncand].presence = view_presence(c, row, k->now);
            cand[ncand].same_address = registry_same_address(
                json_string_value(json_object_get(row, "address")), r.address);
            ncand++;
        }
    }
    struct registry_decision d = registry_match(r.has_uuid, known, cand, ncand);

    fields = json_pack("{s:s, s:I}", "name", r.name, "last_seen", (json_int_t)k->now);
    if (r.address)
        json_object_set_new(fields, "address", json_string(r.address));
    if (r.version)
        json_object_set_new(fields, "version", json_string(r.version));
    if (r.platform)
        json_object_set_new(fields, "platform", json_string(r.platform));
    if (r.hardware_id)
        json_object_set_new(fields, "hardware_id", json_string(r.hardware_id));
    if (r.applied >= 0)
        json_object_set_new(fields, "applied_config_version", json_integer(r.applied));
    json_object_set_new(fields, "updated_at", json_integer(k->now));

    json_t *row = NULL;
    if (d.action == REGISTRY_REACTIVATE || d.action == REGISTRY_ADOPT) {
        row =
            d.action == REGISTRY_REACTIVATE ? existing : json_array_get(candidates, d.adopt_index);
        snprintf(id, sizeof id, "%s", json_string_value(json_object_get(row, "id")));
        int64_t cv = json_integer_value(json_object_get(row, "config_version"));
        /* The name is part of the runtime config: a rebuilt container with a new hostname
         * gets a new document version. */
        if (strcmp(json_string_value(json_object_get(row, "name")), r.name) != 0)
            cv++;
        else
            json_object_del(fields, "name"); /* unchanged: its index page is not rewritten */
        json_object_set_new(fields, "config_version",
                            json_integer(registry_seed_config_version(cv, r.applied)));
        /* A new session: above the last one, and at least the epoch the edge already put in
         * its MQTT birth and will (it boots from its cache before it can register). */
        int64_t epoch = json_integer_value(json_object_get(row, "session_epoch")) + 1;
        if (r.epoch > epoch)
            epoch = r.epoch;
        json_object_set_new(fields, "session_epoch", json_integer(epoch));
        if (json_is_null(json_object_get(row, "first_seen")))
            json_object_set_new(fields, "first_seen", json_integer(k->now));
        rc = store_controller_update(c->store, id, fields);
    } else {
        if (d.action == REGISTRY_RESTORE)
            snprintf(id, sizeof id, "%s", r.uuid);
        else
            uuidstr_generate(id);
        json_object_set_new(fields, "id", json_string(id));
        json_object_set_new(fields, "config_version",
                            json_integer(d.action == REGISTRY_RESTORE
                                             ? registry_restore_config_version(r.applied)
                                             : 1));
        json_object_set_new(fields, "session_epoch", json_integer(r.epoch > 1 ? r.epoch : 1));
        json_object_set_new(fields, "first_seen", json_integer(k->now));
        json_object_set_new(fields, "created_at", json_integer(k->now));
        json_object_set_new(fields, "enabled", json_true());
        rc = d.action == REGISTRY_RESTORE ? mark_if_deleted(k, id, fields) : 0;
        if (rc == 0)
            rc = store_controller_insert(c->store, fields);
    }
    if (rc < 0)
        goto db_fail_tx;
    /* The answer comes from what was written, not from reading the row back; the full row
     * is read only for the event view, and views are built only for open event streams: at
     * boot storms they cost more than the registration itself. */
    json_t *saved = row != NULL ? json_copy(row) : json_object();
    json_object_update(saved, fields);
    json_t *event = NULL;
    if (events_wanted(c->events)) {
        json_t *full = NULL;
        if (store_controller_get(c->store, id, &full) == 0)
            event = view_controller(c, full, k->now, true);
        json_decref(full);
    }
    rc = store_commit(c->store);
    if (rc < 0) {
        json_decref(event);
        json_decref(saved);
        goto db_fail;
    }
    events_publish(c->events, "controller", event);
    atomic_fetch_add(&c->counters.registrations[d.action], 1);
    const char *status = registry_status_name(d.action);
    http_response_json(k->resp, 200,
                       json_pack("{s:s, s:O, s:O?, s:s, s:O, s:i, s:O}", "uuid", id, "name",
                                 json_object_get(saved, "name"), "address",
                                 json_object_get(saved, "address"), "status", status,
                                 "config_version", json_object_get(saved, "config_version"),
                                 "heartbeat_interval", c->opts.heartbeat_interval, "session_epoch",
                                 json_object_get(saved, "session_epoch")));
    log_event(LOG_INFO, "controller_registered", "{s:s, s:s, s:s, s:s, s:I}", "uuid", id, "status",
              status, "name", r.name, "client", k->req->client_ip, "duration_ms",
              (json_int_t)(timeutil_mono_ms() - t0));
    json_decref(saved);
    goto out;

db_fail_tx:
    store_rollback(c->store);
db_fail:
    /* A serialization failure (PostgreSQL, when another connection registered the same
     * controller at the same moment): the whole decision again, on what is committed now. */
    if (rc == -EAGAIN && ++attempts < REGISTER_ATTEMPTS) {
        json_decref(existing);
        json_decref(candidates);
        json_decref(fields);
        existing = candidates = fields = NULL;
        goto retry;
    }
    db_failed(k, rc);
out:
    json_decref(b);
    json_decref(existing);
    json_decref(candidates);
    json_decref(fields);
}

struct list_writer {
    FILE *out;
    bool first;
};

/* The views of one page, built under the store's lock (they read the trains); they are
 * written out after it is released. */
struct list_page {
    struct call *k;
    json_t *views;
};

static int list_collect(void *ctx, const json_t *row)
{
    struct list_page *p = ctx;
    json_t *view = view_controller(p->k->c, row, p->k->now, true);
    return view != NULL && json_array_append_new(p->views, view) == 0 ? 0 : -ENOMEM;
}

static int list_write(struct list_writer *w, const json_t *view)
{
    if (!w->first)
        fputc(',', w->out);
    w->first = false;
    return json_dumpf(view, w->out, JSON_COMPACT) == 0 ? 0 : -ENOMEM;
}

#define LIST_PAGE 100

/* Written out one controller at a time: with ten thousand controllers the answer is about
 * 10 MB, and as one jansson tree it took more than 100 MiB. Runs on the HTTP worker thread
 * and reads the store a page at a time, so that heartbeats and registrations wait for one
 * page (a few ms), not for the whole list. The pages are separate transactions: a
 * controller deleted meanwhile can shift another one out of this answer. */
static void controllers_list_work(void *ctx, const struct http_request *req,
                                  struct http_response *resp)
{
    struct call call = {.c = ctx, .req = req, .resp = resp, .now = timeutil_now_ms() / 1000};
    struct call *k = &call;
    char *text = NULL;
    size_t len = 0;
    struct list_writer w = {.out = open_memstream(&text, &len), .first = true};
    json_t *page = json_array();
    if (w.out == NULL || page == NULL) {
        if (w.out != NULL)
            fclose(w.out);
        free(text);
        json_decref(page);
        http_response_error(k->resp, 500, "out_of_memory", NULL, "cannot build the list");
        return;
    }
    fputc('[', w.out);
    int rc = 0;
    for (long offset = 0; rc == 0; offset += LIST_PAGE) {
        json_array_clear(page);
        if (!begin(k, false)) {
            fclose(w.out);
            free(text);
            json_decref(page);
            return;
        }
        struct list_page p = {.k = k, .views = page};
        rc = store_controller_foreach_page(k->c->store, offset, LIST_PAGE, list_collect, &p);
        store_rollback(k->c->store);
        size_t i;
        json_t *view;
        json_array_foreach(page, i, view)
        {
            if (rc == 0)
                rc = list_write(&w, view);
        }
        if (json_array_size(page) < LIST_PAGE)
            break;
    }
    json_decref(page);
    fputc(']', w.out);
    bool written = fclose(w.out) == 0;
    if (rc == -ENOMEM || !written) {
        free(text);
        http_response_error(k->resp, 500, "out_of_memory", NULL, "cannot build the list");
        return;
    }
    if (rc < 0) {
        free(text);
        db_failed(k, rc);
        return;
    }
    k->resp->status = 200;
    k->resp->text = text;
    k->resp->content_type = "application/json";
}

static void h_controllers_list(struct call *k)
{
    http_request_defer(k->req, k->resp, controllers_list_work, k->c);
}

/* Loads one controller inside an open transaction; answers 404 itself. */
static json_t *load_controller(struct call *k, const char *id)
{
    json_t *row = NULL;
    int rc = store_controller_get(k->c->store, id, &row);
    if (rc == -ENOENT)
        not_found_controller(k, id);
    else if (rc < 0)
        db_failed(k, rc);
    return rc == 0 ? row : NULL;
}

static bool controller_exists(struct call *k, const char *id)
{
    json_t *row = load_controller(k, id);
    json_decref(row);
    return row != NULL;
}

static void h_controller_get(struct call *k)
{
    char id[UUIDSTR_LEN + 1];
    if (!path_uuid(k, k->arg[0], id))
        return;
    if (!begin(k, false))
        return;
    json_t *row = load_controller(k, id);
    if (row != NULL)
        http_response_json(k->resp, 200, view_controller(k->c, row, k->now, true));
    store_rollback(k->c->store);
    json_decref(row);
}

static void h_controller_ping(struct call *k)
{
    char id[UUIDSTR_LEN + 1];
    if (!path_uuid(k, k->arg[0], id))
        return;
    if (!begin(k, false))
        return;
    json_t *row = load_controller(k, id);
    if (row != NULL)
        http_response_json(k->resp, 200, json_pack("{s:s, s:s}", "status", "ok", "uuid", id));
    store_rollback(k->c->store);
    json_decref(row);
}

/* Train views to publish once the transaction has committed. */
static void queue_train_event(struct call *k, const char *tid)
{
    json_t *row = NULL;
    if (store_train_get(k->c->store, tid, &row) == 0) {
        if (k->pending_events == NULL)
            k->pending_events = json_array();
        json_array_append_new(k->pending_events, view_train(k->c, row, true));
    }
    json_decref(row);
}

/* Controller cid no longer runs train row: actual placement cleared, and the new owner, if
 * another, may now have it (its config_version rises: safe handover, placement.h). */
static int release_train(struct call *k, const json_t *row, const char *cid)
{
    const char *tid = json_string_value(json_object_get(row, "id"));
    const char *desired = json_string_value(json_object_get(row, "desired_controller_id"));
    json_t *f = json_pack("{s:n, s:s, s:I}", "actual_controller_id", "reassignment_status",
                          registry_reassignment_status(desired, NULL, false), "updated_at",
                          (json_int_t)k->now);
    int rc = store_train_update(k->c->store, tid, f);
    json_decref(f);
    if (rc == 0 && desired != NULL && strcmp(desired, cid) != 0)
        rc = store_controller_bump_config(k->c->store, desired, k->now);
    if (rc == 0)
        queue_train_event(k, tid);
    return rc;
}

/* Sets actual_controller_id of the trains a controller reports running, clears it for those it
 * no longer reports, and refreshes reassignment_status. */
static int apply_reported_trains(struct call *k, const char *cid, const json_t *reported)
{
    struct store *st = k->c->store;
    json_t *mine = NULL;
    int rc = store_train_list_actual(st, cid, &mine);
    if (rc < 0)
        return rc;
    size_t i;
    json_t *row;
    json_array_foreach(mine, i, row)
    {
        const char *tid = json_string_value(json_object_get(row, "id"));
        bool still = false;
        size_t j;
        json_t *rep;
        json_array_foreach(reported, j, rep)
        {
            const char *r = json_string_value(json_object_get(rep, "train_id"));
            if (r && strcmp(r, tid) == 0)
                still = true;
        }
        if (still)
            continue;
        if ((rc = release_train(k, row, cid)) < 0)
            goto out;
    }
    json_array_foreach(reported, i, row)
    {
        const char *tid = json_string_value(json_object_get(row, "train_id"));
        json_t *train = NULL;
        if (tid == NULL || store_train_get(st, tid, &train) < 0)
            continue;
        const char *desired = json_string_value(json_object_get(train, "desired_controller_id"));
        const char *actual = json_string_value(json_object_get(train, "actual_controller_id"));
        bool conflict = false;
        if (actual != NULL && strcmp(actual, cid) != 0) {
            /* Someone else claims it too. Only a live claimant makes a conflict: a controller
             * that went away without releasing it simply lost the train. */
            json_t *other = NULL;
            if (store_controller_get(st, actual, &other) == 0)
                conflict = view_presence(k->c, other, k->now) == PRESENCE_ONLINE;
            json_decref(other);
        }
        const char *now_actual = conflict ? actual : cid;
        const char *now_status = registry_reassignment_status(desired, now_actual, conflict);
        const char *old_status = json_string_value(json_object_get(train, "reassignment_status"));
        if (actual != NULL && strcmp(actual, now_actual) == 0 && old_status != NULL &&
            strcmp(old_status, now_status) == 0) {
            json_decref(train);
            continue; /* nothing changed: no write, no event */
        }
        json_t *f = json_pack("{s:s, s:s, s:I}", "actual_controller_id", now_actual,
                              "reassignment_status", now_status, "updated_at", (json_int_t)k->now);
        rc = store_train_update(st, tid, f);
        json_decref(f);
        if (rc == 0)
            queue_train_event(k, tid);
        json_decref(train);
        if (rc < 0)
            goto out;
    }
    rc = 0;
out:
    json_decref(mine);
    return rc;
}

/* A controller that does not report the trains it runs (the earlier system's edge) is
 * taken to run its assigned trains while it is online: a move away waits until it is offline
 * or has downloaded its config again (placement_release_moved). */
static int assume_running(struct call *k, const char *cid)
{
    json_t *mine = NULL;
    int rc = store_train_list(k->c->store, cid, &mine);
    size_t i;
    json_t *row;
    json_array_foreach(mine, i, row)
    {
        if (rc < 0)
            break;
        if (json_is_string(json_object_get(row, "actual_controller_id")))
            continue;
        const char *tid = json_string_value(json_object_get(row, "id"));
        json_t *f = json_pack("{s:s, s:s, s:I}", "actual_controller_id", cid, "reassignment_status",
                              registry_reassignment_status(cid, cid, false), "updated_at",
                              (json_int_t)k->now);
        rc = store_train_update(k->c->store, tid, f);
        json_decref(f);
        if (rc == 0)
            queue_train_event(k, tid);
    }
    json_decref(mine);
    return rc;
}

static void h_heartbeat(struct call *k)
{
    struct central *c = k->c;
    char id[UUIDSTR_LEN + 1];
    if (!path_uuid(k, k->arg[0], id))
        return;
    json_t *b = body_object(k, true);
    if (b == NULL)
        return;
    struct jsonx_err err;
    const char *hash = NULL, *version = NULL, *platform = NULL, *python = NULL;
    int64_t applied = -1, memory = -1, cpus = -1, epoch = -1;
    json_t *trains = json_object_get(b, "trains");
    json_t *errors = json_object_get(b, "errors");
    if (errors != NULL) {
        bool ok = json_is_array(errors) && json_array_size(errors) <= 16;
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e) ok =
            ok && json_is_string(e) && json_string_length(e) <= 300;
        if (!ok) {
            http_response_error(k->resp, 422, "invalid_field", "errors",
                                "'errors' must be a list of at most 16 strings (300 characters "
                                "each)");
            json_decref(b);
            return;
        }
    }
    if (jsonx_string(b, "config_hash", 0, 128, true, &hash, &err) < 0 ||
        jsonx_string(b, "version", 0, 64, true, &version, &err) < 0 ||
        jsonx_string(b, "platform", 0, 128, true, &platform, &err) < 0 ||
        jsonx_string(b, "python_version", 0, 64, true, &python, &err) < 0 ||
        jsonx_int(b, "config_version", 0, INT64_MAX / 2, &applied, &err) < 0 ||
        jsonx_int(b, "memory_mb", 0, 1 << 30, &memory, &err) < 0 ||
        jsonx_int(b, "cpu_count", 1, 4096, &cpus, &err) < 0 ||
        jsonx_int(b, "session_epoch", 0, INT64_MAX / 2, &epoch, &err) < 0) {
        invalid(k, &err);
        json_decref(b);
        return;
    }
    if (trains != NULL) {
        bool ok = json_is_array(trains) && json_array_size(trains) <= 64;
        size_t i;
        json_t *t;
        json_array_foreach(trains, i, t)
        {
            const char *tid;
            int64_t speed;
            const char *dir;
            if (!json_is_object(t) || get_train_id(t, "train_id", &tid, &err) != 1 ||
                jsonx_int(t, "speed", 0, 100, &speed, &err) < 0 ||
                jsonx_string(t, "direction", 0, 16, true, &dir, &err) < 0) {
                ok = false;
                break;
            }
        }
        if (!ok) {
            jsonx_err_set(&err, "trains",
                          "'trains' must be a list of at most 64 objects {train_id, speed "
                          "0-100, direction}");
            invalid(k, &err);
            json_decref(b);
            return;
        }
    }
    json_t *row = NULL, *fields = NULL;
    int rc = store_begin(c->store, true);
    if (rc < 0) {
        db_failed(k, rc);
        json_decref(b);
        return;
    }
    row = load_controller(k, id);
    if (row == NULL) {
        store_rollback(c->store);
        goto out;
    }
    int64_t current_epoch = json_integer_value(json_object_get(row, "session_epoch"));
    if (epoch >= 0 && epoch < current_epoch) {
        /* A heartbeat from a previous session of this controller (an old process still
         * running after a restart, or a delayed request) must not mask the new one. */
        store_rollback(c->store);
        http_response_json(k->resp, 200,
                           json_pack("{s:s, s:O, s:i, s:I}", "status", "ignored", "config_version",
                                     json_object_get(row, "config_version"), "heartbeat_interval",
                                     c->opts.heartbeat_interval, "session_epoch",
                                     (json_int_t)current_epoch));
        goto out;
    }
    fields =
        json_pack("{s:I, s:I}", "last_seen", (json_int_t)k->now, "updated_at", (json_int_t)k->now);
    if (json_is_null(json_object_get(row, "first_seen")))
        json_object_set_new(fields, "first_seen", json_integer(k->now));
    if (hash)
        json_object_set_new(fields, "config_hash", json_string(hash));
    if (version)
        json_object_set_new(fields, "version", json_string(version));
    if (platform)
        json_object_set_new(fields, "platform", json_string(platform));
    if (applied >= 0)
        json_object_set_new(fields, "applied_config_version", json_integer(applied));
    if (memory >= 0)
        json_object_set_new(fields, "memory_mb", json_integer(memory));
    if (cpus >= 0)
        json_object_set_new(fields, "cpu_count", json_integer(cpus));
    /* Kept in the metadata for the operator: what the controller reports as wrong (e.g. a
     * config it could not apply and rolled back; an empty list clears it), the earlier
     * edge's python_version, and whether it reports the trains it runs. */
    bool errors_changed = false;
    json_t *meta = json_object_get(row, "metadata");
    meta = json_is_object(meta) ? json_deep_copy(meta) : json_object();
    json_t *meta_before = json_deep_copy(meta);
    if (errors != NULL) {
        errors_changed = !json_equal(json_object_get(meta, "errors"), errors) &&
                         !(json_array_size(errors) == 0 && json_object_get(meta, "errors") == NULL);
        if (json_array_size(errors) == 0)
            json_object_del(meta, "errors");
        else
            json_object_set(meta, "errors", errors);
    }
    if (python)
        json_object_set_new(meta, "python_version", json_string(python));
    json_object_set_new(meta, "reports_placement", json_boolean(json_is_array(trains)));
    bool meta_changed = !json_equal(meta, meta_before);
    json_decref(meta_before);
    if (meta_changed)
        json_object_set_new(fields, "metadata", meta);
    else
        json_decref(meta);
    rc = store_controller_update(c->store, id, fields);
    if (rc == 0 && json_is_array(trains))
        rc = apply_reported_trains(k, id, trains);
    else if (rc == 0)
        rc = assume_running(k, id);
    /* Heartbeats are frequent: only what a viewer can see change goes on the event stream
     * (presence changes come from the sweeper). */
    json_t *event = NULL;
    json_t *old_applied = json_object_get(row, "applied_config_version");
    if (rc == 0 && events_wanted(c->events) &&
        (errors_changed || meta_changed ||
         (applied >= 0 &&
          (!json_is_integer(old_applied) || json_integer_value(old_applied) != applied)))) {
        json_t *now_row = NULL;
        if (store_controller_get(c->store, id, &now_row) == 0)
            event = view_controller(c, now_row, k->now, true);
        json_decref(now_row);
    }
    if (rc < 0) {
        store_rollback(c->store);
        db_failed(k, rc);
        goto out;
    }
    rc = store_commit(c->store);
    if (rc < 0) {
        json_decref(event);
        db_failed(k, rc);
        goto out;
    }
    if (event != NULL)
        events_publish(c->events, "controller", event);
    size_t ei;
    json_t *ev;
    json_array_foreach(k->pending_events, ei, ev)
        events_publish(c->events, "train", json_incref(ev));
    atomic_fetch_add(&c->counters.heartbeats, 1);
    http_response_json(k->resp, 200,
                       json_pack("{s:s, s:O, s:i, s:I}", "status", "ok", "config_version",
                                 json_object_get(row, "config_version"), "heartbeat_interval",
                                 c->opts.heartbeat_interval, "session_epoch",
                                 (json_int_t)current_epoch));
out:
    json_decref(b);
    json_decref(row);
    json_decref(fields);
}

/* If-None-Match: a list of entity tags, or "*". */
static bool etag_matches(const char *header, const char *etag)
{
    if (header == NULL)
        return false;
    if (strcmp(header, "*") == 0)
        return true;
    const char *bare = etag + 1; /* etag is "\"sha256:...\"" */
    size_t blen = strlen(bare) - 1;
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && end[-1] == ' ')
            end--;
        /* cppcheck-suppress knownConditionTrueFalse ; end moved past start in the loop above */
        if (end - start >= 2 && *start == '"' && end[-1] == '"') {
            start++;
            end--;
        }
        if ((size_t)(end - start) == blen && strncmp(start, bare, blen) == 0)
            return true;
    }
    return false;
}

/* Long-poll parameters of GET /api/controllers/{id}/config: wait=SEC (1-55) and
 * version=N. Returns 1 when both are present and valid, 0 when absent, -1 after answering
 * 422. */
static int longpoll_params(struct call *k, long *wait, long *version)
{
    const char *w = http_request_query(k->req, "wait");
    const char *v = http_request_query(k->req, "version");
    if (w == NULL && v == NULL)
        return 0;
    if (w == NULL || parse_long(w, 0, LONGPOLL_MAX_WAIT_S, wait) < 0) {
        http_response_error(k->resp, 422, "invalid_field", "wait",
                            "'wait' must be whole seconds 0-%d (with 'version')",
                            LONGPOLL_MAX_WAIT_S);
        return -1;
    }
    if (v == NULL || parse_long(v, 0, INT32_MAX, version) < 0) {
        http_response_error(k->resp, 422, "invalid_field", "version",
                            "'version' must be the config version the controller has (with "
                            "'wait')");
        return -1;
    }
    return 1;
}

/* A controller that does not report its trains has downloaded its config: the earlier
 * edge reads it only at boot, so it runs what that config holds from now on, and the trains
 * moved away from it are released to their new owners (their config_version rises). */
static void release_moved(struct call *k, const char *cid)
{
    struct store *st = k->c->store;
    if (store_begin(st, true) < 0)
        return;
    json_t *held = NULL;
    int rc = store_train_list_actual(st, cid, &held);
    size_t i;
    json_t *row;
    json_array_foreach(held, i, row)
    {
        const char *tid = json_string_value(json_object_get(row, "id"));
        const char *desired = json_string_value(json_object_get(row, "desired_controller_id"));
        if (rc < 0)
            break;
        if (desired != NULL && strcmp(desired, cid) == 0)
            continue;
        rc = release_train(k, row, cid);
        if (rc == 0)
            log_event(LOG_INFO, "train_released_by_download", "{s:s, s:s, s:s?}", "train_id", tid,
                      "controller", cid, "to", desired);
    }
    json_decref(held);
    if (rc < 0) {
        store_rollback(st);
        return;
    }
    if (store_commit(st) < 0)
        return;
    size_t ei;
    json_t *ev;
    json_array_foreach(k->pending_events, ei, ev)
        events_publish(k->c->events, "train", json_incref(ev));
    json_array_clear(k->pending_events);
}

static void h_runtime_config(struct call *k)
{
    struct central *c = k->c;
    char id[UUIDSTR_LEN + 1];
    if (!path_uuid(k, k->arg[0], id))
        return;
    long wait = 0, have = 0;
    int poll = longpoll_params(k, &wait, &have);
    if (poll < 0)
        return;
    int rc = 0;
    if (!begin(k, false))
        return;
    json_t *trains = NULL, *doc = NULL;
    json_t *row = load_controller(k, id);
    if (row == NULL) {
        store_rollback(c->store);
        return;
    }
    bool waiting = false;
    if (poll == 1 && json_integer_value(json_object_get(row, "config_version")) <= have) {
        int64_t deadline = k->req->started_ms + wait * 1000;
        /* Parked while the store lock is held: a commit that raises the version cannot slip
         * in between this check and the parking, so no wake-up is lost. */
        if (timeutil_mono_ms() < deadline &&
            longpoll_park(c->longpoll, k->req, k->resp, id, deadline)) {
            store_rollback(c->store);
            json_decref(row);
            return;
        }
        waiting = true; /* the wait is over with nothing newer: 304 below */
    }
    rc = placement_runtime_trains(c, c->store, row, k->now, &trains);
    store_rollback(c->store);
    if (rc < 0) {
        db_failed(k, rc);
        goto out;
    }
    char host[256];
    int port;
    broker_for(k, host, sizeof host, &port);
    struct runtime_broker broker = {
        .host = host,
        .port = port,
        .username = c->opts.mqtt_username[0] ? c->opts.mqtt_username : NULL,
        .password = c->opts.mqtt_password,
    };
    doc = runtime_config_build(row, trains, &broker, c->opts.heartbeat_interval);
    if (doc == NULL) {
        http_response_error(k->resp, 500, "internal_error", NULL, "cannot build the config");
        goto out;
    }
    snprintf(k->resp->etag, sizeof k->resp->etag, "\"%s\"",
             json_string_value(json_object_get(doc, "checksum")));
    if (waiting || etag_matches(http_request_header(k->req, "If-None-Match"), k->resp->etag)) {
        k->resp->status = 304;
        goto out;
    }
    http_response_json(k->resp, 200, json_incref(doc));
out:
    if (rc == 0 && doc != NULL && !view_reports_placement(row))
        release_moved(k, id);
    json_decref(row);
    json_decref(trains);
    json_decref(doc);
}

/* Before a train leaves its controller (deleted, moved, unassigned): a stop on its command
 * topic, so that a controller which does not take its new config (it refused it, it cannot
 * reach the central, it runs the earlier system) does not keep driving a train nobody can
 * command any more. false, with the 503 sent, when the broker did not take the stop: the
 * caller changes nothing. A train on no controller needs none. */
static bool stop_before_leaving(struct call *k, const char *tid, const json_t *train)
{
    if (!json_is_string(json_object_get(train, "desired_controller_id")) &&
        !json_is_string(json_object_get(train, "actual_controller_id")))
        return true;
    json_t *stop = json_pack("{s:s}", "action", "stop");
    int rc = notify_command(k->c->notify, tid, stop);
    json_decref(stop);
    if (rc == 0) {
        log_event(LOG_INFO, "train_stopped_before_leaving", "{s:s}", "train_id", tid);
        return true;
    }
    http_response_error(k->resp, 503, "broker_unavailable", NULL,
                        "train %s could not be stopped first (the MQTT broker is not reachable), "
                        "so nothing was changed; try again when the broker is back",
                        tid);
    return false;
}

static void h_controller_patch(struct call *k)
{
    struct central *c = k->c;
    char id[UUIDSTR_LEN + 1];
    if (!path_uuid(k, k->arg[0], id))
        return;
    json_t *b = body_object(k, false);
    if (b == NULL)
        return;
    struct jsonx_err err;
    const char *name = NULL, *desc = NULL;
    bool enabled = false;
    int has_name, has_desc, has_enabled;
    if ((has_name = jsonx_string(b, "name", 1, PROTO_NAME_MAX, false, &name, &err)) < 0 ||
        (has_desc = jsonx_string(b, "description", 0, PROTO_DESCRIPTION_MAX, true, &desc, &err)) <
            0 ||
        (has_enabled = jsonx_bool(b, "enabled", &enabled, &err)) < 0) {
        invalid(k, &err);
        json_decref(b);
        return;
    }
    json_t *fields = json_object(), *row = NULL;
    if (has_name)
        json_object_set_new(fields, "name", json_string(name));
    if (has_desc)
        json_object_set_new(fields, "description", desc ? json_string(desc) : json_null());
    if (has_enabled)
        json_object_set_new(fields, "enabled", json_boolean(enabled));
    int rc = store_begin(c->store, true);
    if (rc < 0) {
        db_failed(k, rc);
        goto out;
    }
    row = load_controller(k, id);
    if (row == NULL) {
        store_rollback(c->store);
        goto out;
    }
    bool renamed = has_name && strcmp(name, json_string_value(json_object_get(row, "name"))) != 0;
    bool toggled = has_enabled && enabled != !json_is_false(json_object_get(row, "enabled"));
    if (toggled && !enabled) {
        /* Disabled: its trains leave its runtime config, so they are stopped first. */
        json_t *trains = NULL;
        rc = store_train_list(c->store, id, &trains);
        size_t i;
        json_t *t;
        json_array_foreach(trains, i, t)
        {
            if (rc == 0 && !stop_before_leaving(k, json_string_value(json_object_get(t, "id")), t))
                rc = -ENOTCONN;
        }
        json_decref(trains);
        if (rc < 0) {
            store_rollback(c->store);
            if (rc != -ENOTCONN)
                db_failed(k, rc);
            goto out;
        }
    }
    if (json_object_size(fields) > 0)
        json_object_set_new(fields, "updated_at", json_integer(k->now));
    rc = store_controller_update(c->store, id, fields);
    /* The name is part of the runtime config; a disabled controller's config has no trains. */
    if (rc == 0 && (renamed || toggled))
        rc = store_controller_bump_config(c->store, id, k->now);
    json_decref(row);
    row = NULL;
    if (rc == 0)
        rc = store_controller_get(c->store, id, &row);
    if (rc < 0) {
        store_rollback(c->store);
        db_failed(k, rc);
        goto out;
    }
    json_t *view = view_controller(c, row, k->now, true);
    rc = store_commit(c->store);
    if (rc < 0) {
        json_decref(view);
        db_failed(k, rc);
        goto out;
    }
    events_publish(c->events, "controller", json_incref(view));
    http_response_json(k->resp, 200, view);
out:
    json_decref(b);
    json_decref(fields);
    json_decref(row);
}

/* A deleted controller is remembered (settings "deleted_controllers": {uuid: {name, at}}), so
 * that one whose edge still runs does not come back silently: its next registration restores
 * it (with no trains: the safe outcome, the edge drops what it ran), marked in its metadata
 * and logged. */

static int remember_deleted(struct call *k, const char *id, const char *name)
{
    json_t *doc = NULL;
    int rc = store_setting_get(k->c->store, DELETED_KEY, &doc);
    if (rc == -ENOENT) {
        doc = json_object();
        rc = doc ? 0 : -ENOMEM;
    }
    if (rc < 0)
        return rc;
    /* Bounded: the oldest entries go first (object order is insertion order). */
    while (json_object_size(doc) >= 1000) {
        void *it = json_object_iter(doc);
        json_object_del(doc, json_object_iter_key(it));
    }
    json_object_set_new(doc, id, json_pack("{s:s?, s:I}", "name", name, "at", (json_int_t)k->now));
    rc = store_setting_put(k->c->store, DELETED_KEY, doc);
    json_decref(doc);
    return rc;
}

/* Deletes controller id in its own transaction, each of its trains stopped first and then
 * unassigned. 0; -ENOENT; -ENOTCONN when a stop could not be sent (the 503 set, nothing
 * changed); another negative errno from the store. */
static int remove_controller(struct call *k, const char *id)
{
    struct central *c = k->c;
    if (!begin(k, true))
        return -EIO;
    json_t *trains = NULL, *row = NULL;
    int rc = store_controller_get(c->store, id, &row);
    if (rc == 0)
        rc = store_train_list(c->store, id, &trains);
    size_t i;
    json_t *t;
    json_array_foreach(trains, i, t)
    {
        if (rc < 0)
            break;
        if (!stop_before_leaving(k, json_string_value(json_object_get(t, "id")), t)) {
            rc = -ENOTCONN;
            break;
        }
        const char *actual = json_string_value(json_object_get(t, "actual_controller_id"));
        json_t *f = json_pack("{s:n, s:s, s:I}", "desired_controller_id", "reassignment_status",
                              registry_reassignment_status(NULL, actual, false), "updated_at",
                              (json_int_t)k->now);
        rc = store_train_update(c->store, json_string_value(json_object_get(t, "id")), f);
        json_decref(f);
    }
    json_decref(trains);
    if (rc == 0)
        rc = remember_deleted(k, id, json_string_value(json_object_get(row, "name")));
    json_decref(row);
    if (rc == 0)
        rc = store_controller_delete(c->store, id);
    if (rc < 0) {
        store_rollback(c->store);
        return rc;
    }
    /* A failed commit has ended the transaction and released the store (store.h). */
    if ((rc = store_commit(c->store)) < 0)
        return rc;
    log_event(LOG_INFO, "controller_deleted", "{s:s}", "uuid", id);
    events_publish(c->events, "controller", json_pack("{s:s, s:b}", "id", id, "deleted", 1));
    return 0;
}

static void h_controller_delete(struct call *k)
{
    char id[UUIDSTR_LEN + 1];
    if (!path_uuid(k, k->arg[0], id))
        return;
    int rc = remove_controller(k, id);
    if (rc == -ENOENT)
        not_found_controller(k, id);
    else if (rc == -ENOTCONN || rc == -EIO)
        ; /* answered already (503) */
    else if (rc < 0)
        db_failed(k, rc);
    else
        k->resp->status = 204;
}

/* POST /api/controllers/prune {"offline_for": SEC}: deletes every controller that is offline
 * (or never seen) and was last seen at least SEC seconds ago, as DELETE does. */
static void h_controllers_prune(struct call *k)
{
    struct central *c = k->c;
    json_t *b = body_object(k, false);
    if (b == NULL)
        return;
    struct jsonx_err err;
    int64_t age = -1;
    int has = jsonx_int(b, "offline_for", 0, INT64_MAX / 4, &age, &err);
    json_decref(b);
    if (has == 0)
        jsonx_err_set(&err, "offline_for", "'offline_for' (seconds) is required");
    if (has != 1) {
        invalid(k, &err);
        return;
    }
    if (!notify_connected(c->notify)) {
        http_response_error(k->resp, 503, "broker_unavailable", NULL,
                            "the MQTT broker is not reachable: the trains of the controllers "
                            "to prune could not be stopped first, so nothing was deleted");
        return;
    }
    json_t *rows = NULL, *gone = json_array();
    if (!begin(k, false)) {
        json_decref(gone);
        return;
    }
    int rc = store_controller_list(c->store, &rows);
    store_rollback(c->store);
    if (rc < 0) {
        db_failed(k, rc);
        json_decref(gone);
        return;
    }
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        enum presence p = view_presence(c, row, k->now);
        json_t *last = json_object_get(row, "last_seen");
        int64_t seen = json_is_integer(last)
                           ? json_integer_value(last)
                           : json_integer_value(json_object_get(row, "created_at"));
        if ((p != PRESENCE_OFFLINE && p != PRESENCE_UNKNOWN) || k->now - seen < age)
            continue;
        const char *id = json_string_value(json_object_get(row, "id"));
        rc = remove_controller(k, id);
        if (rc == -ENOENT)
            continue;
        if (rc < 0)
            break;
        json_array_append_new(
            gone, json_pack("{s:s, s:O}", "id", id, "name", json_object_get(row, "name")));
    }
    json_decref(rows);
    if (rc < 0 && rc != -ENOENT) {
        if (rc != -ENOTCONN && rc != -EIO)
            db_failed(k, rc);
        json_decref(gone);
        return;
    }
    log_event(LOG_INFO, "controllers_pruned", "{s:I, s:I}", "offline_for", (json_int_t)age,
              "deleted", (json_int_t)json_array_size(gone));
    http_response_json(
        k->resp, 200,
        json_pack("{s:I, s:o}", "deleted", (json_int_t)json_array_size(gone), "controllers", gone));
}

/* ---- trains ---- */

static void h_trains_list(struct call *k, const char *controller_id, bool with_status)
{
    struct central *c = k->c;
    int rc = 0;
    if (!begin(k, false))
        return;
    json_t *rows = NULL;
    if (controller_id != NULL && !controller_exists(k, controller_id)) {
        store_rollback(c->store);
        return;
    }
    rc = store_train_list(c->store, controller_id, &rows);
    if (rc < 0) {
        store_rollback(c->store);
        db_failed(k, rc);
        return;
    }
    json_t *out = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) json_array_append_new(out, view_train(c, row, with_status));
    store_rollback(c->store);
    json_decref(rows);
    http_response_json(k->resp, 200, out);
}

static void h_trains(struct call *k)
{
    h_trains_list(k, NULL, true);
}

static void h_config_trains(struct call *k)
{
    h_trains_list(k, NULL, false);
}

static void h_controller_trains(struct call *k)
{
    char id[UUIDSTR_LEN + 1];
    if (path_uuid(k, k->arg[0], id))
        h_trains_list(k, id, true);
}

static void train_get(struct call *k, const char *controller_id, const char *train_id,
                      bool with_status)
{
    struct central *c = k->c;
    int rc = 0;
    if (!begin(k, false))
        return;
    json_t *row = NULL;
    if (controller_id != NULL && !controller_exists(k, controller_id)) {
        store_rollback(c->store);
        return;
    }
    rc = store_train_get(c->store, train_id, &row);
    const char *owner =
        row ? json_string_value(json_object_get(row, "desired_controller_id")) : NULL;
    if (rc == -ENOENT ||
        (rc == 0 && controller_id != NULL && (owner == NULL || strcmp(owner, controller_id) != 0)))
        not_found_train(k, train_id);
    else if (rc < 0)
        db_failed(k, rc);
    else
        http_response_json(k->resp, 200, view_train(c, row, with_status));
    store_rollback(c->store);
    json_decref(row);
}

static void h_train_get(struct call *k)
{
    train_get(k, NULL, k->arg[0], true);
}

static void h_config_train_get(struct call *k)
{
    train_get(k, NULL, k->arg[0], false);
}

static void h_controller_train_get(struct call *k)
{
    char id[UUIDSTR_LEN + 1];
    if (path_uuid(k, k->arg[0], id))
        train_get(k, id, k->arg[1], true);
}

/* Validated body of a train registration. */
struct train_req {
    const char *train_id, *name, *description, *model, *plugin_name;
    json_t *plugin_config;
    bool reassign;
    bool has_description, has_model;
    int64_t address;       /* 0: not given, assigned */
    const json_t *driving; /* borrowed; NULL: none */
};

/* "driving" (driving.h): 1 with *out borrowed (an object; null means {}), 0 absent, -1 bad. */
static int parse_driving(const json_t *b, const json_t **out, struct jsonx_err *err)
{
    const json_t *d = json_object_get(b, "driving");
    if (d == NULL)
        return 0;
    if (json_is_null(d)) {
        *out = NULL;
        return 1;
    }
    char field[32] = "", why[96];
    if (driving_check(d, field, sizeof field, why, sizeof why) < 0) {
        jsonx_err_set(err, "driving", "'driving%s%s': %s", field[0] ? "." : "", field, why);
        return -1;
    }
    *out = d;
    return 1;
}

static int parse_plugin(const json_t *b, const char **name, json_t **config, struct jsonx_err *err)
{
    json_t *plugin = NULL;
    int rc = jsonx_object(b, "plugin", true, &plugin, err);
    if (rc < 0)
        return -1;
    if (rc == 0 || plugin == NULL)
        return 0;
    const char *n = NULL;
    json_t *cfg = NULL;
    if (jsonx_string(plugin, "name", 1, PROTO_PLUGIN_NAME_MAX, false, &n, err) < 0 ||
        jsonx_object(plugin, "config", true, &cfg, err) < 0) {
        char field[64];
        snprintf(field, sizeof field, "plugin.%.50s", err->field);
        snprintf(err->field, sizeof err->field, "%s", field);
        return -1;
    }
    *name = n; /* NULL when absent: the caller's default applies */
    *config = cfg;
    return 1;
}

static int parse_train_req(const json_t *b, struct train_req *r, struct jsonx_err *err)
{
    memset(r, 0, sizeof *r);
    int rc = get_train_id(b, "train_id", &r->train_id, err);
    if (rc == 0) {
        jsonx_err_set(err, "train_id", "'train_id' is required");
        return -1;
    }
    if (rc < 0)
        return -1;
    rc = jsonx_string(b, "name", 1, PROTO_NAME_MAX, false, &r->name, err);
    if (rc == 0) {
        jsonx_err_set(err, "name", "'name' is required");
        return -1;
    }
    if (rc < 0)
        return -1;
    if ((rc = jsonx_string(b, "description", 0, PROTO_DESCRIPTION_MAX, true, &r->description,
                           err)) < 0)
        return -1;
    r->has_description = rc == 1;
    if ((rc = jsonx_string(b, "model", 0, PROTO_MODEL_MAX, true, &r->model, err)) < 0)
        return -1;
    r->has_model = rc == 1;
    if (parse_plugin(b, &r->plugin_name, &r->plugin_config, err) < 0 ||
        jsonx_bool(b, "reassign", &r->reassign, err) < 0 ||
        jsonx_int(b, "address", 1, 9999, &r->address, err) < 0 ||
        parse_driving(b, &r->driving, err) < 0)
        return -1;
    return 0;
}

/* Inside a write transaction: true when no train but tid has this address (0: none asked).
 * Otherwise false with 409 sent; the caller rolls back. */
static bool address_free(struct call *k, int64_t address, const char *tid)
{
    json_t *holder = NULL;
    if (address == 0)
        return true;
    int rc = store_train_find_by_address(k->c->store, (int)address, &holder);
    bool free_ = rc == -ENOENT ||
                 (rc == 0 && strcmp(json_string_value(json_object_get(holder, "id")), tid) == 0);
    if (rc == 0 && !free_)
        http_response_error(k->resp, 409, "address_in_use", "address",
                            "address %lld belongs to train %s", (long long)address,
                            json_string_value(json_object_get(holder, "id")));
    else if (rc < 0 && rc != -ENOENT)
        db_failed(k, rc);
    json_decref(holder);
    return free_;
}

/* After inserting a train without an address. false with the answer sent when none is left. */
static bool addresses_assigned(struct call *k)
{
    int rc = store_train_assign_addresses(k->c->store);
    if (rc == -ERANGE)
        http_response_error(k->resp, 422, "no_free_address", "address",
                            "every address 1-9999 is taken");
    else if (rc < 0)
        db_failed(k, rc);
    return rc == 0;
}

/* Registers a train for controller cid (docs/api.md): 201 new, 200 already there, 409 on
 * another controller unless reassign (then moved, 200). Both owners' config_version rise on
 * a move, in the same transaction. */
/* After a change that puts trains on controller cid, inside its transaction: false (the 422
 * sent; the caller rolls back) when cid's runtime config would no longer be one an edge can
 * run. An edge refuses such a config and keeps driving its old one. */
static bool config_fits(struct call *k, const char *cid, const char *field)
{
    int rc = placement_config_fits(k->c, k->c->store, cid);
    if (rc == -E2BIG)
        http_response_error(k->resp, 422, "too_many_trains", field,
                            "controller %s would have more than %d trains (an edge runs at most "
                            "%d)",
                            cid, PROTO_CONTROLLER_TRAINS_MAX, PROTO_CONTROLLER_TRAINS_MAX);
    else if (rc == -EFBIG)
        http_response_error(k->resp, 422, "config_too_large", field,
                            "the runtime config of controller %s would be larger than %d bytes "
                            "(an edge downloads at most that): make plugin configs smaller",
                            cid, PROTO_RUNTIME_CONFIG_MAX);
    else if (rc < 0)
        db_failed(k, rc);
    return rc == 0;
}

static void register_train(struct call *k, const char *cid, const json_t *b)
{
    struct central *c = k->c;
    struct train_req r;
    struct jsonx_err err;
    if (parse_train_req(b, &r, &err) < 0) {
        invalid(k, &err);
        return;
    }
    json_t *ctl = NULL, *train = NULL, *row = NULL;
    int rc = 0;
    if (!begin(k, true))
        return;
    ctl = load_controller(k, cid);
    if (ctl == NULL)
        goto rollback;
    rc = store_train_get(c->store, r.train_id, &train);
    if (rc < 0 && rc != -ENOENT)
        goto db_fail;
    unsigned status = 200;
    bool changed = true;
    if (!address_free(k, r.address, r.train_id))
        goto rollback;
    if (rc == -ENOENT) {
        json_t *cfg = r.plugin_config ? json_incref(r.plugin_config) : json_object();
        row = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:o, s:b, s:s, s:n, s:s, s:I, s:I}", "id",
                        r.train_id, "name", r.name, "description", r.description, "model", r.model,
                        "plugin_name", r.plugin_name ? r.plugin_name : "dc_motor", "plugin_config",
                        cfg, "invert_directions", 0, "desired_controller_id", cid,
                        "actual_controller_id", "reassignment_status",
                        registry_reassignment_status(cid, NULL, false), "created_at",
                        (json_int_t)k->now, "updated_at", (json_int_t)k->now);
        if (r.address > 0)
            json_object_set_new(row, "address", json_integer(r.address));
        if (r.driving != NULL)
            json_object_set(row, "driving", (json_t *)r.driving);
        rc = store_train_insert(c->store, row);
        if (rc == 0)
            rc = store_controller_bump_config(c->store, cid, k->now);
        if (rc < 0)
            goto db_fail;
        if (!addresses_assigned(k))
            goto rollback;
        status = 201;
        log_event(LOG_INFO, "train_registered", "{s:s, s:s}", "train_id", r.train_id, "controller",
                  cid);
    } else {
        const char *owner = json_string_value(json_object_get(train, "desired_controller_id"));
        if (owner != NULL && strcmp(owner, cid) == 0) {
            status = 200; /* already here: unchanged */
            changed = false;
        } else if (owner != NULL && !r.reassign) {
            store_rollback(c->store);
            json_t *body =
                json_pack("{s:s, s:s, s:s, s:s}", "detail", "", "error", "train_assigned_elsewhere",
                          "owner", owner, "field", "train_id");
            char detail[200];
            snprintf(detail, sizeof detail,
                     "train %s is assigned to controller %s; send reassign: true to move it",
                     r.train_id, owner);
            json_object_set_new(body, "detail", json_string(detail));
            http_response_json(k->resp, 409, body);
            goto out;
        } else {
            if (!stop_before_leaving(k, r.train_id, train))
                goto rollback;
            const char *actual = json_string_value(json_object_get(train, "actual_controller_id"));
            json_t *f = json_pack(
                "{s:s, s:s, s:I}", "desired_controller_id", cid, "reassignment_status",
                registry_reassignment_status(cid, actual, false), "updated_at", (json_int_t)k->now);
            rc = store_train_update(c->store, r.train_id, f);
            json_decref(f);
            if (rc == 0 && owner != NULL)
                rc = store_controller_bump_config(c->store, owner, k->now);
            if (rc == 0)
                rc = store_controller_bump_config(c->store, cid, k->now);
            if (rc < 0)
                goto db_fail;
            log_event(LOG_INFO, "train_reassigned", "{s:s, s:s?, s:s}", "train_id", r.train_id,
                      "from", owner, "to", cid);
        }
    }
    if (status != 201 && r.address > 0 &&
        r.address != json_integer_value(json_object_get(train, "address"))) {
        json_t *f = json_pack("{s:I, s:I}", "address", (json_int_t)r.address, "updated_at",
                              (json_int_t)k->now);
        rc = store_train_update(c->store, r.train_id, f);
        json_decref(f);
        if (rc < 0)
            goto db_fail;
        changed = true;
    }
    if (changed && !config_fits(k, cid, status == 201 ? "plugin.config" : "controller_id"))
        goto rollback;
    json_decref(train);
    train = NULL;
    rc = store_train_get(c->store, r.train_id, &train);
    if (rc < 0)
        goto db_fail;
    json_t *view = view_train(c, train, true);
    rc = store_commit(c->store);
    if (rc < 0) {
        json_decref(view);
        db_failed(k, rc);
        goto out;
    }
    if (changed)
        events_publish(c->events, "train", json_incref(view));
    http_response_json(k->resp, status, view);
    goto out;
db_fail:
    db_failed(k, rc);
rollback:
    store_rollback(c->store);
out:
    json_decref(ctl);
    json_decref(train);
    json_decref(row);
}

static void h_controller_train_post(struct call *k)
{
    char id[UUIDSTR_LEN + 1];
    if (!path_uuid(k, k->arg[0], id))
        return;
    json_t *b = body_object(k, false);
    if (b == NULL)
        return;
    register_train(k, id, b);
    json_decref(b);
}

static void h_train_post(struct call *k)
{
    json_t *b = body_object(k, false);
    if (b == NULL)
        return;
    char id[UUIDSTR_LEN + 1];
    struct jsonx_err err;
    int rc = jsonx_uuid(b, "controller_uuid", false, id, NULL, &err);
    if (rc == 0)
        jsonx_err_set(&err, "controller_uuid", "'controller_uuid' is required");
    if (rc != 1)
        invalid(k, &err);
    else
        register_train(k, id, b);
    json_decref(b);
}

static void h_train_put(struct call *k)
{
    struct central *c = k->c;
    const char *tid = k->arg[0];
    json_t *b = body_object(k, false);
    if (b == NULL)
        return;
    struct jsonx_err err;
    const char *name = NULL, *desc = NULL, *model = NULL, *plugin_name = NULL;
    json_t *plugin_config = NULL;
    bool invert = false, ctl_null = false, force = false;
    const json_t *driving = NULL;
    int has_driving = 0;
    int64_t address = 0;
    char ctl[UUIDSTR_LEN + 1] = "";
    int has_name, has_desc, has_model, has_invert, has_ctl, has_plugin;
    if ((has_name = jsonx_string(b, "name", 1, PROTO_NAME_MAX, false, &name, &err)) < 0 ||
        (has_desc = jsonx_string(b, "description", 0, PROTO_DESCRIPTION_MAX, true, &desc, &err)) <
            0 ||
        (has_model = jsonx_string(b, "model", 0, PROTO_MODEL_MAX, true, &model, &err)) < 0 ||
        (has_invert = jsonx_bool(b, "invert_directions", &invert, &err)) < 0 ||
        (has_plugin = parse_plugin(b, &plugin_name, &plugin_config, &err)) < 0 ||
        (has_ctl = jsonx_uuid(b, "controller_id", true, ctl, &ctl_null, &err)) < 0 ||
        jsonx_bool(b, "force", &force, &err) < 0 ||
        jsonx_int(b, "address", 1, 9999, &address, &err) < 0 ||
        (has_driving = parse_driving(b, &driving, &err)) < 0) {
        invalid(k, &err);
        json_decref(b);
        return;
    }
    json_t *train = NULL, *fields = json_object();
    int rc = store_begin(c->store, true);
    if (rc < 0) {
        db_failed(k, rc);
        goto out;
    }
    rc = store_train_get(c->store, tid, &train);
    if (rc == -ENOENT) {
        store_rollback(c->store);
        not_found_train(k, tid);
        goto out;
    }
    if (rc < 0)
        goto db_fail;
    /* Copies: train is replaced by its updated row before the log line below. */
    char owner_buf[UUIDSTR_LEN + 1] = "", actual_buf[UUIDSTR_LEN + 1] = "";
    const char *owner = NULL, *actual = NULL;
    if (json_is_string(json_object_get(train, "desired_controller_id"))) {
        snprintf(owner_buf, sizeof owner_buf, "%s",
                 json_string_value(json_object_get(train, "desired_controller_id")));
        owner = owner_buf;
    }
    if (json_is_string(json_object_get(train, "actual_controller_id"))) {
        snprintf(actual_buf, sizeof actual_buf, "%s",
                 json_string_value(json_object_get(train, "actual_controller_id")));
        actual = actual_buf;
    }
    const char *new_owner = owner;
    if (has_ctl) {
        new_owner = ctl_null ? NULL : ctl;
        if (new_owner != NULL) {
            json_t *nc = NULL;
            rc = store_controller_get(c->store, new_owner, &nc);
            json_decref(nc);
            if (rc == -ENOENT) {
                store_rollback(c->store);
                http_response_error(k->resp, 422, "invalid_field", "controller_id",
                                    "controller %s does not exist", new_owner);
                goto out;
            }
            if (rc < 0)
                goto db_fail;
        }
    }
    bool moved = (owner == NULL) != (new_owner == NULL) ||
                 (owner != NULL && new_owner != NULL && strcmp(owner, new_owner) != 0);
    /* What the owner's runtime config contains: name, plugin, invert_directions. */
    bool config_changed = false;
    if (has_name && strcmp(name, json_string_value(json_object_get(train, "name"))) != 0) {
        json_object_set_new(fields, "name", json_string(name));
        config_changed = true;
    }
    if (has_desc)
        json_object_set_new(fields, "description", desc ? json_string(desc) : json_null());
    if (has_model)
        json_object_set_new(fields, "model", model ? json_string(model) : json_null());
    if (address > 0 && address != json_integer_value(json_object_get(train, "address"))) {
        if (!address_free(k, address, tid)) {
            store_rollback(c->store);
            goto out;
        }
        json_object_set_new(fields, "address", json_integer(address));
    }
    if (has_invert && invert != json_is_true(json_object_get(train, "invert_directions"))) {
        json_object_set_new(fields, "invert_directions", json_boolean(invert));
        config_changed = true;
    }
    if (has_driving == 1) {
        json_t *want = driving ? json_deep_copy(driving) : json_object();
        if (!json_equal(want, json_object_get(train, "driving")))
            config_changed = true;
        json_object_set_new(fields, "driving", want);
    }
    if (has_plugin == 1) {
        json_t *cfg = plugin_config ? plugin_config : json_object();
        if (plugin_config)
            json_incref(cfg);
        if (plugin_name == NULL) /* {"plugin": {"config": ...}} keeps the plugin */
            plugin_name = json_string_value(json_object_get(train, "plugin_name"));
        if (strcmp(plugin_name, json_string_value(json_object_get(train, "plugin_name"))) != 0 ||
            !json_equal(cfg, json_object_get(train, "plugin_config")))
            config_changed = true;
        json_object_set_new(fields, "plugin_name", json_string(plugin_name));
        json_object_set_new(fields, "plugin_config", cfg);
    }
    if (moved && !stop_before_leaving(k, tid, train)) {
        store_rollback(c->store);
        goto out;
    }
    /* force: the new owner gets the train at once, without waiting for the old holder to
     * release it (one that does not report its trains, e.g. the earlier edge, never does
     * while it runs). Shown as "forced" until the new owner reports it. */
    bool forced =
        moved && force && actual != NULL && (new_owner == NULL || strcmp(actual, new_owner) != 0);
    if (moved) {
        json_object_set_new(fields, "desired_controller_id",
                            new_owner ? json_string(new_owner) : json_null());
        json_object_set_new(
            fields, "reassignment_status",
            json_string(forced ? "forced"
                               : registry_reassignment_status(new_owner, actual, false)));
    }
    if (forced) {
        json_object_set_new(fields, "actual_controller_id", json_null());
        log_event(LOG_WARNING, "train_move_forced", "{s:s, s:s, s:s?}", "train_id", tid, "holder",
                  actual, "to", new_owner);
    }
    if (json_object_size(fields) > 0)
        json_object_set_new(fields, "updated_at", json_integer(k->now));
    rc = store_train_update(c->store, tid, fields);
    if (rc == 0 && owner != NULL && (moved || config_changed))
        rc = store_controller_bump_config(c->store, owner, k->now);
    if (rc == 0 && moved && new_owner != NULL)
        rc = store_controller_bump_config(c->store, new_owner, k->now);
    if (rc < 0)
        goto db_fail;
    if (new_owner != NULL && (moved || config_changed) &&
        !config_fits(k, new_owner, moved ? "controller_id" : "plugin.config")) {
        store_rollback(c->store);
        goto out;
    }
    json_decref(train);
    train = NULL;
    rc = store_train_get(c->store, tid, &train);
    if (rc < 0)
        goto db_fail;
    json_t *view = view_train(c, train, true);
    rc = store_commit(c->store);
    if (rc < 0) {
        json_decref(view);
        db_failed(k, rc);
        goto out;
    }
    if (moved)
        log_event(LOG_INFO, "train_reassigned", "{s:s, s:s?, s:s?}", "train_id", tid, "from", owner,
                  "to", new_owner);
    events_publish(c->events, "train", json_incref(view));
    http_response_json(k->resp, 200, view);
    goto out;
db_fail:
    store_rollback(c->store);
    db_failed(k, rc);
out:
    json_decref(b);
    json_decref(train);
    json_decref(fields);
}

static void h_train_delete(struct call *k)
{
    struct central *c = k->c;
    const char *tid = k->arg[0];
    json_t *train = NULL;
    int rc = 0;
    if (!begin(k, true))
        return;
    rc = store_train_get(c->store, tid, &train);
    if (rc == 0 && !stop_before_leaving(k, tid, train)) {
        json_decref(train);
        store_rollback(c->store);
        return;
    }
    if (rc == 0) {
        const char *owner = json_string_value(json_object_get(train, "desired_controller_id"));
        rc = store_train_delete(c->store, tid);
        if (rc == 0 && owner != NULL)
            rc = store_controller_bump_config(c->store, owner, k->now);
    }
    json_decref(train);
    if (rc == -ENOENT) {
        store_rollback(c->store);
        not_found_train(k, tid);
        return;
    }
    if (rc < 0) {
        store_rollback(c->store);
        db_failed(k, rc);
        return;
    }
    if ((rc = store_commit(c->store)) < 0) {
        db_failed(k, rc);
        return;
    }
    log_event(LOG_INFO, "train_deleted", "{s:s}", "train_id", tid);
    events_publish(c->events, "train", json_pack("{s:s, s:b}", "id", tid, "deleted", 1));
    k->resp->status = 204;
}

/* GET /api/trains/{id}/status: what the train last reported, or its zero status when it never
 * did; a status row of a train that is not (or no longer) registered is still shown. */
static void h_train_status(struct call *k)
{
    struct central *c = k->c;
    if (!begin(k, false))
        return;
    json_t *row = NULL, *train = NULL, *view = NULL;
    int rc = store_train_get(c->store, k->arg[0], &train);
    if (rc == 0) {
        rc = view_train_status(c, train, &view);
    } else if (rc == -ENOENT && (rc = store_status_get(c->store, k->arg[0], &row)) == 0) {
        view = view_status_live(c, row, NULL);
        rc = view ? 0 : -ENOMEM;
    }
    store_rollback(c->store);
    if (rc == -ENOENT)
        not_found_train(k, k->arg[0]);
    else if (rc < 0)
        db_failed(k, rc);
    else
        http_response_json(k->resp, 200, view);
    json_decref(row);
    json_decref(train);
}

static const char *const actions[] = {"setSpeed", "setDirection", "start", "stop", "emergencyStop"};

/* The action of a command body: `action`, or the earlier forms the edges also take,
 * `{"command": A}` (both must agree when both are given) and `{"speed": N}` (setSpeed); any
 * case, answered with the canonical name. 1 with *out set, or -1 with err naming the field. */
static int command_action(const json_t *b, const char **out, struct jsonx_err *err)
{
    const char *action = NULL, *command = NULL;
    int a = jsonx_string(b, "action", 1, 32, false, &action, err);
    int m = a < 0 ? 0 : jsonx_string(b, "command", 1, 32, false, &command, err);
    if (a < 0 || m < 0)
        return -1;
    if (a == 1 && m == 1 && strcasecmp(action, command) != 0) {
        jsonx_err_set(err, "command", "'action' and 'command' name different actions");
        return -1;
    }
    const char *name = a == 1 ? action : command;
    const char *field = a == 1 ? "action" : "command";
    if (name == NULL && json_object_get(b, "speed") != NULL)
        name = "setSpeed";
    if (name == NULL) {
        jsonx_err_set(err, "action",
                      "'action' is required: one of setSpeed, setDirection, start, stop, "
                      "emergencyStop");
        return -1;
    }
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        if (strcasecmp(name, actions[i]) == 0) {
            *out = actions[i];
            return 1;
        }
    }
    jsonx_err_set(err, field,
                  "unknown action '%.40s': use setSpeed, setDirection, start, stop or "
                  "emergencyStop",
                  name);
    return -1;
}

/* POST /api/trains/{id}/command: validated here, so that the edge only ever receives commands
 * it can apply whole; published with QoS 1. 202: the broker has it, not that a train moved
 * (the status topic says that). */
static void h_command(struct call *k)
{
    struct central *c = k->c;
    const char *tid = k->arg[0];
    json_t *b = body_object(k, false);
    if (b == NULL)
        return;
    struct jsonx_err err;
    const char *action = NULL, *dir = NULL;
    int64_t speed = -1;
    int has_action = command_action(b, &action, &err);
    if (has_action != 1 || jsonx_int(b, "speed", 0, 100, &speed, &err) < 0 ||
        jsonx_string(b, "direction", 1, 16, false, &dir, &err) < 0) {
        invalid(k, &err);
        json_decref(b);
        return;
    }
    char direction[16] = "";
    if (dir != NULL) {
        if (strcasecmp(dir, "FORWARD") == 0)
            snprintf(direction, sizeof direction, "FORWARD");
        else if (strcasecmp(dir, "REVERSE") == 0 || strcasecmp(dir, "BACKWARD") == 0)
            snprintf(direction, sizeof direction, "REVERSE");
        else {
            http_response_error(k->resp, 422, "invalid_field", "direction",
                                "'direction' must be FORWARD or REVERSE");
            json_decref(b);
            return;
        }
    }
    if (strcmp(action, "setSpeed") == 0 && speed < 0) {
        http_response_error(k->resp, 422, "invalid_field", "speed",
                            "setSpeed needs 'speed' (0-100)");
        json_decref(b);
        return;
    }
    if (strcmp(action, "setDirection") == 0 && direction[0] == '\0') {
        http_response_error(k->resp, 422, "invalid_field", "direction",
                            "setDirection needs 'direction' (FORWARD or REVERSE)");
        json_decref(b);
        return;
    }
    bool drives = strcmp(action, "start") == 0 || (strcmp(action, "setSpeed") == 0 && speed > 0);
    if (drives && layout_is_stopped(c)) {
        http_response_error(k->resp, 409, "layout_stopped", "action",
                            "the layout is stopped after an emergency stop: resume it (POST "
                            "/api/layout/resume, the web UI's Resume) before driving");
        json_decref(b);
        return;
    }
    json_t *train = NULL, *holder = NULL;
    char holder_id[UUIDSTR_LEN + 1] = "";
    enum presence presence = PRESENCE_UNKNOWN;
    int rc = store_begin(c->store, false);
    if (rc == 0) {
        rc = store_train_get(c->store, tid, &train);
        /* Who should receive it: the controller running the train, else the one it is
         * assigned to. A client can tell from the answer whether anyone is listening. */
        const char *h = json_string_value(json_object_get(train, "actual_controller_id"));
        if (h == NULL)
            h = json_string_value(json_object_get(train, "desired_controller_id"));
        if (rc == 0 && h != NULL && store_controller_get(c->store, h, &holder) == 0) {
            snprintf(holder_id, sizeof holder_id, "%s", h);
            presence = view_presence(c, holder, k->now);
        }
        const char *d = json_string_value(json_object_get(train, "desired_controller_id"));
        json_t *owner = NULL;
        if (rc == 0 && drives && d != NULL && store_controller_get(c->store, d, &owner) == 0 &&
            json_is_false(json_object_get(owner, "enabled")))
            rc = -EPERM;
        json_decref(owner);
        store_rollback(c->store);
    }
    json_decref(train);
    if (rc == -ENOENT) {
        not_found_train(k, tid);
        json_decref(b);
        json_decref(holder);
        return;
    }
    if (rc == -EPERM) {
        http_response_error(k->resp, 409, "controller_disabled", "action",
                            "the train's controller is disabled: enable it to drive the train");
        json_decref(b);
        json_decref(holder);
        return;
    }
    if (rc < 0) {
        db_failed(k, rc);
        json_decref(b);
        json_decref(holder);
        return;
    }
    json_t *payload = json_pack("{s:s}", "action", action);
    if (speed >= 0)
        json_object_set_new(payload, "speed", json_integer(speed));
    if (direction[0])
        json_object_set_new(payload, "direction", json_string(direction));
    rc = notify_command(c->notify, tid, payload);
    if (rc == -ENOTCONN)
        http_response_error(k->resp, 503, "broker_unavailable", NULL,
                            "the MQTT broker is not reachable; the command was not sent");
    else if (rc < 0)
        http_response_error(k->resp, 503, "broker_unavailable", NULL,
                            "the command could not be published");
    else {
        bool listening = presence == PRESENCE_ONLINE || presence == PRESENCE_STALE;
        char msg[200];
        if (listening)
            snprintf(msg, sizeof msg, "Command sent");
        else if (holder_id[0] == '\0')
            snprintf(msg, sizeof msg,
                     "Command published, but the train is on no controller: not "
                     "delivered");
        else
            snprintf(msg, sizeof msg,
                     "Command published, but controller %.100s is %s: not delivered",
                     json_string_value(json_object_get(holder, "name")), presence_name(presence));
        http_response_json(k->resp, 202,
                           json_pack("{s:s, s:s, s:s, s:s?, s:s, s:b}", "message", msg, "train_id",
                                     tid, "action", action, "controller_id",
                                     holder_id[0] ? holder_id : NULL, "controller_status",
                                     presence_name(presence), "delivered", listening));
    }
    if (rc == 0)
        log_event(LOG_INFO, "command_relayed", "{s:s, s:O}", "train_id", tid, "command", payload);
    json_decref(payload);
    json_decref(holder);
    json_decref(b);
}

/* POST /api/emergency-stop: the broadcast that Roundhouse edges obey for all their trains, and
 * an emergencyStop on the command topic of every train, because edges of the earlier system
 * listen only there (every train, not only assigned ones: an earlier edge never follows a
 * changed assignment). The layout stays stopped until POST /api/layout/resume (layout.h).
 * The answer counts the trains and the controllers (desired or actual) it was sent to, and
 * the live controllers asked to confirm; GET /api/layout tells who did. */
static void h_emergency_stop(struct call *k)
{
    json_t *b = body_object(k, true);
    if (b == NULL)
        return;
    struct jsonx_err err;
    const char *reason = NULL;
    if (jsonx_string(b, "reason", 0, 200, true, &reason, &err) < 0) {
        invalid(k, &err);
        json_decref(b);
        return;
    }
    char origin[96];
    snprintf(origin, sizeof origin, "api %s", k->req->client_ip);
    struct layout_stop_result r;
    if (layout_emergency_stop(k->c, reason ? reason : "operator", origin, &r) < 0)
        http_response_error(k->resp, 503, "broker_unavailable", NULL,
                            "the MQTT broker is not reachable; the emergency stop was NOT sent");
    else
        http_response_json(k->resp, 202,
                           json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:b}", "message",
                                     "Emergency stop sent", "reason", reason ? reason : "operator",
                                     "trains", (json_int_t)r.trains, "controllers",
                                     (json_int_t)r.controllers, "trains_failed",
                                     (json_int_t)r.trains_failed, "estop_id", r.estop_id,
                                     "expected", (json_int_t)r.expected, "layout_stopped", 1));
    json_decref(b);
}

/* GET /api/layout: stopped or not, and who confirmed the last emergency stop. */
static void h_layout(struct call *k)
{
    http_response_json(k->resp, 200, layout_view(k->c));
}

/* POST /api/layout/resume: driving commands go through again; no train starts. */
static void h_layout_resume(struct call *k)
{
    char origin[96];
    snprintf(origin, sizeof origin, "api %s", k->req->client_ip);
    int rc = layout_resume(k->c, origin);
    if (rc < 0)
        db_failed(k, rc);
    else
        http_response_json(k->resp, 200, layout_view(k->c));
}

/* POST /api/status/update (compat): an HTTP way to report a train's status. */
static void h_status_update(struct call *k)
{
    struct central *c = k->c;
    json_t *b = body_object(k, false);
    if (b == NULL)
        return;
    struct jsonx_err err;
    const char *tid = NULL, *dir = NULL, *position = NULL;
    int64_t speed = 0;
    int rc = get_train_id(b, "train_id", &tid, &err);
    if (rc == 0)
        jsonx_err_set(&err, "train_id", "'train_id' is required");
    json_t *voltage = json_object_get(b, "voltage"), *current = json_object_get(b, "current");
    if (rc != 1 || jsonx_int(b, "speed", 0, 100, &speed, &err) < 0 ||
        jsonx_string(b, "direction", 0, 16, true, &dir, &err) < 0 ||
        jsonx_string(b, "position", 0, 100, true, &position, &err) < 0) {
        invalid(k, &err);
        json_decref(b);
        return;
    }
    if ((voltage && !json_is_number(voltage)) || (current && !json_is_number(current))) {
        http_response_error(k->resp, 422, "invalid_field",
                            voltage && !json_is_number(voltage) ? "voltage" : "current",
                            "voltage and current must be numbers");
        json_decref(b);
        return;
    }
    json_t *row = json_pack("{s:s, s:I, s:I}", "train_id", tid, "speed", (json_int_t)speed,
                            "updated_at", (json_int_t)k->now);
    if (dir)
        json_object_set_new(row, "direction", json_string(dir));
    const char *ts = NULL;
    if (jsonx_string(b, "timestamp", 0, 64, true, &ts, &err) == 1 && ts != NULL)
        json_object_set_new(row, "reported_at", json_string(ts));
    if (position)
        json_object_set_new(row, "position", json_string(position));
    if (voltage)
        json_object_set_new(row, "voltage", json_real(json_number_value(voltage)));
    if (current)
        json_object_set_new(row, "current", json_real(json_number_value(current)));
    json_t *train = NULL;
    rc = store_begin(c->store, true);
    if (rc == 0) {
        rc = store_train_get(c->store, tid, &train);
        if (rc == 0)
            rc = store_status_upsert(c->store, row);
        if (rc == 0)
            rc = store_commit(c->store);
        else
            store_rollback(c->store);
    }
    if (rc == -ENOENT)
        not_found_train(k, tid);
    else if (rc < 0)
        db_failed(k, rc);
    else
        http_response_json(k->resp, 200,
                           json_pack("{s:s, s:s}", "message", "Status updated", "train_id", tid));
    json_decref(train);
    json_decref(row);
    json_decref(b);
}

/* ---- configuration documents ---- */

static void h_full_config(struct call *k)
{
    struct central *c = k->c;
    int rc = 0;
    if (!begin(k, false))
        return;
    json_t *plugins = NULL, *rows = NULL;
    rc = store_plugin_list(c->store, &plugins);
    if (rc == 0)
        rc = store_controller_list(c->store, &rows);
    if (rc < 0) {
        store_rollback(c->store);
        db_failed(k, rc);
        json_decref(plugins);
        return;
    }
    json_t *ctls = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
        json_array_append_new(ctls, view_controller(c, row, k->now, true));
    store_rollback(c->store);
    json_decref(rows);
    http_response_json(k->resp, 200,
                       json_pack("{s:o, s:o}", "plugins", plugins, "edge_controllers", ctls));
}

static void h_plugins(struct call *k)
{
    struct central *c = k->c;
    int rc = 0;
    if (!begin(k, false))
        return;
    json_t *plugins = NULL;
    rc = store_plugin_list(c->store, &plugins);
    store_rollback(c->store);
    if (rc < 0)
        db_failed(k, rc);
    else
        http_response_json(k->resp, 200, plugins);
}

static void export_work(void *ctx, const struct http_request *req, struct http_response *resp)
{
    (void)req;
    json_t *doc = NULL;
    struct call k = {.c = ctx, .req = req, .resp = resp};
    int rc = registry_export(k.c, timeutil_now_ms() / 1000, &doc);
    if (rc < 0)
        db_failed(&k, rc);
    else
        http_response_json(resp, 200, doc);
}

static void h_export(struct call *k)
{
    http_request_defer(k->req, k->resp, export_work, k->c);
}

static void import_work(void *ctx, const struct http_request *req, struct http_response *resp)
{
    struct call call = {.c = ctx, .req = req, .resp = resp, .now = timeutil_now_ms() / 1000};
    struct call *k = &call;
    json_t *b = body_object(k, false);
    if (b == NULL)
        return;
    char field[128] = "", detail[256] = "";
    json_t *summary = NULL;
    int rc = registry_import(k->c, b, k->now, &summary, field, sizeof field, detail, sizeof detail);
    if (rc == -EINVAL)
        http_response_error(k->resp, 422, "invalid_field", field[0] ? field : NULL, "%s", detail);
    else if (rc < 0)
        db_failed(k, rc);
    else
        http_response_json(k->resp, 200, summary);
    json_decref(b);
}

/* The parse and the write of a large document run on the worker, like the list. */
static void h_import(struct call *k)
{
    http_request_defer(k->req, k->resp, import_work, k->c);
}

static void h_events(struct call *k)
{
    events_stream(k->c->events, k->req, k->resp);
}

/* ---- train photos ---- */

/* The type of a photo from its first bytes (PNG signature, JPEG start-of-image marker), so
 * that what is stored and served is what the bytes are, whatever a client claimed. */
static const char *photo_type(const char *b, size_t n)
{
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const unsigned char *u = (const unsigned char *)b;
    if (n >= sizeof png && memcmp(u, png, sizeof png) == 0)
        return "image/png";
    if (n >= 4 && u[0] == 0xFF && u[1] == 0xD8 && u[2] == 0xFF)
        return "image/jpeg";
    return NULL;
}

bool http_api_raw_body(const char *method, const char *url)
{
    static const char prefix[] = "/api/trains/", suffix[] = "/photo";
    size_t n = strlen(url), np = sizeof prefix - 1, ns = sizeof suffix - 1;
    if (strcmp(method, "PUT") != 0 || n <= np + ns || strncmp(url, prefix, np) != 0 ||
        strcmp(url + n - ns, suffix) != 0)
        return false;
    /* Exactly one segment, the train id, between them. */
    return strchr(url + np, '/') == url + n - ns;
}

static void h_train_photo_put(struct call *k)
{
    struct central *c = k->c;
    const char *tid = k->arg[0];
    const char *declared = http_request_header(k->req, "Content-Type");
    char want[32] = "";
    if (declared != NULL)
        snprintf(want, sizeof want, "%.*s", (int)strcspn(declared, "; "), declared);
    if (strcasecmp(want, "image/png") != 0 && strcasecmp(want, "image/jpeg") != 0) {
        http_response_error(k->resp, 415, "unsupported_media_type", "Content-Type",
                            "a photo is sent as Content-Type: image/png or image/jpeg");
        return;
    }
    const char *type = photo_type(k->req->body, k->req->body_len);
    if (type == NULL || strcasecmp(type, want) != 0) {
        http_response_error(k->resp, 415, "unsupported_media_type", "photo",
                            "the body is not a %s image (checked from its bytes)",
                            strcasecmp(want, "image/png") == 0 ? "PNG" : "JPEG");
        return;
    }
    if (!begin(k, true))
        return;
    int rc = store_train_photo_put(c->store, tid, type, k->req->body, k->req->body_len, k->now);
    json_t *row = NULL, *view = NULL;
    if (rc == 0 && (rc = store_train_get(c->store, tid, &row)) == 0)
        view = view_train(c, row, true);
    json_decref(row);
    if (rc < 0) {
        store_rollback(c->store);
        if (rc == -ENOENT)
            not_found_train(k, tid);
        else
            db_failed(k, rc);
        return;
    }
    if ((rc = store_commit(c->store)) < 0) {
        json_decref(view);
        db_failed(k, rc);
        return;
    }
    log_event(LOG_INFO, "train_photo_set", "{s:s, s:s, s:I}", "train_id", tid, "media_type", type,
              "bytes", (json_int_t)k->req->body_len);
    if (view != NULL)
        events_publish(c->events, "train", json_incref(view));
    http_response_json(k->resp, 200, view != NULL ? view : json_object());
}

/* A photo that is not there: the train itself may be missing, or only its photo. */
static void photo_not_found(struct call *k, const char *tid)
{
    json_t *row = NULL;
    if (store_train_get(k->c->store, tid, &row) == -ENOENT)
        not_found_train(k, tid);
    else
        http_response_error(k->resp, 404, "not_found", NULL, "train %s has no photo", tid);
    json_decref(row);
}

static void h_train_photo_get(struct call *k)
{
    struct central *c = k->c;
    char type[32];
    void *data = NULL;
    size_t len = 0;
    if (!begin(k, false))
        return;
    int rc = store_train_photo_get(c->store, k->arg[0], type, sizeof type, &data, &len);
    if (rc == -ENOENT)
        photo_not_found(k, k->arg[0]);
    store_rollback(c->store);
    if (rc == -ENOENT)
        return;
    if (rc < 0) {
        db_failed(k, rc);
        return;
    }
    /* Only the two types photo_type admits are ever stored: the answer names one of them. */
    k->resp->status = 200;
    k->resp->text = data;
    k->resp->text_len = len;
    k->resp->content_type = strcmp(type, "image/png") == 0 ? "image/png" : "image/jpeg";
}

static void h_train_photo_delete(struct call *k)
{
    struct central *c = k->c;
    const char *tid = k->arg[0];
    if (!begin(k, true))
        return;
    int rc = store_train_photo_delete(c->store, tid);
    json_t *row = NULL, *view = NULL;
    if (rc == 0 && store_train_get(c->store, tid, &row) == 0)
        view = view_train(c, row, true);
    json_decref(row);
    if (rc < 0) {
        if (rc == -ENOENT)
            photo_not_found(k, tid);
        else
            db_failed(k, rc);
        store_rollback(c->store);
        return;
    }
    if ((rc = store_commit(c->store)) < 0) {
        json_decref(view);
        db_failed(k, rc);
        return;
    }
    log_event(LOG_INFO, "train_photo_removed", "{s:s}", "train_id", tid);
    if (view != NULL)
        events_publish(c->events, "train", view);
    k->resp->status = 204;
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
    int n = snprintf(buf, buflen, "%s", path);
    if (n < 0 || (size_t)n >= buflen)
        return -1;
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

static bool match(const char *pattern, const char *const *seg, int nseg, const char *arg[2])
{
    char pbuf[128];
    const char *pseg[MAX_SEGMENTS];
    int np = split(pattern, pbuf, sizeof pbuf, pseg);
    if (np != nseg)
        return false;
    int a = 0;
    for (int i = 0; i < np; i++) {
        if (strcmp(pseg[i], "*") == 0) {
            if (seg[i][0] == '\0')
                return false;
            if (a < 2)
                arg[a++] = seg[i];
        } else if (strcmp(pseg[i], seg[i]) != 0) {
            return false;
        }
    }
    return true;
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
            routes[i].fn(&k);
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
