/* Registration (POST /api/controllers/register, docs/api.md): identity rules, the controller's
 * secret, the registration token. The decisions are registry.c's and the transaction that
 * carries them out is registry_tx.c's; this is their HTTP side. */
#include "api_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "central.h"
#include "protocol.h"
#include "ratelimit.h"
#include "registry.h"
#include "registry_tx.h"
#include "secret.h"
#include "timeutil.h"

/* The request of POST /api/controllers/register, validated (the secret header apart). */
static int parse_register(const json_t *b, struct registry_request *r, struct jsonx_err *err)
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

/* With --registration-token, the requests that put controllers into the registry (register,
 * import) must carry it; answers 401 itself. */
bool api_registration_token_ok(struct call *k)
{
    const char *want = k->c->opts.registration_token;
    if (want[0] == '\0')
        return true;
    if (secret_equal(http_request_header(k->req, "X-Registration-Token"), want))
        return true;
    log_event(RH_LOG_WARNING, "registration_token_refused", "{s:s, s:s}", "path", k->req->path,
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

/* The controller `id` holds a secret and the request did not present it (why): counted,
 * logged, and answered 401 (none presented) or 403 (wrong). */
static void refuse_controller(struct call *k, const char *id, enum registry_secret_check why)
{
    bool missing = why == REGISTRY_SECRET_MISSING;
    atomic_fetch_add(&k->c->counters.controller_auth_failures, 1);
    log_event(RH_LOG_WARNING, "controller_auth_failed", "{s:s?, s:s, s:s, s:s, s:s}", "uuid", id,
              "reason", missing ? "secret_missing" : "secret_wrong", "method", k->req->method,
              "path", k->req->path, "client", k->req->client_ip);
    if (missing)
        http_response_error(
            k->resp, 401, "controller_secret_required", CONTROLLER_SECRET_HEADER,
            "this controller holds a secret: send it in the " CONTROLLER_SECRET_HEADER " header");
    else
        http_response_error(k->resp, 403, "controller_secret_invalid", CONTROLLER_SECRET_HEADER,
                            "the " CONTROLLER_SECRET_HEADER " header is not this controller's "
                            "secret");
}

/* Whether the request may act as the controller of this row: always for a controller that
 * holds no secret (the earlier system's edges; docs/security.md says what that leaves
 * open), else only with its secret. Answers 401 (none presented) or 403 (wrong) itself, and
 * logs the attempt. */
bool api_controller_secret_ok(struct call *k, const char *id, const char *secret_hash)
{
    if (secret_hash == NULL)
        return true;
    const char *given;
    if (!presented_secret(k, &given))
        return false;
    enum registry_secret_check why = registry_secret_check(secret_hash, given);
    if (why == REGISTRY_SECRET_OK)
        return true;
    refuse_controller(k, id, why);
    return false;
}

bool api_controller_authorized(struct call *k, const json_t *row)
{
    return api_controller_secret_ok(k, json_string_value(json_object_get(row, "id")),
                                    json_string_value(json_object_get(row, "secret_hash")));
}

enum api_caller api_shared_caller(struct call *k, enum auth_role need)
{
    if (!k->c->opts.auth)
        return API_CALLER_ACCOUNT;
    if (accounts_identify(k->c, k->req, k->now, &k->who) < 0) {
        api_db_failed(k, -EIO);
        return API_CALLER_REFUSED;
    }
    if (k->who.role >= need)
        return API_CALLER_ACCOUNT;
    if (k->who.role == AUTH_ROLE_NONE && !k->who.presented)
        return API_CALLER_CONTROLLER;
    /* An expired or unknown credential: the caller meant to log in (the UI with an old
     * session), and must hear so rather than be asked for a controller's secret. */
    accounts_refuse(k->req, k->resp, k->who.role == AUTH_ROLE_NONE ? 401 : 403, need, &k->who);
    return API_CALLER_REFUSED;
}

/* Registration's rate limit (--register-rate) per client address: false with 429 sent. */
static bool register_rate_ok(struct call *k)
{
    int retry = 1;
    if (k->c->register_limit == NULL ||
        ratelimit_take(k->c->register_limit, k->req->client_ip, timeutil_mono_ms(), &retry))
        return true;
    k->resp->retry_after = retry;
    http_response_error(k->resp, 429, "rate_limited", NULL,
                        "too many registrations from %s; retry in %d s", k->req->client_ip, retry);
    return false;
}

/* The answer to a registration that was carried out. The controller secret is shown once,
 * to this edge only: the central keeps no copy. */
static void register_answer(struct call *k, const struct registry_request *r,
                            const struct registry_outcome *o)
{
    http_response_pack(
        k->resp, 200, "{s:s, s:s, s:s?, s:s, s:I, s:i, s:I, s:b, s:s*}", "uuid", o->id, "name",
        r->name, "address", o->address, "status", registry_status_name(o->action), "config_version",
        (json_int_t)o->config_version, "heartbeat_interval", k->c->opts.heartbeat_interval,
        "session_epoch", (json_int_t)o->session_epoch, "secured", o->secured, "controller_secret",
        o->issued[0] != '\0' ? o->issued : NULL);
}

void h_register(struct call *k)
{
    struct central *c = k->c;
    int64_t t0 = timeutil_mono_ms();
    if (!api_registration_token_ok(k) || !register_rate_ok(k)) {
        atomic_fetch_add(&c->counters.registrations_rejected, 1);
        return;
    }
    json_t *b = api_body_object(k, false);
    if (b == NULL)
        return;
    struct registry_request r;
    struct registry_outcome o;
    struct jsonx_err err;
    if (parse_register(b, &r, &err) < 0) {
        api_invalid(k, &err);
        goto out;
    }
    if (!presented_secret(k, &r.presented_secret))
        goto out;
    int rc = registry_tx_register(c, &r, k->now, &o);
    if (rc == 0) {
        register_answer(k, &r, &o);
        log_event(RH_LOG_INFO, "controller_registered", "{s:s, s:s, s:s, s:s, s:s?, s:I}", "uuid",
                  o.id, "status", registry_status_name(o.action), "name", r.name, "client",
                  k->req->client_ip, "secret", o.secret_source, "duration_ms",
                  (json_int_t)(timeutil_mono_ms() - t0));
        registry_outcome_clear(&o);
    } else if (o.refused != REGISTRY_SECRET_OK) {
        refuse_controller(k, o.id, o.refused);
    } else if (o.random_error < 0) {
        log_event(RH_LOG_ERROR, "controller_secret_failed", "{s:s}", "error",
                  strerror(-o.random_error));
        http_response_error(k->resp, 503, "unavailable", NULL,
                            "no random numbers for a controller secret; try again");
    } else {
        api_db_failed(k, rc);
    }
out:
    json_decref(b);
}
