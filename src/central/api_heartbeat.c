/* What a controller sends and fetches on its own: heartbeats (with the placement they report)
 * and its runtime config, with ETag and long poll (docs/api.md). */
#include "api_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_views.h"
#include "central.h"
#include "events.h"
#include "jsonr.h"
#include "longpoll.h"
#include "mqtt_acl.h"
#include "parse.h"
#include "placement.h"
#include "registry.h"
#include "runtime_config.h"
#include "store.h"
#include "timeutil.h"

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

/* Controller cid no longer runs the train it held: actual placement cleared, and the new owner, if
 * another, may now have it (its config_version rises: safe handover, placement.h). */
static int release_train(struct call *k, const struct store_train_held *held, const char *cid)
{
    const char *tid = held->id;
    const char *desired = held->desired_controller_id;
    json_t *f = json_pack("{s:n, s:s, s:I}", "actual_controller_id", "reassignment_status",
                          registry_reassignment_status(desired, NULL, false), "updated_at",
                          (json_int_t)k->now);
    int rc = store_train_update(k->c->store, tid, f);
    json_decref(f);
    if (rc == 0 && desired != NULL && placement_moved_away(cid, desired))
        rc = store_controller_bump_config(k->c->store, desired, k->now);
    if (rc == 0) {
        queue_train_event(k, tid);
        /* No longer its train: no longer its topics either. */
        mqtt_acl_sync(k->c, k->c->store, cid);
    }
    return rc;
}

/* Whether a heartbeat's trains name train tid. */
static bool reports_train(const json_t *reported, const char *tid)
{
    size_t i;
    json_t *rep;
    json_array_foreach(reported, i, rep)
    {
        const char *r = json_string_value(json_object_get(rep, "train_id"));
        if (r && strcmp(r, tid) == 0)
            return true;
    }
    return false;
}

/* Whether controller id is online now (false when it is not in the store). */
static bool controller_online(struct call *k, const char *id)
{
    json_t *row = NULL;
    bool online = store_controller_get(k->c->store, id, &row) == 0 &&
                  view_presence(k->c, row, k->now) == PRESENCE_ONLINE;
    json_decref(row);
    return online;
}

/* Controller cid reports running train tid (placement_reported): written when that changes
 * its row. held: the train's row when cid holds it (read with the others it holds), NULL to
 * read it. A train not in the store is skipped. */
static int claim_train(struct call *k, const char *cid, const char *tid,
                       struct store_train_held *held)
{
    struct store_train_placement train = {0};
    if (held == NULL && store_train_get_placement(k->c->store, tid, &train) < 0)
        return 0;
    const char *actual = held != NULL ? cid : train.actual_controller_id;
    struct placement_claim claim = placement_reported(
        cid, held != NULL ? held->desired_controller_id : train.desired_controller_id, actual,
        actual != NULL && strcmp(actual, cid) != 0 && controller_online(k, actual),
        held != NULL ? held->reassignment_status : train.reassignment_status);
    int rc = 0;
    if (claim.changed) {
        json_t *f =
            json_pack("{s:s, s:s, s:I}", "actual_controller_id", claim.actual,
                      "reassignment_status", claim.status, "updated_at", (json_int_t)k->now);
        rc = store_train_update(k->c->store, tid, f);
        json_decref(f);
        if (rc == 0)
            queue_train_event(k, tid);
        if (rc == 0 && held != NULL) { /* for the same train reported twice */
            free(held->reassignment_status);
            held->reassignment_status = strdup(claim.status);
        }
    }
    store_train_placement_clear(&train);
    return rc;
}

/* The train of the trains cid holds with id tid, or NULL. */
static struct store_train_held *held_train(struct store_trains_held *h, const char *tid)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->t[i].id, tid) == 0)
            return &h->t[i];
    return NULL;
}

/* Sets actual_controller_id of the trains a controller reports running, clears it for those it
 * no longer reports (released), and refreshes reassignment_status. */
static int apply_reported_trains(struct call *k, const char *cid, const json_t *reported)
{
    struct store_trains_held mine;
    int rc = store_train_list_actual(k->c->store, cid, &mine);
    for (size_t i = 0; i < mine.n && rc >= 0; i++)
        if (!reports_train(reported, mine.t[i].id))
            rc = release_train(k, &mine.t[i], cid);
    size_t i;
    json_t *rep;
    json_array_foreach(reported, i, rep)
    {
        const char *tid = json_string_value(json_object_get(rep, "train_id"));
        if (rc < 0)
            break;
        if (tid != NULL)
            rc = claim_train(k, cid, tid, held_train(&mine, tid));
    }
    store_trains_held_clear(&mine);
    return rc;
}

/* A controller that does not report the trains it runs (the earlier system's edge) is
 * taken to run its assigned trains while it is online: a move away waits until it is offline
 * or has downloaded its config again (release_moved). */
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

/* A heartbeat's body, validated; borrowed from it. */
struct heartbeat {
    const char *hash, *version, *platform, *python;
    int64_t applied, memory, cpus, epoch; /* -1: not sent */
    const json_t *trains; /* the trains it runs; NULL: not reported (the earlier edge) */
    const json_t *errors; /* what it reports as wrong; NULL: not sent */
};

static bool errors_valid(const json_t *errors)
{
    bool ok = json_is_array(errors) && json_array_size(errors) <= 16;
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e) ok = ok && json_is_string(e) && json_string_length(e) <= 300;
    return ok;
}

static bool trains_valid(const json_t *trains, struct jsonx_err *err)
{
    if (!json_is_array(trains) || json_array_size(trains) > 64)
        return false;
    size_t i;
    json_t *t;
    json_array_foreach(trains, i, t)
    {
        const char *tid, *dir;
        int64_t speed;
        if (!json_is_object(t) || api_get_train_id(t, "train_id", &tid, err) != 1 ||
            jsonx_int(t, "speed", 0, 100, &speed, err) < 0 ||
            jsonx_string(t, "direction", 0, 16, true, &dir, err) < 0)
            return false;
    }
    return true;
}

static int parse_heartbeat(const json_t *b, struct heartbeat *hb, struct jsonx_err *err)
{
    memset(hb, 0, sizeof *hb);
    hb->applied = hb->memory = hb->cpus = hb->epoch = -1;
    hb->trains = json_object_get(b, "trains");
    hb->errors = json_object_get(b, "errors");
    if (hb->errors != NULL && !errors_valid(hb->errors)) {
        jsonx_err_set(err, "errors",
                      "'errors' must be a list of at most 16 strings (300 characters each)");
        return -1;
    }
    if (jsonx_string(b, "config_hash", 0, 128, true, &hb->hash, err) < 0 ||
        jsonx_string(b, "version", 0, 64, true, &hb->version, err) < 0 ||
        jsonx_string(b, "platform", 0, 128, true, &hb->platform, err) < 0 ||
        jsonx_string(b, "python_version", 0, 64, true, &hb->python, err) < 0 ||
        jsonx_int(b, "config_version", 0, INT64_MAX / 2, &hb->applied, err) < 0 ||
        jsonx_int(b, "memory_mb", 0, 1 << 30, &hb->memory, err) < 0 ||
        jsonx_int(b, "cpu_count", 1, 4096, &hb->cpus, err) < 0 ||
        jsonx_int(b, "session_epoch", 0, INT64_MAX / 2, &hb->epoch, err) < 0)
        return -1;
    if (hb->trains != NULL && !trains_valid(hb->trains, err)) {
        jsonx_err_set(err, "trains",
                      "'trains' must be a list of at most 64 objects {train_id, speed 0-100, "
                      "direction}");
        return -1;
    }
    return 0;
}

/* The controller's metadata after the heartbeat, NULL when it stays as it is. Kept there for
 * the operator: what the controller reports as wrong (e.g. a config it could not apply and
 * rolled back; an empty list clears it), the earlier edge's python_version, and whether it
 * reports the trains it runs. */
static json_t *heartbeat_metadata(const json_t *meta, const struct heartbeat *hb,
                                  bool *errors_changed)
{
    const json_t *old_errors = json_object_get(meta, "errors");
    const json_t *old_python = json_object_get(meta, "python_version");
    const json_t *old_reports = json_object_get(meta, "reports_placement");
    bool reports = json_is_array(hb->trains);
    /* What each part becomes, compared before anything is copied: most heartbeats change
     * none of it. An empty list of errors clears them. */
    *errors_changed = hb->errors != NULL &&
                      (json_array_size(hb->errors) == 0 ? old_errors != NULL
                                                        : !json_equal(old_errors, hb->errors));
    bool python_changed =
        hb->python != NULL &&
        (!json_is_string(old_python) || strcmp(json_string_value(old_python), hb->python) != 0);
    bool reports_changed = !json_is_boolean(old_reports) || json_is_true(old_reports) != reports;
    if (!*errors_changed && !python_changed && !reports_changed)
        return NULL;
    json_t *out = meta != NULL ? json_deep_copy(meta) : json_object();
    if (out == NULL)
        return NULL;
    if (*errors_changed && json_array_size(hb->errors) == 0)
        json_object_del(out, "errors");
    else if (*errors_changed)
        json_object_set(out, "errors", (json_t *)hb->errors);
    if (python_changed)
        json_object_set_new(out, "python_version", json_string(hb->python));
    if (reports_changed)
        json_object_set_new(out, "reports_placement", json_boolean(reports));
    return out;
}

/* The controller metadata's text as an object: NULL for none or the column's default "{}"
 * (an unreadable one counts as empty, as the store's row readers take it). */
static json_t *metadata_object(const char *text)
{
    if (text == NULL || strcmp(text, "{}") == 0)
        return NULL;
    json_t *meta = jsonr_loadb(text, strlen(text), 0, NULL);
    if (json_is_object(meta))
        return meta;
    json_decref(meta);
    return NULL;
}

/* The controller fields the heartbeat writes into f; *metadata the new metadata's text when
 * it changes (the caller frees it). *visible: whether a viewer sees anything of it change
 * (its metadata or errors, or the config version it applied). */
static int heartbeat_fields(const struct store_controller_brief *row, const struct heartbeat *hb,
                            int64_t now, struct store_fields *f, char **metadata, bool *visible)
{
    *metadata = NULL;
    f->n = 0;
    store_fields_put(f, "last_seen", store_int(now));
    store_fields_put(f, "updated_at", store_int(now));
    if (!row->first_seen)
        store_fields_put(f, "first_seen", store_int(now));
    if (hb->hash)
        store_fields_put(f, "config_hash", store_text(hb->hash));
    if (hb->version)
        store_fields_put(f, "version", store_text(hb->version));
    if (hb->platform)
        store_fields_put(f, "platform", store_text(hb->platform));
    if (hb->applied >= 0)
        store_fields_put(f, "applied_config_version", store_int(hb->applied));
    if (hb->memory >= 0)
        store_fields_put(f, "memory_mb", store_int(hb->memory));
    if (hb->cpus >= 0)
        store_fields_put(f, "cpu_count", store_int(hb->cpus));
    bool errors_changed;
    json_t *old = metadata_object(row->metadata);
    json_t *meta = heartbeat_metadata(old, hb, &errors_changed);
    json_decref(old);
    if (meta != NULL) {
        *metadata = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(meta);
        if (*metadata == NULL)
            return -ENOMEM;
        store_fields_put(f, "metadata", store_text(*metadata));
    }
    *visible = errors_changed || *metadata != NULL ||
               (hb->applied >= 0 && row->applied_config_version != hb->applied);
    return 0;
}

/* Inside the transaction: the heartbeat of controller row written, with the placement it
 * reports; *event the controller's view when a viewer can see a change and someone watches
 * (heartbeats are frequent; presence changes come from the sweeper). */
static int record_heartbeat(struct call *k, const struct store_controller_brief *row,
                            const struct heartbeat *hb, json_t **event)
{
    struct central *c = k->c;
    const char *id = row->id;
    bool visible = false;
    struct store_fields fields;
    char *metadata = NULL;
    int rc = heartbeat_fields(row, hb, k->now, &fields, &metadata, &visible);
    if (rc == 0)
        rc = store_controller_update_fields(c->store, id, &fields);
    free(metadata);
    if (rc == 0 && json_is_array(hb->trains))
        rc = apply_reported_trains(k, id, hb->trains);
    else if (rc == 0)
        rc = assume_running(k, id);
    *event = NULL;
    if (rc == 0 && events_wanted(c->events) && visible) {
        json_t *now_row = NULL;
        if (store_controller_get(c->store, id, &now_row) == 0)
            *event = view_controller(c, now_row, k->now, true);
        json_decref(now_row);
    }
    return rc;
}

/* After the commit: the train views queue_train_event collected. */
static void publish_train_events(struct call *k)
{
    size_t i;
    json_t *ev;
    json_array_foreach(k->pending_events, i, ev)
        events_publish(k->c->events, "train", json_incref(ev));
    json_array_clear(k->pending_events);
}

static void heartbeat_answer(struct call *k, const char *status,
                             const struct store_controller_brief *row, int64_t epoch)
{
    http_response_pack(k->resp, 200, "{s:s, s:I, s:i, s:I}", "status", status, "config_version",
                       (json_int_t)row->config_version, "heartbeat_interval",
                       k->c->opts.heartbeat_interval, "session_epoch", (json_int_t)epoch);
}

void h_heartbeat(struct call *k)
{
    struct central *c = k->c;
    char id[UUIDSTR_LEN + 1];
    if (!api_path_uuid(k, k->arg[0], id))
        return;
    json_t *b = api_body_object(k, true);
    if (b == NULL)
        return;
    json_t *event = NULL;
    struct store_controller_brief row = {0};
    struct heartbeat hb;
    struct jsonx_err err;
    if (parse_heartbeat(b, &hb, &err) < 0) {
        api_invalid(k, &err);
        goto out;
    }
    if (!api_begin(k, true))
        goto out;
    if (!api_load_controller_brief(k, id, &row) ||
        !api_controller_secret_ok(k, row.id, row.secret_hash)) {
        store_rollback(c->store);
        goto out;
    }
    int64_t current_epoch = row.session_epoch;
    if (hb.epoch >= 0 && hb.epoch < current_epoch) {
        /* A heartbeat from a previous session of this controller (an old process still
         * running after a restart, or a delayed request) must not mask the new one. */
        store_rollback(c->store);
        heartbeat_answer(k, "ignored", &row, current_epoch);
        goto out;
    }
    int rc = record_heartbeat(k, &row, &hb, &event);
    if (rc < 0) {
        store_rollback(c->store);
        api_db_failed(k, rc);
        goto out;
    }
    if ((rc = store_commit(c->store)) < 0) {
        json_decref(event);
        api_db_failed(k, rc);
        goto out;
    }
    if (event != NULL)
        events_publish(c->events, "controller", event);
    publish_train_events(k);
    atomic_fetch_add(&c->counters.heartbeats, 1);
    heartbeat_answer(k, "ok", &row, current_epoch);
out:
    json_decref(b);
    store_controller_brief_clear(&row);
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
    struct store_trains_held held;
    int rc = store_train_list_actual(st, cid, &held);
    for (size_t i = 0; i < held.n && rc >= 0; i++) {
        const char *desired = held.t[i].desired_controller_id;
        if (!placement_moved_away(cid, desired))
            continue;
        rc = release_train(k, &held.t[i], cid);
        if (rc == 0)
            log_event(RH_LOG_INFO, "train_released_by_download", "{s:s, s:s, s:s?}", "train_id",
                      held.t[i].id, "controller", cid, "to", desired);
    }
    store_trains_held_clear(&held);
    if (rc < 0) {
        store_rollback(st);
        return;
    }
    if (store_commit(st) == 0)
        publish_train_events(k);
}

/* The entity tag of a config download: its checksum, quoted (copied, not formatted: every
 * download sets one). */
static void set_etag(struct http_response *resp, const char checksum[CANON_CHECKSUM_LEN + 1])
{
    _Static_assert(sizeof resp->etag >= CANON_CHECKSUM_LEN + 3, "room for the entity tag");
    resp->etag[0] = '"';
    memcpy(resp->etag + 1, checksum, CANON_CHECKSUM_LEN);
    resp->etag[CANON_CHECKSUM_LEN + 1] = '"';
    resp->etag[CANON_CHECKSUM_LEN + 2] = '\0';
}

void h_runtime_config(struct call *k)
{
    struct central *c = k->c;
    char id[UUIDSTR_LEN + 1];
    if (!api_path_uuid(k, k->arg[0], id))
        return;
    long wait = 0, have = 0;
    int poll = longpoll_params(k, &wait, &have);
    if (poll < 0)
        return;
    int rc = 0;
    if (!api_begin(k, false))
        return;
    json_t *trains = NULL;
    char *text = NULL;
    bool built = false;
    json_t *row = api_load_controller_for_config(k, id);
    if (row == NULL || !api_controller_authorized(k, row)) {
        /* The document carries the broker's credentials: only for its own controller. */
        store_rollback(c->store);
        json_decref(row);
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
        api_db_failed(k, rc);
        goto out;
    }
    char host[256];
    int port;
    api_broker_for(k, host, sizeof host, &port);
    struct runtime_broker broker = {.host = host, .port = port, .tls = c->opts.mqtt_tls};
    char user[MQTT_ACL_NAME_LEN + 1], pass[MQTT_ACL_PASSWORD_LEN + 1];
    mqtt_acl_runtime_credentials(c, id, &broker, user, pass);
    char checksum[CANON_CHECKSUM_LEN + 1];
    size_t len = 0;
    if (runtime_config_cached_text(c->config_cache, row, trains, &broker,
                                   c->opts.heartbeat_interval, &text, &len, checksum) < 0) {
        http_response_error(k->resp, 500, "internal_error", NULL, "cannot build the config");
        goto out;
    }
    built = true;
    set_etag(k->resp, checksum);
    if (waiting || etag_matches(http_request_header(k->req, "If-None-Match"), k->resp->etag)) {
        k->resp->status = 304;
        goto out;
    }
    /* The account the config names exists, with these trains, before the controller can
     * log in with it (a lost sync is redone when the central reconnects to the broker). */
    if (c->opts.mqtt_acl && store_begin(c->store, false) == 0) {
        mqtt_acl_sync(c, c->store, id);
        store_rollback(c->store);
    }
    k->resp->status = 200;
    k->resp->content_type = "application/json";
    k->resp->text = text;
    k->resp->text_len = len;
    text = NULL;
out:
    if (built && !view_reports_placement(row))
        release_moved(k, id);
    json_decref(row);
    json_decref(trains);
    free(text);
}
