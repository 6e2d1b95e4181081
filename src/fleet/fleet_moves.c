/* The operator's side of a scenario, the requests the fleet makes as an administrator
 * rather than as a controller: the reassign scenario's train moves (PUT /api/trains/{id}
 * to a random ready controller, done once the new owner's heartbeat lists the train), and
 * after the measured phase the controller list, which counts duplicate and missing
 * registrations of this seed's identities. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_internal.h"
#include "log.h"
#include "timeutil.h"

#define FLEET_MOVE_TIMEOUT_MS 30000
#define FLEET_BODY_MAX (256u * 1024)        /* a train move's answer */
#define FLEET_LIST_MAX (512u * 1024 * 1024) /* the controller list */

static void move_finish(struct fleet *f, struct move *mv, bool ok)
{
    if (ok) {
        int64_t lat = mv->done_us - mv->put_us;
        stats_add(&f->res->move_latency, lat > 0 ? lat : 0);
        f->res->moves_done++;
    }
    f->ctls[mv->from].moving--;
    f->ctls[mv->to].moving--;
    mv->active = false;
}

/* A heartbeat listing a moved train completes the move to its new owner. */
void fleet_moves_reported(struct fleet *f, struct ctl *c)
{
    int64_t t = timeutil_mono_us();
    for (int i = 0; c->moving > 0 && i < FLEET_MAX_MOVES; i++) {
        struct move *mv = &f->moves[i];
        if (!mv->active || mv->done || mv->to != c->pos || fleet_ctl_train(c, mv->train) == NULL)
            continue;
        mv->done = true;
        mv->done_us = t;
        if (mv->put_ok)
            move_finish(f, mv, true);
    }
}

void fleet_moves_put_done(struct fleet *f, struct move *mv, const struct httpq_result *r)
{
    if (r->status != 200) {
        log_event(RH_LOG_WARNING, "move_refused", "{s:s, s:i}", "train_id", mv->train, "status",
                  (int)r->status);
        f->res->moves_failed++;
        move_finish(f, mv, false);
        return;
    }
    mv->put_ok = true;
    mv->put_us = timeutil_mono_us();
    if (mv->done) /* the new owner reported it before we read the PUT's answer */
        move_finish(f, mv, true);
}

static void move_start(struct fleet *f)
{
    struct move *mv = NULL;
    for (int i = 0; i < f->o->reassign_inflight && i < FLEET_MAX_MOVES; i++)
        if (!f->moves[i].active) {
            mv = &f->moves[i];
            break;
        }
    if (mv == NULL || !httpq_has_room(f->http))
        return;
    /* Random picks, bounded: the fleet may be too small to find a free pair right now. */
    for (int tries = 0; tries < 64; tries++) {
        struct ctl *a = &f->ctls[fleet_rand(f) % (uint64_t)f->n];
        struct ctl *b = &f->ctls[fleet_rand(f) % (uint64_t)f->n];
        if (a == b || a->moving || b->moving || a->ntrains == 0 || !a->ready || !b->ready ||
            b->ntrains >= FLEET_MAX_TRAINS - 1)
            continue;
        const struct tsim *t = &a->trains[fleet_rand(f) % (uint64_t)a->ntrains];
        char path[SIMID_TRAIN_MAX + 32];
        snprintf(path, sizeof path, "/api/trains/%s", t->id);
        char *body = fleet_json_text(json_pack("{s:s}", "controller_id", b->uuid));
        if (body == NULL)
            return;
        memset(mv, 0, sizeof *mv);
        snprintf(mv->train, sizeof mv->train, "%s", t->id);
        int rc = httpq_start(f->http, "PUT", path, body, NULL, NULL, FLEET_BODY_MAX, mv, FREQ_PUT);
        free(body);
        if (rc < 0)
            return;
        mv->active = true;
        mv->from = a->pos;
        mv->to = b->pos;
        mv->start_ms = f->now_ms;
        a->moving++;
        b->moving++;
        f->res->moves_started++;
        return;
    }
}

void fleet_moves_tick(struct fleet *f)
{
    for (int i = 0; i < FLEET_MAX_MOVES; i++) {
        struct move *mv = &f->moves[i];
        if (mv->active && f->now_ms - mv->start_ms > FLEET_MOVE_TIMEOUT_MS) {
            log_event(RH_LOG_WARNING, "move_timeout", "{s:s}", "train_id", mv->train);
            f->res->moves_timeout++;
            move_finish(f, mv, false);
        }
    }
    if (f->phase == PH_MEASURE && f->now_ms < f->measure_end_ms)
        for (int i = 0; i < f->o->reassign_inflight; i++)
            move_start(f);
}

bool fleet_moves_active(const struct fleet *f)
{
    for (int i = 0; i < FLEET_MAX_MOVES; i++)
        if (f->moves[i].active)
            return true;
    return false;
}

/* --- the duplicate count ------------------------------------------------------------------ */

void fleet_list_start(struct fleet *f)
{
    if (f->list_wanted && !f->list_running && httpq_has_room(f->http)) {
        if (httpq_start(f->http, "GET", "/api/controllers", NULL, NULL, NULL, FLEET_LIST_MAX, NULL,
                        FREQ_LIST) == 0) {
            f->list_wanted = false;
            f->list_running = true;
        }
    }
}

int fleet_uuid_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static json_t *answer_json(const struct httpq_result *r)
{
    if (r->body_len == 0 || r->body_truncated)
        return NULL;
    return json_loadb(r->body, r->body_len, 0, NULL);
}

void fleet_list_done(struct fleet *f, const struct httpq_result *r)
{
    f->list_running = false;
    f->list_done = true;
    json_t *j = r->status == 200 ? answer_json(r) : NULL;
    if (!json_is_array(j)) {
        log_event(RH_LOG_WARNING, "controller_list_failed", "{s:i, s:b}", "status", (int)r->status,
                  "truncated", r->body_truncated);
        json_decref(j);
        return;
    }
    unsigned char *seen = calloc((size_t)f->n_total, 1);
    if (seen == NULL) {
        json_decref(j);
        return;
    }
    size_t plen = strlen(f->prefix), i;
    long dup = 0, found = 0;
    json_t *row;
    json_array_foreach(j, i, row)
    {
        const char *name = json_string_value(json_object_get(row, "name"));
        const char *id = json_string_value(json_object_get(row, "id"));
        if (name == NULL || strncmp(name, f->prefix, plen) != 0)
            continue;
        const char(*hit)[UUIDSTR_LEN + 1] = id != NULL
                                                ? bsearch(id, f->sorted_uuids, (size_t)f->n_total,
                                                          sizeof f->sorted_uuids[0], fleet_uuid_cmp)
                                                : NULL;
        if (hit == NULL) {
            dup++; /* a record with our name that is not one of our identities */
            continue;
        }
        size_t k = (size_t)(hit - f->sorted_uuids);
        if (seen[k]) {
            dup++;
        } else {
            seen[k] = 1;
            found++;
        }
    }
    free(seen);
    f->res->duplicates_checked = true;
    f->res->duplicates = dup;
    f->res->missing = f->n_total - found; /* other shards may still be booting */
    json_decref(j);
}
