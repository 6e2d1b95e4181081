#include "answer.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "cache.h"

static const char *const reg_fail_names[REG_FAIL_COUNT] = {
    "network", "rate_limited", "rejected", "server_error", "invalid_response",
};

const char *answer_reg_failure_name(enum reg_failure f)
{
    return f >= 0 && f < REG_FAIL_COUNT ? reg_fail_names[f] : "";
}

static bool status_ok(long status)
{
    return status == 200 || status == 201;
}

/* Worth another try: nothing came back, or the central is busy or broken. */
static bool status_transient(long status)
{
    return status == 0 || status == 429 || status >= 500;
}

static int64_t int_field(const json_t *j, const char *key, int64_t absent)
{
    const json_t *v = json_object_get(j, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : absent;
}

/* One outside int is none (sync.c checks the range of the others). */
static int interval_field(const json_t *j)
{
    int64_t v = int_field(j, "heartbeat_interval", 0);
    return v >= INT_MIN && v <= INT_MAX ? (int)v : 0;
}

static void read_register(const struct api_response *r, struct answer *a)
{
    a->ev.kind = SYNC_EV_REGISTER_FAILED;
    if (status_ok(r->status)) {
        const char *uuid = json_string_value(json_object_get(a->body, "uuid"));
        if (uuid == NULL || uuidstr_normalize(uuid, a->uuid) < 0) {
            a->uuid[0] = '\0';
            a->reg_failure = REG_FAIL_INVALID;
            return;
        }
        a->ev.kind = SYNC_EV_REGISTERED;
        a->ev.version = int_field(a->body, "config_version", -1);
        a->ev.heartbeat_interval_s = interval_field(a->body);
        a->secret = json_string_value(json_object_get(a->body, "controller_secret"));
        a->session_epoch = int_field(a->body, "session_epoch", -1);
        return;
    }
    if (r->status == 429)
        a->reg_failure = REG_FAIL_RATE_LIMITED;
    else if (r->status >= 500)
        a->reg_failure = REG_FAIL_SERVER;
    else if (r->status > 0)
        a->reg_failure = REG_FAIL_REJECTED;
    else
        a->reg_failure = REG_FAIL_NETWORK;
}

static void read_train(const struct api_response *r, struct answer *a)
{
    a->ev.kind = SYNC_EV_TRAIN_DONE;
    if (status_ok(r->status)) {
        a->train = ANSWER_TRAIN_REGISTERED;
    } else if (r->status == 409) {
        a->train = ANSWER_TRAIN_CONFLICT;
    } else if (status_transient(r->status)) {
        a->train = ANSWER_TRAIN_RETRY;
        a->ev.kind = SYNC_EV_TRAIN_FAILED;
    } else {
        a->train = ANSWER_TRAIN_REFUSED;
    }
}

static void read_config(const struct api_response *r, struct answer *a)
{
    a->ev.kind = SYNC_EV_CONFIG_FAILED;
    if (r->status == 304) {
        a->ev.kind = SYNC_EV_CONFIG_UNCHANGED;
    } else if (r->status == 404) {
        a->ev.kind = SYNC_EV_CONFIG_GONE;
        a->gone = true;
    } else if (r->status == 200) {
        a->document = true;
    }
}

static void read_heartbeat(const struct api_response *r, struct answer *a)
{
    a->ev.kind = SYNC_EV_HEARTBEAT_FAILED;
    if (r->status == 200) {
        a->ev.kind = SYNC_EV_HEARTBEAT_OK;
        a->ev.version = int_field(a->body, "config_version", -1);
        a->ev.heartbeat_interval_s = interval_field(a->body);
    } else if (r->status == 404) {
        a->ev.kind = SYNC_EV_HEARTBEAT_GONE;
        a->gone = true;
    }
}

/* The long poll only says that there is something newer. */
static void read_longpoll(const struct api_response *r, struct answer *a)
{
    a->ev.kind = SYNC_EV_LONGPOLL_FAILED;
    if (r->status == 200) {
        int64_t v = int_field(a->body, "version", -1);
        if (v >= 0) {
            a->ev.kind = SYNC_EV_LONGPOLL_CHANGED;
            a->ev.version = v;
        }
    } else if (r->status == 304) {
        a->ev.kind = SYNC_EV_LONGPOLL_UNCHANGED;
    }
}

void answer_read(enum sync_action action, const struct api_response *r, struct answer *out)
{
    *out = (struct answer){
        .ev = {.kind = SYNC_EV_TICK, .version = -1, .retry_after_ms = r->retry_after_ms},
        .reg_failure = REG_FAIL_COUNT,
        .train = ANSWER_TRAIN_REFUSED,
        .session_epoch = -1,
    };
    if (r->body != NULL && r->body_len > 0)
        out->body = json_loadb(r->body, r->body_len, 0, NULL);
    out->failover = r->status == 0;
    if (r->status == 401 || r->status == 403) {
        const char *field = json_string_value(json_object_get(out->body, "field"));
        out->secret_refused = field != NULL && strcmp(field, "X-Controller-Secret") == 0;
    }
    switch (action) {
    case SYNC_ACT_REGISTER:
        read_register(r, out);
        break;
    case SYNC_ACT_REGISTER_TRAIN:
        read_train(r, out);
        break;
    case SYNC_ACT_FETCH_CONFIG:
        read_config(r, out);
        break;
    case SYNC_ACT_HEARTBEAT:
        read_heartbeat(r, out);
        break;
    case SYNC_ACT_LONGPOLL:
        read_longpoll(r, out);
        break;
    case SYNC_ACT_NONE:
        break; /* no request: the event stays a tick */
    }
}

void answer_clear(struct answer *a)
{
    if (a == NULL)
        return;
    json_decref(a->body);
    a->body = NULL;
    a->secret = NULL;
}

enum answer_doc answer_config_document(const char *body, size_t len, const char *own_uuid,
                                       int64_t rejected_version, const char *rejected_checksum,
                                       json_t **cfg, struct sync_event *ev, char *reason,
                                       size_t reasonlen)
{
    /* A retry keeps the ordinary backoff: the document carries no Retry-After. */
    *ev = (struct sync_event){.kind = SYNC_EV_CONFIG_FAILED, .version = -1, .retry_after_ms = -1};
    *cfg = NULL;
    if (cache_config_parse(body, len, cfg, reason, reasonlen) < 0)
        return ANSWER_DOC_DAMAGED;
    int rc = cache_config_check(*cfg, own_uuid, reason, reasonlen);
    /* A damaged document says nothing reliable about its version: downloaded again. */
    if (rc == -EBADMSG)
        return ANSWER_DOC_DAMAGED;
    const json_t *v = json_object_get(*cfg, "version");
    int64_t version = json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
    if (rc < 0) {
        if (version >= 0) {
            ev->kind = SYNC_EV_CONFIG_REJECTED;
            ev->version = version;
        }
        return ANSWER_DOC_REFUSED;
    }
    const char *given = json_string_value(json_object_get(*cfg, "checksum"));
    if (rejected_version >= 0 && version == rejected_version && given != NULL &&
        rejected_checksum != NULL && strcmp(given, rejected_checksum) == 0) {
        /* The very document that failed before: it would fail again. */
        ev->kind = SYNC_EV_CONFIG_REJECTED;
        ev->version = version;
        return ANSWER_DOC_REPEATED;
    }
    return ANSWER_DOC_APPLY;
}
