/* The edge's side of the central synchronisation (edge_internal.h): the requests the sync
 * machine (sync.c) asks for are built and started on the API client, their answers are read
 * by answer.c and acted on here (identity, secret and session epoch adopted, the config
 * downloaded and handed to the apply, counters and logs), and the requests move to another
 * central after a failure or a discovery. */
#include "edge_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "cache.h"
#include "canon.h"
#include "epoch.h"
#include "log.h"
#include "timeutil.h"

/* Finer than timeutil_mono_ms, for the download-time histogram (a LAN answer takes a
 * fraction of a millisecond). */
static int64_t mono_now_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        return timeutil_mono_ms() * 1000;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Trust for an https:// central and for a TLS broker. Files named by options are read now,
 * so that a wrong one stops the start with a message naming it; the system's store (no
 * file) is loaded only when a TLS connection needs it. */
int edge_central_tls_setup(struct edge *e, struct api_client *api, const char *url)
{
    const struct edge_opts *o = &e->opts;
    char err[512];
    struct api_tls at = {.ca_file = o->central_ca[0] ? o->central_ca : NULL,
                         .pins = &o->central_pins};
    int rc = api_client_tls_setup(api, &at, err, sizeof err);
    if (rc < 0)
        log_event(RH_LOG_ERROR, "tls_setup_failed", "{s:s, s:s?, s:s}", "for", "central", "url",
                  url, "error", err);
    return rc;
}

/* --- requests ---------------------------------------------------------------------------- */

static json_t *register_body(const struct edge *e)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "name", e->name, "address", e->sys.address,
                          "version", ROUNDHOUSE_VERSION, "platform", e->sys.platform);
    if (j == NULL)
        return NULL;
    /* Without a UUID of its own the controller asks the central for one (and may be matched
     * by name), rather than inventing one that would be taken for a restored controller. */
    if (e->uuid[0] != '\0')
        json_object_set_new(j, "uuid", json_string(e->uuid));
    if (e->applied_version >= 0)
        json_object_set_new(j, "applied_config_version", json_integer(e->applied_version));
    /* The epoch this process already announced in its birth and will. */
    if (e->session_epoch > 0)
        json_object_set_new(j, "session_epoch", json_integer(e->session_epoch));
    /* This edge keeps a controller secret: the central issues one when it has none on
     * record (earlier edges do not ask, and are never held to one). */
    json_object_set_new(j, "issue_secret", json_true());
    return j;
}

static json_t *train_register_body(const struct edge *e)
{
    char desc[64];
    snprintf(desc, sizeof desc, "Train on motor port M%d", e->opts.motor_port);
    return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:{s:i}}}", "train_id", e->opts.train_id, "name",
                     e->opts.train_name, "description", desc, "model", "DC Motor", "plugin", "name",
                     "dc_motor_hat", "config", "motor_port", e->opts.motor_port);
}

#define EDGE_HEARTBEAT_MAX_ERRORS 16

/* Short strings (the central keeps at most 16 of at most 300 characters): what the operator
 * should know is wrong here. Always sent, so that an empty list clears what was reported. */
static json_t *errors_json(const struct edge *e)
{
    char line[300];
    json_t *errors = json_array();
    if (errors == NULL)
        return NULL;
    if (e->apply_error[0] != '\0')
        json_array_append_new(errors, json_string(e->apply_error));
    for (size_t i = 0; i < e->trains.n; i++) {
        const struct train *t = &e->trains.v[i];
        if (t->error[0] == '\0' || json_array_size(errors) >= EDGE_HEARTBEAT_MAX_ERRORS)
            continue;
        snprintf(line, sizeof line, "train %.100s: %.190s", t->id, t->error);
        json_t *s = json_string(line);
        if (s != NULL)
            json_array_append_new(errors, s);
    }
    return errors;
}

static json_t *heartbeat_body(const struct edge *e)
{
    json_t *trains = json_array();
    for (size_t i = 0; i < e->trains.n; i++) {
        /* A train being released is still ours until it stands still: the central hands it
         * over only once we stop listing it. */
        const struct train *t = &e->trains.v[i];
        json_array_append_new(trains, json_pack("{s:s, s:i, s:s}", "train_id", t->id, "speed",
                                                t->ramp.speed, "direction",
                                                motor_direction_name(t->ramp.direction)));
    }
    json_t *j = json_pack("{s:s, s:s, s:o, s:o*}", "version", ROUNDHOUSE_VERSION, "platform",
                          e->sys.platform, "trains", trains, "errors", errors_json(e));
    if (j == NULL)
        return NULL;
    if (e->sys.memory_mb > 0)
        json_object_set_new(j, "memory_mb", json_integer(e->sys.memory_mb));
    if (e->sys.cpu_count > 0)
        json_object_set_new(j, "cpu_count", json_integer(e->sys.cpu_count));
    if (e->applied_version >= 0) {
        json_object_set_new(j, "config_version", json_integer(e->applied_version));
        json_object_set(j, "config_hash", json_object_get(e->config, "checksum"));
    }
    if (e->session_epoch > 0)
        json_object_set_new(j, "session_epoch", json_integer(e->session_epoch));
    return j;
}

static void on_api_done(void *ctx, int tag, const struct api_response *r);

static int request_start(struct edge *e, enum sync_action a, int64_t longpoll_version)
{
    char path[256], token[300], quoted[CANON_CHECKSUM_LEN + 3], secret[SECRET_HEX_LEN + 32];
    json_t *body = NULL;
    struct api_call call = {.tag = (int)a, .method = "POST", .path = path};
    int rc;

    /* Every call made as this controller carries its secret (the central requires it once
     * it has one on record). */
    if (e->secret[0] != '\0' && e->uuid[0] != '\0') {
        snprintf(secret, sizeof secret, "X-Controller-Secret: %s", e->secret);
        call.header2 = secret;
    }

    switch (a) {
    case SYNC_ACT_REGISTER:
        snprintf(path, sizeof path, "/api/controllers/register");
        body = register_body(e);
        if (e->opts.registration_token[0] != '\0') {
            snprintf(token, sizeof token, "X-Registration-Token: %s", e->opts.registration_token);
            call.header = token;
        }
        e->m.registration_attempts++;
        break;
    case SYNC_ACT_REGISTER_TRAIN:
        snprintf(path, sizeof path, "/api/controllers/%s/trains", e->uuid);
        body = train_register_body(e);
        break;
    case SYNC_ACT_FETCH_CONFIG:
        snprintf(path, sizeof path, "/api/controllers/%s/config", e->uuid);
        call.method = "GET";
        if (e->etag[0] != '\0') {
            call.if_none_match = e->etag;
        } else {
            const json_t *held = e->config ? e->config : e->held;
            const char *sum = json_string_value(json_object_get(held, "checksum"));
            if (sum != NULL) {
                snprintf(quoted, sizeof quoted, "\"%s\"", sum);
                call.if_none_match = quoted;
            }
        }
        e->m.config_downloads++;
        e->fetch_started_us = mono_now_us();
        e->fetch_desired = e->sync.desired_version;
        break;
    case SYNC_ACT_HEARTBEAT:
        snprintf(path, sizeof path, "/api/controllers/%s/heartbeat", e->uuid);
        body = heartbeat_body(e);
        break;
    case SYNC_ACT_LONGPOLL:
        /* Held by the central until our version is overtaken or the wait ends: it must not
         * time out on our side first. */
        snprintf(path, sizeof path, "/api/controllers/%s/config?wait=%d&version=%" PRId64, e->uuid,
                 SYNC_LONGPOLL_WAIT_S, longpoll_version);
        call.method = "GET";
        call.timeout_ms = (SYNC_LONGPOLL_WAIT_S + 15) * 1000L;
        e->m.longpolls++;
        break;
    default:
        return -EINVAL;
    }
    if (strcmp(call.method, "POST") == 0 && body == NULL)
        return -ENOMEM;
    call.body = body;
    rc = api_client_start(e->api, &call, on_api_done, e);
    json_decref(body);
    return rc;
}

/* Feeds one event to the state machine and starts the requests it asks for. Returns the
 * retry delay chosen after a failure (-1 otherwise), for the log. */
int64_t edge_sync_feed(struct edge *e, const struct sync_event *ev)
{
    struct sync_output out;
    int64_t now = timeutil_mono_ms();
    sync_step(&e->sync, ev, now, &out);
    e->sync_wake_ms = out.wake_ms;
    if (out.action != SYNC_ACT_NONE) {
        int rc = request_start(e, out.action, -1);
        if (rc < 0) {
            /* Cannot even start the request: try again a second later through a tick,
             * rather than recursing here. */
            log_event(RH_LOG_ERROR, "request_start_failed", "{s:s, s:i}", "action",
                      sync_action_name(out.action), "errno", -rc);
            e->sync.inflight = SYNC_ACT_NONE;
            e->sync_wake_ms = edge_earliest(e->sync_wake_ms, now + 1000);
        }
    }
    if (out.longpoll_version >= 0) {
        log_event(RH_LOG_DEBUG, "config_longpoll_started", "{s:I}", "version",
                  (json_int_t)out.longpoll_version);
        int rc = request_start(e, SYNC_ACT_LONGPOLL, out.longpoll_version);
        if (rc < 0) {
            log_event(RH_LOG_ERROR, "request_start_failed", "{s:s, s:i}", "action", "longpoll",
                      "errno", -rc);
            e->sync.lp_inflight = false;
            e->sync.lp_next_ms = now + 1000;
            e->sync_wake_ms = edge_earliest(e->sync_wake_ms, now + 1000);
        }
    }
    return out.retry_in_ms;
}

void edge_sync_feed_kind(struct edge *e, enum sync_event_kind kind, int64_t version)
{
    struct sync_event ev = {.kind = kind, .version = version, .retry_after_ms = -1};
    edge_sync_feed(e, &ev);
}

void edge_central_etag_remember(struct edge *e, const char *etag)
{
    if (etag != NULL && etag[0] != '\0' && strlen(etag) < sizeof e->etag)
        snprintf(e->etag, sizeof e->etag, "%s", etag);
}

/* --- answers ----------------------------------------------------------------------------- */

/* The UUID the central gave us (first registration), kept from now on. */
static void identity_adopt(struct edge *e, const char *uuid)
{
    char client_id[64];
    log_event(e->uuid[0] ? RH_LOG_WARNING : RH_LOG_INFO, "controller_uuid_assigned", "{s:s, s:s?}",
              "uuid", uuid, "old", e->uuid[0] ? e->uuid : NULL);
    memcpy(e->uuid, uuid, UUIDSTR_LEN + 1);
    edge_state_written(e, "identity.json",
                       identity_save(e->opts.state_dir, e->uuid, timeutil_now_ms()));
    proto_topic(e->presence_topic, sizeof e->presence_topic, PROTO_TOPIC_PRESENCE, e->uuid);
    proto_topic(e->config_topic, sizeof e->config_topic, PROTO_TOPIC_CONFIG_UPDATE, e->uuid);
    snprintf(client_id, sizeof client_id, "roundhouse-edge-%s", e->uuid);
    if (mqtt_link_set_client_id(e->mqtt, client_id, timeutil_mono_ms()) < 0)
        log_event(RH_LOG_ERROR, "mqtt_client_id_failed", "{s:s}", "client_id", client_id);
    e->will_epoch = -1;
    if (mqtt_link_configured(e->mqtt))
        edge_mqtt_will_arm(e);
    /* A secret held for the old UUID is worthless for the new one. */
    e->secret[0] = '\0';
    e->credential = CREDENTIAL_NONE;
}

/* The secret the central issued with the registration answer: kept at once (it is shown
 * only this once). */
static void credential_adopt(struct edge *e, const char *secret)
{
    if (!secret_valid(secret)) {
        log_event(RH_LOG_ERROR, "controller_secret_invalid", "{s:s}", "detail",
                  "the registration answer's controller_secret is not 64 hex digits; ignored");
        return;
    }
    memcpy(e->secret, secret, SECRET_HEX_LEN + 1);
    e->credential = CREDENTIAL_LOADED;
    e->credential_error[0] = '\0';
    int rc = credential_save(e->opts.state_dir, e->uuid, e->secret, timeutil_now_ms());
    edge_state_written(e, CREDENTIAL_FILE, rc);
    if (rc < 0)
        /* Still presented while this process runs; after a restart the central would refuse
         * this UUID until an operator deletes the record (docs/security.md). */
        snprintf(e->credential_error, sizeof e->credential_error,
                 "the controller secret could not be saved in %.200s: %s", e->opts.state_dir,
                 strerror(-rc));
    log_event(rc < 0 ? RH_LOG_ERROR : RH_LOG_INFO, "controller_secret_stored", "{s:s, s:s, s:s?}",
              "uuid", e->uuid, "file", CREDENTIAL_FILE, "error", rc < 0 ? strerror(-rc) : NULL);
}

/* A 401/403 naming the controller secret (answer.c): the central holds a secret for this
 * UUID that we do not have (file lost or corrupt) or that differs. Driving goes on from the
 * cache; /health says what an operator must do. */
static void credential_refused(struct edge *e, const struct answer *a, long status,
                               const char *what)
{
    if (!a->secret_refused)
        return;
    const char *error = json_string_value(json_object_get(a->body, "error"));
    snprintf(e->credential_error, sizeof e->credential_error,
             "the central refused this controller's %s (%s %ld on %s): an operator must "
             "delete the controller's record so that it can register afresh",
             e->secret[0] ? "secret" : "missing secret", error ? error : "HTTP", status, what);
    log_event(RH_LOG_ERROR, "controller_secret_refused", "{s:s, s:i, s:b, s:s}", "call", what,
              "http_status", (int)status, "have_secret", e->secret[0] != '\0', "uuid", e->uuid);
}

/* The central's word on this session's epoch (max(its last + 1, ours)). Birth, will and
 * heartbeats must carry it; the will only changes with a new connection. */
static void session_epoch_adopt(struct edge *e, int64_t epoch)
{
    if (epoch < 1)
        return;
    bool changed = epoch != e->session_epoch;
    e->session_epoch = epoch;
    if (changed)
        edge_epoch_persist(e);
    if (mqtt_link_configured(e->mqtt) && epoch_rearm_needed(e->will_epoch, epoch)) {
        log_event(RH_LOG_INFO, "mqtt_will_rearmed", "{s:I, s:I}", "old_epoch",
                  (json_int_t)e->will_epoch, "session_epoch", (json_int_t)epoch);
        edge_mqtt_will_arm(e);
        /* The birth with the new epoch follows from the connection's on_connect. */
        mqtt_link_reconnect(e->mqtt, timeutil_mono_ms());
    }
}

static void registered(struct edge *e, const struct answer *a)
{
    if (strcmp(a->uuid, e->uuid) != 0)
        identity_adopt(e, a->uuid);
    if (a->secret != NULL)
        credential_adopt(e, a->secret);
    else if (e->credential != CREDENTIAL_INVALID)
        e->credential_error[0] = '\0';
    e->registered = true;
    e->last_sync_error[0] = '\0';
    if (a->session_epoch >= 0)
        session_epoch_adopt(e, a->session_epoch);
    log_event(RH_LOG_INFO, "controller_registered", "{s:s, s:s?, s:I, s:I, s:s}", "uuid", e->uuid,
              "status", json_string_value(json_object_get(a->body, "status")), "session_epoch",
              (json_int_t)e->session_epoch, "config_version", (json_int_t)a->ev.version, "name",
              e->name);
    edge_sync_feed(e, &a->ev);
}

static void register_done(struct edge *e, const struct api_response *r, const struct answer *a)
{
    if (a->ev.kind == SYNC_EV_REGISTERED) {
        registered(e, a);
        return;
    }
    credential_refused(e, a, r->status, "registration");
    const char *why = answer_reg_failure_name(a->reg_failure);
    e->m.registration_failures[a->reg_failure]++;
    snprintf(e->last_sync_error, sizeof e->last_sync_error, "registration failed: %s%s%s%s", why,
             r->error ? ": " : "", r->error ? r->error : "",
             e->credential_error[0] ? " (controller secret refused)"
             : r->status == 401     ? " (registration token missing or wrong)"
                                    : "");
    /* Logged after the step so that the chosen delay is known. */
    int64_t delay = edge_sync_feed(e, &a->ev);
    log_event(RH_LOG_WARNING, "registration_failed", "{s:s, s:i, s:s?, s:I, s:I}", "reason", why,
              "http_status", (int)r->status, "error", r->error, "retry_in_ms", (json_int_t)delay,
              "attempt", (json_int_t)e->sync.reg_attempt);
}

static void train_done(struct edge *e, const struct api_response *r, const struct answer *a)
{
    const char *id = e->opts.train_id;
    switch (a->train) {
    case ANSWER_TRAIN_REGISTERED:
        log_event(RH_LOG_INFO, "train_registered", "{s:s, s:i}", "train_id", id, "http_status",
                  (int)r->status);
        break;
    case ANSWER_TRAIN_CONFLICT:
        /* Someone moved the train elsewhere on purpose: do not fight over it, run whatever
         * the central assigns to us. */
        log_event(RH_LOG_WARNING, "train_assignment_conflict", "{s:s, s:s?, s:s?}", "train_id", id,
                  "owner", json_string_value(json_object_get(a->body, "owner")), "detail",
                  json_string_value(json_object_get(a->body, "detail")));
        break;
    case ANSWER_TRAIN_RETRY:
        log_event(RH_LOG_WARNING, "train_registration_retry", "{s:s, s:i, s:s?}", "train_id", id,
                  "http_status", (int)r->status, "error", r->error);
        break;
    case ANSWER_TRAIN_REFUSED:
        log_event(RH_LOG_ERROR, "train_registration_failed", "{s:s, s:i, s:s?}", "train_id", id,
                  "http_status", (int)r->status, "detail",
                  json_string_value(json_object_get(a->body, "detail")));
        break;
    }
    edge_sync_feed(e, &a->ev);
}

/* A downloaded document that cannot be used (answer_config_document). One whose content is
 * wrong (schema, another controller's) is refused for good: that version is not downloaded
 * again. One that does not even parse or match its own checksum may have been damaged on
 * the way: retried. */
static void config_refuse(struct edge *e, enum answer_doc verdict, const json_t *cfg,
                          const struct sync_event *ev, const char *reason)
{
    bool retry = verdict == ANSWER_DOC_DAMAGED;
    e->m.config_rejections++;
    snprintf(e->last_sync_error, sizeof e->last_sync_error, "config rejected: %.160s", reason);
    log_event(RH_LOG_ERROR, "config_rejected", "{s:s, s:b}", "reason", reason, "retry", retry);
    if (!retry && ev->kind == SYNC_EV_CONFIG_REJECTED) {
        /* Refused for good: the operator must hear of it (health, and the heartbeat's errors
         * that the central shows as config_error), or the controller silently runs an old
         * config forever. */
        const char *sum = json_string_value(json_object_get(cfg, "checksum"));
        snprintf(e->apply_error, sizeof e->apply_error,
                 EDGE_ERROR_REJECTED "config %" PRId64 " refused: %.180s", ev->version, reason);
        e->rejected_version = ev->version;
        snprintf(e->rejected_checksum, sizeof e->rejected_checksum, "%s", sum ? sum : "");
    }
    edge_sync_feed(e, ev);
}

/* A 304: the central vouches for the config we hold again. */
static void config_confirmed(struct edge *e, const struct api_response *r, const struct answer *a)
{
    edge_central_etag_remember(e, r->etag);
    if (e->fetch_desired > e->confirmed_version)
        e->confirmed_version = e->fetch_desired;
    json_t *confirmed = e->config ? e->config : e->held;
    if (confirmed != NULL) {
        /* Refresh its age in the cache. */
        edge_state_written(e, CACHE_CURRENT,
                           cache_store(e->opts.state_dir, confirmed, timeutil_now_ms()));
    }
    if (e->config == NULL && e->held != NULL) {
        json_t *h = json_incref(e->held);
        snprintf(e->cache_state, sizeof e->cache_state, "confirmed");
        edge_apply_config(e, h, "cache_confirmed", true, NULL);
        json_decref(h);
        return;
    }
    edge_sync_feed(e, &a->ev);
}

/* A 200: the document checked, then applied; its outcome (applied, or rolled back) reaches
 * the sync machine from the apply, possibly later: the download counts as in flight until
 * then. */
static void config_downloaded(struct edge *e, const struct api_response *r)
{
    struct sync_event ev;
    char reason[200] = "";
    json_t *cfg = NULL;
    enum answer_doc verdict =
        answer_config_document(r->body, r->body_len, e->uuid, e->rejected_version,
                               e->rejected_checksum, &cfg, &ev, reason, sizeof reason);
    switch (verdict) {
    case ANSWER_DOC_DAMAGED:
    case ANSWER_DOC_REFUSED:
        config_refuse(e, verdict, cfg, &ev, reason);
        break;
    case ANSWER_DOC_REPEATED:
        log_event(RH_LOG_INFO, "config_skipped", "{s:I, s:s}", "version", (json_int_t)ev.version,
                  "reason", "this version was rolled back or refused before");
        edge_sync_feed(e, &ev);
        break;
    case ANSWER_DOC_APPLY:
        snprintf(e->cache_state, sizeof e->cache_state, "downloaded");
        e->cache_reason[0] = '\0';
        e->last_sync_error[0] = '\0';
        edge_apply_config(e, cfg, "central", true, r->etag);
        break;
    }
    json_decref(cfg);
}

static void config_done(struct edge *e, const struct api_response *r, const struct answer *a)
{
    prom_observe(&e->m.download_seconds, &edge_download_buckets,
                 (double)(mono_now_us() - e->fetch_started_us) / 1e6);
    e->fetch_failed = r->status != 200 && r->status != 304 && r->status != 404;
    if (a->ev.kind == SYNC_EV_CONFIG_UNCHANGED) {
        config_confirmed(e, r, a);
    } else if (a->gone) {
        log_event(RH_LOG_WARNING, "config_unknown_controller", "{s:s}", "uuid", e->uuid);
        e->registered = false;
        edge_sync_feed(e, &a->ev);
    } else if (a->document) {
        config_downloaded(e, r);
    } else {
        credential_refused(e, a, r->status, "config download");
        snprintf(e->last_sync_error, sizeof e->last_sync_error,
                 "config download failed: HTTP %ld%s%s", r->status, r->error ? ": " : "",
                 r->error ? r->error : "");
        log_event(RH_LOG_WARNING, "config_download_failed", "{s:i, s:s?}", "http_status",
                  (int)r->status, "error", r->error);
        edge_sync_feed(e, &a->ev);
    }
}

static void heartbeat_done(struct edge *e, const struct api_response *r, const struct answer *a)
{
    if (a->ev.kind == SYNC_EV_HEARTBEAT_OK) {
        e->m.heartbeats_ok++;
        log_event(RH_LOG_DEBUG, "heartbeat_ok", "{s:I, s:i, s:s?}", "desired",
                  (json_int_t)a->ev.version, "interval_s", a->ev.heartbeat_interval_s, "status",
                  json_string_value(json_object_get(a->body, "status")));
        if (sync_version_wanted(&e->sync, a->ev.version))
            log_event(RH_LOG_INFO, "config_version_mismatch", "{s:I, s:I}", "desired",
                      (json_int_t)a->ev.version, "applied", (json_int_t)e->applied_version);
    } else if (a->gone) {
        /* The central lost us (database reset, or deleted): register again, same UUID. */
        e->m.heartbeats_failed++;
        e->registered = false;
        log_event(RH_LOG_WARNING, "heartbeat_unknown_controller", "{s:s}", "uuid", e->uuid);
    } else {
        e->m.heartbeats_failed++;
        credential_refused(e, a, r->status, "heartbeat");
        log_event(RH_LOG_WARNING, "heartbeat_failed", "{s:i, s:s?}", "http_status", (int)r->status,
                  "error", r->error);
    }
    edge_sync_feed(e, &a->ev);
}

/* The long poll only says that there is something newer; the download and apply take the
 * same path as after an MQTT notification. */
static void longpoll_done(struct edge *e, const struct api_response *r, const struct answer *a)
{
    if (a->ev.kind == SYNC_EV_LONGPOLL_CHANGED)
        log_event(RH_LOG_INFO, "config_longpoll_changed", "{s:I, s:I}", "version",
                  (json_int_t)a->ev.version, "applied", (json_int_t)e->applied_version);
    else if (a->ev.kind == SYNC_EV_LONGPOLL_FAILED)
        log_event(RH_LOG_WARNING, "config_longpoll_failed", "{s:i, s:s?}", "http_status",
                  (int)r->status, "error", r->error);
    edge_sync_feed(e, &a->ev);
}

static void on_api_done(void *ctx, int tag, const struct api_response *r)
{
    struct edge *e = ctx;
    struct answer a;
    answer_read((enum sync_action)tag, r, &a);
    /* No answer at all: the next central, if there is another (taken up by
     * edge_central_check once no request is in flight). */
    if (a.failover && central_choice_failed(&e->centrals, e->central_in_use))
        log_event(RH_LOG_INFO, "central_failover", "{s:s, s:s?}", "from", e->central_in_use, "to",
                  central_choice_current(&e->centrals));
    switch ((enum sync_action)tag) {
    case SYNC_ACT_REGISTER:
        register_done(e, r, &a);
        break;
    case SYNC_ACT_REGISTER_TRAIN:
        train_done(e, r, &a);
        break;
    case SYNC_ACT_FETCH_CONFIG:
        config_done(e, r, &a);
        break;
    case SYNC_ACT_HEARTBEAT:
        heartbeat_done(e, r, &a);
        break;
    case SYNC_ACT_LONGPOLL:
        longpoll_done(e, r, &a);
        break;
    case SYNC_ACT_NONE:
        break;
    }
    answer_clear(&a);
}

/* --- failover ---------------------------------------------------------------------------- */

/* Moves the requests to the central chosen now (discovered, or the next of the list after a
 * failure) once none is in flight: a request keeps the connection it started on. */
void edge_central_check(struct edge *e)
{
    if (e->discover != NULL)
        discover_poll(e->discover, &e->centrals);
    const char *want = central_choice_current(&e->centrals);
    if (want == NULL || strcmp(want, e->central_in_use) == 0 || api_client_pending(e->api) > 0)
        return;
    struct api_client *api = api_client_new(want);
    if (api == NULL || edge_central_tls_setup(e, api, want) < 0) {
        /* An https:// URL whose trust cannot be set up stays unusable: the next failure
         * moves on from it, as from an unreachable one. */
        api_client_free(api);
        log_event(RH_LOG_ERROR, "central_unusable", "{s:s}", "url", want);
        central_choice_failed(&e->centrals, want);
        return;
    }
    api_client_free(e->api);
    e->api = api;
    log_event(RH_LOG_INFO, "central_selected", "{s:s, s:s?, s:s}", "url", want, "previous",
              e->central_in_use[0] ? e->central_in_use : NULL, "source",
              e->discover != NULL ? "dns-sd" : "configured");
    snprintf(e->central_in_use, sizeof e->central_in_use, "%s", want);
    edge_sync_feed_kind(e, SYNC_EV_CENTRAL_CHANGED, -1);
}
