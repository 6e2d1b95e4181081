#include "layout.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_views.h"
#include "central.h"
#include "events.h"
#include "log.h"
#include "notify.h"
#include "store.h"
#include "timeutil.h"
#include "withrottle.h"

#define SETTING_KEY "layout"

struct layout {
    pthread_mutex_t lock;
    bool stopped;
    char reason[201];
    char by[64];
    int64_t since; /* unix s; 0: never stopped */
    /* The last stop and who confirmed it. */
    char estop_id[UUIDSTR_LEN + 1]; /* "" before the first one of this process */
    int64_t estop_at;               /* unix s */
    int64_t estop_mono_ms;
    json_t *expected;  /* {uuid: name} live controllers asked to confirm */
    json_t *confirmed; /* {uuid: true} */
};

static struct layout *L(struct central *c)
{
    return c->layout;
}

static const char *text_of(const json_t *doc, const char *key)
{
    const char *s = json_string_value(json_object_get(doc, key));
    return s ? s : "";
}

/* Reads the persisted state into l. 0, -ENOENT when none was ever saved, or the store's
 * error. */
static int load_state(struct central *c, bool *stopped, char *reason, size_t reasonlen, char *by,
                      size_t bylen, int64_t *since)
{
    json_t *doc = NULL;
    int rc = store_begin(c->store, false);
    if (rc == 0) {
        rc = store_setting_get(c->store, SETTING_KEY, &doc);
        store_rollback(c->store);
    }
    if (rc < 0)
        return rc;
    *stopped = json_is_true(json_object_get(doc, "stopped"));
    snprintf(reason, reasonlen, "%s", text_of(doc, "reason"));
    snprintf(by, bylen, "%s", text_of(doc, "by"));
    *since = json_integer_value(json_object_get(doc, "since"));
    json_decref(doc);
    return 0;
}

int layout_init(struct central *c)
{
    struct layout *l = calloc(1, sizeof *l);
    if (l == NULL)
        return -ENOMEM;
    pthread_mutex_init(&l->lock, NULL);
    l->expected = json_object();
    l->confirmed = json_object();
    c->layout = l;
    int rc =
        load_state(c, &l->stopped, l->reason, sizeof l->reason, l->by, sizeof l->by, &l->since);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    if (l->stopped)
        log_event(RH_LOG_WARNING, "layout_stopped", "{s:s, s:s}", "reason", l->reason, "detail",
                  "stopped before this start; driving needs a resume");
    return 0;
}

int layout_reload(struct central *c)
{
    struct layout *l = L(c);
    if (l == NULL)
        return 0;
    bool stopped = false;
    char reason[sizeof l->reason] = "", by[sizeof l->by] = "";
    int64_t since = 0;
    int rc = load_state(c, &stopped, reason, sizeof reason, by, sizeof by, &since);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&l->lock);
    bool changed = l->stopped != stopped;
    l->stopped = stopped;
    memcpy(l->reason, reason, sizeof l->reason);
    memcpy(l->by, by, sizeof l->by);
    l->since = since;
    pthread_mutex_unlock(&l->lock);
    if (changed) {
        log_event(RH_LOG_WARNING, "layout_changed_elsewhere", "{s:b, s:s, s:s}", "stopped", stopped,
                  "by", by, "reason", reason);
        withrottle_power_changed(atomic_load(&c->withrottle));
    }
    return 0;
}

void layout_free(struct central *c)
{
    struct layout *l = L(c);
    if (l == NULL)
        return;
    json_decref(l->expected);
    json_decref(l->confirmed);
    pthread_mutex_destroy(&l->lock);
    free(l);
    c->layout = NULL;
}

bool layout_is_stopped(struct central *c)
{
    struct layout *l = L(c);
    if (l == NULL)
        return false;
    pthread_mutex_lock(&l->lock);
    bool s = l->stopped;
    pthread_mutex_unlock(&l->lock);
    return s;
}

static int persist(struct central *c, bool stopped, const char *reason, const char *by,
                   int64_t since)
{
    json_t *doc = json_pack("{s:b, s:s, s:s, s:I}", "stopped", stopped, "reason", reason, "by", by,
                            "since", (json_int_t)since);
    if (doc == NULL)
        return -ENOMEM;
    int rc = store_begin(c->store, true);
    if (rc == 0) {
        rc = store_setting_put(c->store, SETTING_KEY, doc);
        if (rc == 0)
            rc = store_commit(c->store); /* ends the transaction either way */
        else
            store_rollback(c->store);
    }
    json_decref(doc);
    return rc;
}

/* Every viewer hears of it: the UI's event stream, and the throttles' track power. */
static void publish_view(struct central *c)
{
    if (c->events != NULL)
        events_publish(c->events, "layout", layout_view(c));
}

static void announce(struct central *c)
{
    publish_view(c);
    withrottle_power_changed(atomic_load(&c->withrottle));
}

/* The controllers that should confirm a stop: live ones that run Roundhouse (the earlier
 * edge cannot answer). */
static json_t *live_controllers(struct central *c, int64_t now)
{
    json_t *rows = NULL, *out = json_object();
    if (store_begin(c->store, false) == 0) {
        if (store_controller_list(c->store, &rows) < 0)
            rows = NULL;
        store_rollback(c->store);
    }
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        enum presence p = view_presence(c, row, now);
        if ((p == PRESENCE_ONLINE || p == PRESENCE_STALE) && view_reports_placement(row))
            json_object_set(out, json_string_value(json_object_get(row, "id")),
                            json_object_get(row, "name"));
    }
    json_decref(rows);
    return out;
}

/* The broadcast stop estop_id sent, expected the controllers asked to confirm it. The stop to
 * confirm is in place before it goes out: an edge's confirmation can arrive before
 * notify_emergency_stop returns (it did on PostgreSQL, where the train list read after it
 * takes a round trip), and one for an id not yet recorded would be dropped. When it was not
 * sent, the previous stop stays the one shown. */
static int send_stop(struct central *c, const char *reason, const char *estop_id, int64_t now,
                     json_t *expected)
{
    struct layout *l = L(c);
    pthread_mutex_lock(&l->lock);
    char old_id[sizeof l->estop_id];
    memcpy(old_id, l->estop_id, sizeof old_id);
    json_t *old_expected = l->expected, *old_confirmed = l->confirmed;
    int64_t old_at = l->estop_at, old_mono = l->estop_mono_ms;
    memcpy(l->estop_id, estop_id, sizeof l->estop_id);
    l->estop_at = now;
    l->estop_mono_ms = timeutil_mono_ms();
    l->expected = json_incref(expected);
    l->confirmed = json_object();
    pthread_mutex_unlock(&l->lock);
    int rc = notify_emergency_stop(c->notify, reason, estop_id);
    pthread_mutex_lock(&l->lock);
    if (rc < 0) {
        memcpy(l->estop_id, old_id, sizeof l->estop_id);
        l->estop_at = old_at;
        l->estop_mono_ms = old_mono;
        json_decref(l->expected);
        json_decref(l->confirmed);
        l->expected = old_expected;
        l->confirmed = old_confirmed;
    } else {
        json_decref(old_expected);
        json_decref(old_confirmed);
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}

/* A stop on every train's own topic too, counted in out (trains, trains_failed, and the
 * controllers they are assigned to or run on). */
static void stop_every_train(struct central *c, struct layout_stop_result *out)
{
    json_t *trains = NULL, *seen = json_object();
    if (store_begin(c->store, false) == 0) {
        if (store_train_list(c->store, NULL, &trains) < 0)
            trains = NULL;
        store_rollback(c->store);
    }
    json_t *estop = json_pack("{s:s}", "action", "emergencyStop");
    size_t i;
    json_t *t;
    json_array_foreach(trains, i, t)
    {
        const char *tid = json_string_value(json_object_get(t, "id"));
        if (tid == NULL || notify_command(c->notify, tid, estop) < 0) {
            out->trains_failed++;
            continue;
        }
        out->trains++;
        const char *keys[] = {"desired_controller_id", "actual_controller_id"};
        for (size_t k = 0; k < 2; k++) {
            const char *cid = json_string_value(json_object_get(t, keys[k]));
            if (cid != NULL)
                json_object_set_new(seen, cid, json_true());
        }
    }
    json_decref(estop);
    json_decref(trains);
    out->controllers = json_object_size(seen);
    json_decref(seen);
}

int layout_emergency_stop(struct central *c, const char *reason, const char *origin,
                          struct layout_stop_result *out)
{
    struct layout *l = L(c);
    memset(out, 0, sizeof *out);
    uuidstr_generate(out->estop_id);
    int64_t now = timeutil_now_ms() / 1000;
    /* Asked to confirm: who is live now (before the stop, which a fail-safe might follow). */
    json_t *expected = live_controllers(c, now);
    int rc = send_stop(c, reason, out->estop_id, now, expected);
    if (rc < 0) {
        json_decref(expected);
        log_event(RH_LOG_ERROR, "emergency_stop", "{s:s, s:s, s:b}", "reason", reason, "origin",
                  origin, "sent", 0);
        return rc;
    }
    stop_every_train(c, out);
    out->expected = json_object_size(expected);

    pthread_mutex_lock(&l->lock);
    bool was = l->stopped;
    l->stopped = true;
    snprintf(l->reason, sizeof l->reason, "%s", reason);
    snprintf(l->by, sizeof l->by, "%s", origin);
    if (!was)
        l->since = now;
    json_decref(expected); /* l->expected holds it since before the stop went out */
    int64_t since = l->since;
    pthread_mutex_unlock(&l->lock);

    log_event(RH_LOG_WARNING, "emergency_stop", "{s:s, s:s, s:s, s:b, s:I, s:I, s:I}", "reason",
              reason, "origin", origin, "estop_id", out->estop_id, "sent", 1, "trains",
              (json_int_t)out->trains, "trains_failed", (json_int_t)out->trains_failed,
              "expected_confirmations", (json_int_t)out->expected);
    if (persist(c, true, reason, origin, since) < 0)
        log_event(RH_LOG_ERROR, "layout_state_not_saved", "{s:s}", "error",
                  store_last_error(c->store));
    announce(c);
    return 0;
}

int layout_resume(struct central *c, const char *origin)
{
    struct layout *l = L(c);
    pthread_mutex_lock(&l->lock);
    bool was = l->stopped;
    l->stopped = false;
    pthread_mutex_unlock(&l->lock);
    int rc = persist(c, false, "", origin, 0);
    if (rc < 0) {
        pthread_mutex_lock(&l->lock);
        l->stopped = was;
        pthread_mutex_unlock(&l->lock);
        return rc;
    }
    if (was)
        log_event(RH_LOG_WARNING, "layout_resumed", "{s:s}", "origin", origin);
    announce(c);
    return 0;
}

void layout_ack(struct central *c, const char *controller_uuid, const json_t *doc)
{
    struct layout *l = L(c);
    const char *id = json_string_value(json_object_get(doc, "estop_id"));
    if (l == NULL || id == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    bool counted = strcmp(id, l->estop_id) == 0 &&
                   json_object_get(l->expected, controller_uuid) != NULL &&
                   json_object_get(l->confirmed, controller_uuid) == NULL;
    if (counted)
        json_object_set_new(l->confirmed, controller_uuid, json_true());
    pthread_mutex_unlock(&l->lock);
    if (!counted)
        return;
    log_event(RH_LOG_INFO, "emergency_stop_confirmed", "{s:s, s:s}", "estop_id", id, "controller",
              controller_uuid);
    publish_view(c);
}

json_t *layout_view(struct central *c)
{
    struct layout *l = L(c);
    if (l == NULL)
        return json_pack("{s:b}", "stopped", 0);
    char since[TIMEUTIL_ISO_LEN + 1] = "";
    pthread_mutex_lock(&l->lock);
    json_t *v = json_pack("{s:b, s:s?, s:s?}", "stopped", l->stopped, "reason",
                          l->stopped ? l->reason : NULL, "by", l->stopped ? l->by : NULL);
    if (l->stopped && timeutil_format(l->since, since) == 0)
        json_object_set_new(v, "since", json_string(since));
    else
        json_object_set_new(v, "since", json_null());
    if (l->estop_id[0] == '\0') {
        json_object_set_new(v, "estop", json_null());
    } else {
        json_t *yes = json_array(), *no = json_array();
        const char *id;
        json_t *name;
        json_object_foreach(l->expected, id, name)
        {
            json_array_append_new(json_object_get(l->confirmed, id) ? yes : no,
                                  json_pack("{s:s, s:O}", "id", id, "name", name));
        }
        bool settled = json_array_size(no) == 0 ||
                       timeutil_mono_ms() - l->estop_mono_ms >= LAYOUT_ACK_WINDOW_MS;
        char at[TIMEUTIL_ISO_LEN + 1] = "";
        if (timeutil_format(l->estop_at, at) < 0)
            at[0] = '\0';
        json_object_set_new(v, "estop",
                            json_pack("{s:s, s:s, s:I, s:o, s:o, s:b}", "id", l->estop_id, "at", at,
                                      "expected", (json_int_t)json_object_size(l->expected),
                                      "confirmed", yes, "unconfirmed", no, "settled", settled));
    }
    pthread_mutex_unlock(&l->lock);
    return v;
}
