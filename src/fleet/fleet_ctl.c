/* A simulated controller's life with the central, decided by the edge's own code (rh_sync):
 * the state machine of sync.c says when to register, self-register trains, download the
 * config, heartbeat, register again after a 404, and how long to wait after a failure or a
 * Retry-After; answer.c reads every answer into the machine's event exactly as the edge does,
 * and a downloaded config passes the edge's checks (checksum, schema, own UUID) before it is
 * applied. This file builds the requests and carries them out, as edge_central.c does for
 * the edge.
 *
 * What is not the edge's, and why:
 *  - The long poll (the edge's fallback while its broker is unreachable) is never asked for:
 *    the machine is told at once that the broker is up. A held long poll occupies one of the
 *    fleet's --http-connections for up to 50 s, and the fleet opens its MQTT connections in a
 *    trickle (--mqtt-connecting), so thousands of controllers still waiting for theirs would
 *    fill the pool with held requests and stall everyone's registration. A notification
 *    missed while a controller's MQTT is down is learnt from its next heartbeat's answer.
 *  - The edge self-registers one train (TRAIN_ID); a simulated controller registers
 *    --trains-per-controller trains, one request each, which the machine sees as its one
 *    train registration: in flight until the last answer.
 *  - Identities derive from the seed and the index (the duplicate count relies on that): a
 *    registration answer with another UUID is a failed registration here; the edge would
 *    adopt the UUID.
 *  - The requests run on libcurl's multi interface with pooled keep-alive connections
 *    (httpq.c), not api_client.c's one connection per request: an action the machine asks
 *    for waits in a queue for a free connection, the machine counting it in flight. A config
 *    is applied at once (no motors, no apply transaction): a simulated train reaches any
 *    speed at once. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "fleet_internal.h"
#include "log.h"
#include "protocol.h"
#include "timeutil.h"

/* The machine is ticked at t at the latest. */
static void wake_by(struct ctl *c, int64_t t)
{
    if (c->wake_ms < 0 || t < c->wake_ms)
        c->wake_ms = t;
}

static void enqueue(struct fleet *f, struct ctl *c)
{
    if (c->queued || c->busy || f->qlen >= f->n)
        return;
    f->queue[(f->qhead + f->qlen) % f->n] = c->pos;
    f->qlen++;
    c->queued = true;
}

/* How many trains the controller registers itself (the edge: its one TRAIN_ID, or none). */
static int ctl_trains_wanted(const struct fleet *f, const struct ctl *c)
{
    return fleet_trains_of(f->o, c->idx);
}

bool fleet_ctl_registered(const struct ctl *c)
{
    return c->sync.phase == SYNC_REGISTERED;
}

struct tsim *fleet_ctl_train(struct ctl *c, const char *id)
{
    for (int i = 0; i < c->ntrains; i++)
        if (strcmp(c->trains[i].id, id) == 0)
            return &c->trains[i];
    return NULL;
}

/* Feeds one event to the controller's machine. A request it asks for waits in the queue for
 * a connection; the machine counts it as in flight from now on. */
static void ctl_feed(struct fleet *f, struct ctl *c, const struct sync_event *ev)
{
    struct sync_output out;
    sync_step(&c->sync, ev, f->now_ms, &out);
    c->wake_ms = out.wake_ms;
    if (out.action != SYNC_ACT_NONE) {
        c->pending = out.action;
        enqueue(f, c);
    }
    /* out.longpoll_version stays -1: the machine believes the broker up (see the top). */
}

static void ctl_feed_kind(struct fleet *f, struct ctl *c, enum sync_event_kind kind,
                          int64_t version)
{
    struct sync_event ev = {.kind = kind, .version = version, .retry_after_ms = -1};
    ctl_feed(f, c, &ev);
}

/* Ready: registered with its trains, the config the central wants applied and reported, MQTT
 * connected with every subscription acknowledged. */
void fleet_ctl_check_ready(struct fleet *f, struct ctl *c)
{
    const struct sync *s = &c->sync;
    if (c->ready)
        return;
    if (fleet_ctl_registered(c) && !s->train_pending && c->configured_once && !s->config_wanted &&
        c->hb_ok_since_apply && c->ms == M_UP && c->subacks == 0) {
        c->ready = true;
        f->n_ready++;
    }
}

/* A controller's machine starts as the edge's does at boot, with nothing applied, and is
 * told the broker is up so that it never asks for a long poll (see the top). */
void fleet_ctl_boot(struct fleet *f, struct ctl *c)
{
    uint64_t seed = (f->o->seed + 1) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(c->idx + 1);
    double hb_s = f->o->heartbeat_interval_s;
    sync_init(&c->sync, f->now_ms, ctl_trains_wanted(f, c) > 0, 0, -1, seed);
    if (hb_s > 0)
        sync_heartbeat_override_set(&c->sync, (int64_t)(hb_s * 1000.0 + 0.5));
    ctl_feed_kind(f, c, SYNC_EV_BROKER_UP, -1);
}

void fleet_ctl_tick(struct fleet *f, struct ctl *c)
{
    if (c->wake_ms >= 0 && f->now_ms >= c->wake_ms && f->phase < PH_SHUTDOWN)
        ctl_feed_kind(f, c, SYNC_EV_TICK, -1);
}

void fleet_ctl_notified(struct fleet *f, struct ctl *c, int64_t version)
{
    if (sync_version_wanted(&c->sync, version))
        f->res->config_updates++;
    ctl_feed_kind(f, c, SYNC_EV_NOTIFY, version);
}

/* The shell moves the next heartbeat, which the edge's never does: independently booted
 * edges are spread over one period, a simulated fleet boots together. */
void fleet_ctl_heartbeat_spread(struct fleet *f, struct ctl *c)
{
    int64_t iv = sync_heartbeat_period_ms(&c->sync);
    c->sync.next_heartbeat_ms = f->now_ms + (iv > 0 ? (int64_t)(fleet_rand(f) % (uint64_t)iv) : 0);
    wake_by(c, c->sync.next_heartbeat_ms);
}

/* --- requests ---------------------------------------------------------------------------- */

static char *register_body(const struct ctl *c)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "name", c->name, "address", "127.0.0.1",
                          "uuid", c->uuid, "version", ROUNDHOUSE_VERSION, "platform",
                          "roundhouse-fleet", "issue_secret", 1);
    if (j != NULL && c->sync.applied_version >= 0)
        json_object_set_new(j, "applied_config_version", json_integer(c->sync.applied_version));
    return fleet_json_text(j);
}

static char *train_body(const struct fleet *f, const struct ctl *c)
{
    char id[SIMID_TRAIN_MAX + 1], name[96];
    if (simid_train_id(f->o->seed, c->idx, c->trains_registered, id, sizeof id) < 0)
        return NULL;
    snprintf(name, sizeof name, "Fleet train %ld/%d", c->idx, c->trains_registered);
    return fleet_json_text(json_pack("{s:s, s:s, s:{s:s, s:{}}}", "train_id", id, "name", name,
                                     "plugin", "name", "simulator", "config"));
}

static char *heartbeat_body(const struct ctl *c)
{
    json_t *trains = json_array();
    for (int i = 0; trains != NULL && i < c->ntrains; i++)
        json_array_append_new(trains, json_pack("{s:s, s:i, s:s}", "train_id", c->trains[i].id,
                                                "speed", c->trains[i].speed, "direction",
                                                c->trains[i].reverse ? "BACKWARD" : "FORWARD"));
    json_t *j = json_pack("{s:s, s:s, s:o}", "version", ROUNDHOUSE_VERSION, "platform",
                          "roundhouse-fleet", "trains", trains);
    if (j == NULL)
        return NULL;
    if (c->sync.applied_version >= 0) {
        json_object_set_new(j, "config_version", json_integer(c->sync.applied_version));
        if (c->checksum[0] != '\0')
            json_object_set_new(j, "config_hash", json_string(c->checksum));
    }
    if (c->epoch > 0)
        json_object_set_new(j, "session_epoch", json_integer(c->epoch));
    return fleet_json_text(j);
}

/* The machine's action a, started as the edge's edge_central.c starts it (request_start). */
static int ctl_start(struct fleet *f, struct ctl *c, enum sync_action a)
{
    char path[UUIDSTR_LEN + 64];
    char *body = NULL;
    const char *method = "POST", *inm = NULL;
    int tag, rc;
    switch (a) {
    case SYNC_ACT_REGISTER:
        snprintf(path, sizeof path, "/api/controllers/register");
        body = register_body(c);
        tag = FREQ_REGISTER;
        break;
    case SYNC_ACT_REGISTER_TRAIN:
        snprintf(path, sizeof path, "/api/controllers/%s/trains", c->uuid);
        body = train_body(f, c);
        tag = FREQ_TRAIN;
        break;
    case SYNC_ACT_FETCH_CONFIG:
        snprintf(path, sizeof path, "/api/controllers/%s/config", c->uuid);
        method = "GET";
        inm = c->etag[0] != '\0' ? c->etag : NULL;
        tag = FREQ_CONFIG;
        break;
    case SYNC_ACT_HEARTBEAT:
        snprintf(path, sizeof path, "/api/controllers/%s/heartbeat", c->uuid);
        body = heartbeat_body(c);
        tag = FREQ_HEARTBEAT;
        break;
    default:
        return -EINVAL;
    }
    if (strcmp(method, "POST") == 0 && body == NULL)
        return -ENOMEM;
    /* Every call made as the controller carries its secret, as the edge's do (the train
     * registration too: the edge sends it there, the central does not require it). An
     * answer may be as long as the edge's own client takes. */
    rc = httpq_start(f->http, method, path, body, inm, c->secret_header, API_BODY_MAX, c, tag);
    free(body);
    if (rc == 0)
        c->busy = true;
    return rc;
}

/* The queued action, while the run still makes requests. One that cannot even start is
 * tried again a second later through a tick, as the edge does. */
void fleet_ctl_start_pending(struct fleet *f, struct ctl *c)
{
    enum sync_action a = c->pending;
    c->pending = SYNC_ACT_NONE;
    if (a == SYNC_ACT_NONE || f->phase >= PH_SHUTDOWN)
        return;
    if (ctl_start(f, c, a) < 0) {
        c->sync.inflight = SYNC_ACT_NONE;
        wake_by(c, f->now_ms + 1000);
    }
}

/* --- answers ----------------------------------------------------------------------------- */

static void registered(struct fleet *f, struct ctl *c, const struct answer *a)
{
    const char *status = json_string_value(json_object_get(a->body, "status"));
    for (int i = 0; status != NULL && i < FLEET_REG_STATUSES; i++)
        if (strcmp(status, fleet_reg_status_name(i)) == 0)
            f->res->reg_status[i]++;
    /* Every registration announces the trains again (sync.c). */
    c->trains_registered = 0;
    int64_t old_epoch = c->epoch;
    if (a->session_epoch >= 0)
        c->epoch = a->session_epoch;
    if (!c->counted_registered) {
        c->counted_registered = true;
        f->n_registered++;
        if (f->n_registered == f->n)
            f->res->registered_s = (double)(f->now_ms - f->start_ms) / 1000.0;
    }
    /* A new session while connected: announce it (the will follows at the next connect). */
    if (c->ms == M_UP && c->epoch != old_epoch)
        fleet_mqtt_presence(c, "online", NULL);
}

static void register_done(struct fleet *f, struct ctl *c, const struct httpq_result *r,
                          struct answer *a)
{
    if (a->ev.kind == SYNC_EV_REGISTERED && strcmp(a->uuid, c->uuid) != 0) {
        /* Not adopted (see the top): tried again like any failed registration. */
        log_event(RH_LOG_WARNING, "register_unexpected_answer", "{s:s, s:s}", "uuid", c->uuid,
                  "got", a->uuid);
        a->ev.kind = SYNC_EV_REGISTER_FAILED;
    }
    if (a->ev.kind == SYNC_EV_REGISTERED)
        registered(f, c, a);
    ctl_feed(f, c, &a->ev);
}

static void train_done(struct fleet *f, struct ctl *c, const struct httpq_result *r,
                       struct answer *a)
{
    (void)r;
    /* Answered for good (registered; 409: moved to another controller by an earlier run;
     * refused): on to the next train, the machine still counting its registration in
     * flight. */
    if (a->ev.kind == SYNC_EV_TRAIN_DONE && ++c->trains_registered < ctl_trains_wanted(f, c)) {
        c->pending = SYNC_ACT_REGISTER_TRAIN;
        enqueue(f, c);
        return;
    }
    ctl_feed(f, c, &a->ev);
}

/* Replaces the train set by the config's: removed trains stop (final status) and are
 * unsubscribed, new ones subscribed; unchanged ones keep their state. */
static void apply_trains(struct ctl *c, const json_t *list)
{
    struct tsim next[FLEET_MAX_TRAINS] = {0};
    int n = 0;
    size_t i;
    const json_t *t;
    json_array_foreach(list, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "train_id"));
        if (id == NULL || strlen(id) > SIMID_TRAIN_MAX)
            continue;
        if (n == FLEET_MAX_TRAINS)
            break;
        struct tsim *old = fleet_ctl_train(c, id);
        if (old != NULL) {
            next[n] = *old;
        } else {
            memset(&next[n], 0, sizeof next[n]);
            snprintf(next[n].id, sizeof next[n].id, "%s", id);
            fleet_mqtt_subscribe(c, id, true);
        }
        n++;
    }
    for (int k = 0; k < c->ntrains; k++) {
        bool kept = false;
        for (int m = 0; m < n && !kept; m++)
            kept = strcmp(next[m].id, c->trains[k].id) == 0;
        if (!kept) {
            c->trains[k].speed = 0;
            fleet_mqtt_status(c, &c->trains[k], 0);
            fleet_mqtt_subscribe(c, c->trains[k].id, false);
        }
    }
    memcpy(c->trains, next, (size_t)n * sizeof next[0]);
    c->ntrains = n;
}

/* A config that passed the edge's checks, applied at once; the event for the machine. */
static struct sync_event config_apply(struct fleet *f, struct ctl *c, const json_t *cfg,
                                      const char *etag)
{
    int64_t version = json_integer_value(json_object_get(cfg, "version"));
    const char *sum = json_string_value(json_object_get(cfg, "checksum"));
    apply_trains(c, json_object_get(cfg, "trains"));
    snprintf(c->checksum, sizeof c->checksum, "%s", sum != NULL ? sum : "");
    snprintf(c->etag, sizeof c->etag, "%s", etag);
    c->configured_once = true;
    c->hb_ok_since_apply = false;
    if (!c->counted_configured) {
        c->counted_configured = true;
        f->n_configured++;
    }
    return (struct sync_event){
        .kind = SYNC_EV_CONFIG_APPLIED, .version = version, .retry_after_ms = -1};
}

/* A 200 to the download: the edge's verdict on the document (answer_config_document). */
static void config_downloaded(struct fleet *f, struct ctl *c, const struct httpq_result *r)
{
    json_t *cfg = NULL;
    char reason[200] = "";
    struct sync_event ev;
    enum answer_doc verdict;
    verdict = answer_config_document(r->body, r->body_len, c->uuid, c->rejected_version,
                                     c->rejected_checksum, &cfg, &ev, reason, sizeof reason);
    if (verdict == ANSWER_DOC_APPLY) {
        ev = config_apply(f, c, cfg, r->etag);
    } else {
        log_event(RH_LOG_WARNING, "config_rejected", "{s:s, s:s, s:b}", "uuid", c->uuid, "reason",
                  verdict == ANSWER_DOC_REPEATED ? "refused before" : reason, "retry",
                  verdict == ANSWER_DOC_DAMAGED);
        if (verdict == ANSWER_DOC_REFUSED && ev.kind == SYNC_EV_CONFIG_REJECTED) {
            const char *sum = json_string_value(json_object_get(cfg, "checksum"));
            c->rejected_version = ev.version;
            snprintf(c->rejected_checksum, sizeof c->rejected_checksum, "%s", sum ? sum : "");
        }
    }
    json_decref(cfg);
    ctl_feed(f, c, &ev);
}

static void config_done(struct fleet *f, struct ctl *c, const struct httpq_result *r,
                        struct answer *a)
{
    if (a->document) {
        config_downloaded(f, c, r);
        return;
    }
    if (a->ev.kind == SYNC_EV_CONFIG_UNCHANGED) {
        f->res->req[FREQ_CONFIG].not_modified++;
        c->configured_once = true;
    }
    ctl_feed(f, c, &a->ev);
}

static void heartbeat_done(struct fleet *f, struct ctl *c, const struct httpq_result *r,
                           struct answer *a)
{
    (void)r;
    if (a->ev.kind == SYNC_EV_HEARTBEAT_OK) {
        c->hb_ok_since_apply = true;
        fleet_moves_reported(f, c);
    }
    ctl_feed(f, c, &a->ev);
    fleet_ctl_check_ready(f, c);
}

/* A controller's request answered: read as the edge reads it (answer.c), then acted on. */
void fleet_ctl_answered(struct fleet *f, struct ctl *c, int tag, const struct httpq_result *r)
{
    /* Per request tag: the machine's action it carried out, and what acts on its answer. */
    static const struct {
        enum sync_action action;
        void (*done)(struct fleet *f, struct ctl *c, const struct httpq_result *r,
                     struct answer *a);
    } requests[] = {
        [FREQ_REGISTER] = {SYNC_ACT_REGISTER, register_done},
        [FREQ_TRAIN] = {SYNC_ACT_REGISTER_TRAIN, train_done},
        [FREQ_CONFIG] = {SYNC_ACT_FETCH_CONFIG, config_done},
        [FREQ_HEARTBEAT] = {SYNC_ACT_HEARTBEAT, heartbeat_done},
    };
    if (tag < 0 || tag > FREQ_HEARTBEAT)
        return;
    /* An answer above the limit fails like no answer, as in the edge's client. */
    struct api_response ar = {
        .status = r->body_truncated ? 0 : r->status,
        .body = r->body,
        .body_len = r->body_len,
        .retry_after_ms = r->retry_after_s >= 0 ? r->retry_after_s * 1000 : -1,
        .etag = r->etag,
    };
    struct answer a;
    c->busy = false;
    answer_read(requests[tag].action, &ar, &a);
    requests[tag].done(f, c, r, &a);
    answer_clear(&a);
    if (c->ms == M_UP)
        fleet_mqtt_flush(c); /* statuses and (un)subscriptions queued by an apply */
}
