/* Registration (POST /api/controllers/register, docs/api.md): identity rules, the controller's
 * secret, the registration token. The decisions are registry.c's; this is their HTTP side. */
#include "api_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "api_views.h"
#include "central.h"
#include "events.h"
#include "ratelimit.h"
#include "registry.h"
#include "runtime_config.h"
#include "secret.h"
#include "store.h"
#include "timeutil.h"

/* ---- controllers ---- */

/* The request of POST /api/controllers/register, validated. */
struct register_req {
    const char *name, *address, *version, *platform, *hardware_id;
    bool has_uuid;
    char uuid[UUIDSTR_LEN + 1];
    int64_t applied;
    int64_t epoch;     /* the session epoch the edge already announced over MQTT, -1: none */
    bool issue_secret; /* the edge keeps a controller secret: issue one when none is on record */
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
        jsonx_int(b, "session_epoch", 0, INT64_MAX / 2, &r->epoch, err) < 0 ||
        jsonx_bool(b, "issue_secret", &r->issue_secret, err) < 0)
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

/* With --registration-token, the requests that put controllers into the registry (register,
 * import) must carry it; answers 401 itself. */
bool api_registration_token_ok(struct call *k)
{
    const char *want = k->c->opts.registration_token;
    if (want[0] == '\0')
        return true;
    if (secret_equal(http_request_header(k->req, "X-Registration-Token"), want))
        return true;
    log_event(LOG_WARNING, "registration_token_refused", "{s:s, s:s}", "path", k->req->path,
              "client", k->req->client_ip);
    http_response_error(k->resp, 401, "registration_token_invalid", "X-Registration-Token",
                        "a valid X-Registration-Token header is required");
    return false;
}

/* The controller secret a request presents (X-Controller-Secret): NULL when none. false,
 * with 422 answered, when the header is there but is not a secret's shape. */
static bool presented_secret(struct call *k, const char **out)
{
    const char *s = http_request_header(k->req, CONTROLLER_SECRET_HEADER);
    *out = NULL;
    if (s == NULL)
        return true;
    if (!secret_valid(s)) {
        http_response_error(k->resp, 422, "invalid_header", CONTROLLER_SECRET_HEADER,
                            "the " CONTROLLER_SECRET_HEADER " header must be the %d lower-case "
                            "hex digits the central issued",
                            SECRET_HEX_LEN);
        return false;
    }
    *out = s;
    return true;
}

/* Whether the request may act as the controller of this row: always for a controller that
 * holds no secret (the earlier system's edges; docs/security.md says what that leaves
 * open), else only with its secret. Answers 401 (none presented) or 403 (wrong) itself, and
 * logs the attempt. */
bool api_controller_authorized(struct call *k, const json_t *row)
{
    const char *stored = json_string_value(json_object_get(row, "secret_hash"));
    if (stored == NULL)
        return true;
    const char *given;
    if (!presented_secret(k, &given))
        return false;
    if (given != NULL && secret_matches(given, stored))
        return true;
    atomic_fetch_add(&k->c->counters.controller_auth_failures, 1);
    log_event(LOG_WARNING, "controller_auth_failed", "{s:s?, s:s, s:s, s:s, s:s}", "uuid",
              json_string_value(json_object_get(row, "id")), "reason",
              given == NULL ? "secret_missing" : "secret_wrong", "method", k->req->method, "path",
              k->req->path, "client", k->req->client_ip);
    if (given == NULL)
        http_response_error(
            k->resp, 401, "controller_secret_required", CONTROLLER_SECRET_HEADER,
            "this controller holds a secret: send it in the " CONTROLLER_SECRET_HEADER " header");
    else
        http_response_error(k->resp, 403, "controller_secret_invalid", CONTROLLER_SECRET_HEADER,
                            "the " CONTROLLER_SECRET_HEADER " header is not this controller's "
                            "secret");
    return false;
}

void h_register(struct call *k)
{
    struct central *c = k->c;
    int64_t t0 = timeutil_mono_ms();
    if (!api_registration_token_ok(k)) {
        atomic_fetch_add(&c->counters.registrations_rejected, 1);
        return;
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
    json_t *b = api_body_object(k, false);
    if (b == NULL)
        return;
    struct register_req r;
    struct jsonx_err err;
    if (parse_register(b, &r, &err) < 0) {
        api_invalid(k, &err);
        json_decref(b);
        return;
    }
    const char *presented = NULL;
    if (!presented_secret(k, &presented)) {
        json_decref(b);
        return;
    }
    char issued[SECRET_HEX_LEN + 1] = "";

    json_t *existing = NULL, *candidates = NULL, *fields = NULL;
    char id[UUIDSTR_LEN + 1] = "";
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
            cand[ncand].secured = json_is_string(json_object_get(row, "secret_hash"));
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

    /* Rule 1 for a controller that holds a secret: only with it (no takeover by UUID). Rule 2
     * adopts the secret the edge presents with the UUID, as it adopts the UUID: the edge
     * kept both across the database reset. Otherwise one is issued to an edge that asks,
     * when none is on record (its first registration, or its first since the upgrade). */
    const char *secret_source = NULL;
    if (d.action == REGISTRY_REACTIVATE && !api_controller_authorized(k, existing)) {
        store_rollback(c->store);
        goto out;
    }
    bool on_record =
        d.action == REGISTRY_REACTIVATE && json_is_string(json_object_get(existing, "secret_hash"));
    if (!on_record && presented != NULL &&
        (d.action == REGISTRY_REACTIVATE || d.action == REGISTRY_RESTORE)) {
        char h[SHA256_HEX_LEN + 1];
        secret_hash(presented, h);
        json_object_set_new(fields, "secret_hash", json_string(h));
        secret_source = "adopted";
    } else if (!on_record && r.issue_secret) {
        char h[SHA256_HEX_LEN + 1];
        rc = secret_generate(issued);
        if (rc < 0) {
            store_rollback(c->store);
            log_event(LOG_ERROR, "controller_secret_failed", "{s:s}", "error", strerror(-rc));
            http_response_error(k->resp, 503, "unavailable", NULL,
                                "no random numbers for a controller secret; try again");
            goto out;
        }
        secret_hash(issued, h);
        json_object_set_new(fields, "secret_hash", json_string(h));
        secret_source = "issued";
    }

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
    json_t *answer = json_pack(
        "{s:s, s:O, s:O?, s:s, s:O, s:i, s:O, s:b}", "uuid", id, "name",
        json_object_get(saved, "name"), "address", json_object_get(saved, "address"), "status",
        status, "config_version", json_object_get(saved, "config_version"), "heartbeat_interval",
        c->opts.heartbeat_interval, "session_epoch", json_object_get(saved, "session_epoch"),
        "secured", json_is_string(json_object_get(saved, "secret_hash")));
    /* Shown once, to this edge only: the central keeps no copy. */
    if (answer != NULL && issued[0] != '\0')
        json_object_set_new(answer, "controller_secret", json_string(issued));
    http_response_json(k->resp, 200, answer);
    log_event(LOG_INFO, "controller_registered", "{s:s, s:s, s:s, s:s, s:s?, s:I}", "uuid", id,
              "status", status, "name", r.name, "client", k->req->client_ip, "secret",
              secret_source, "duration_ms", (json_int_t)(timeutil_mono_ms() - t0));
    json_decref(saved);
    goto out;

db_fail_tx:
    store_rollback(c->store);
db_fail:
    api_db_failed(k, rc);
out:
    json_decref(b);
    json_decref(existing);
    json_decref(candidates);
    json_decref(fields);
}
