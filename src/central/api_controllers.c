/* The controller list and one controller, and the operator's changes to them: rename and
 * describe, enable and disable, delete, prune (docs/api.md "Controllers"). */
#include "api_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_views.h"
#include "central.h"
#include "events.h"
#include "mqtt_acl.h"
#include "notify.h"
#include "paging.h"
#include "registry.h"
#include "registry_tx.h"
#include "runtime_config.h"
#include "store.h"
#include "timeutil.h"

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
 * page (a few ms), not for the whole list. The pages are separate transactions, each starting
 * after the last controller of the one before: a controller deleted meanwhile is missing
 * from this answer or not, and no other one is skipped or listed twice. */
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
    struct store_list_key after = STORE_LIST_START;
    while (rc == 0) {
        json_array_clear(page);
        if (!api_begin(k, false)) {
            fclose(w.out);
            free(text);
            json_decref(page);
            return;
        }
        struct list_page p = {.k = k, .views = page};
        rc = store_controller_foreach_after(k->c->store, &after, LIST_PAGE, list_collect, &p);
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
        api_db_failed(k, rc);
        return;
    }
    k->resp->status = 200;
    k->resp->text = text;
    k->resp->content_type = "application/json";
}

static void controllers_page_work(void *ctx, const struct http_request *req,
                                  struct http_response *resp)
{
    api_page_work(ctx, req, resp, PAGING_CONTROLLERS);
}

/* Without a paging parameter, the whole list as a bare array, as before paging (the earlier
 * UI and exports read it); with one, a page (api_paging.c). */
void h_controllers_list(struct call *k)
{
    struct paging_args a;
    int paged = api_paging_args(k, PAGING_CONTROLLERS, &a);
    if (paged == 0)
        http_request_defer(k->req, k->resp, controllers_list_work, k->c);
    else if (paged == 1)
        http_request_defer_arg(k->req, k->resp, controllers_page_work, k->c, &a, sizeof a);
}

/* A controller read's result rc answered when it is not 0: 404 or the database's failure. */
static bool loaded(struct call *k, const char *id, int rc)
{
    if (rc == -ENOENT)
        api_not_found_controller(k, id);
    else if (rc < 0)
        api_db_failed(k, rc);
    return rc == 0;
}

/* The row of one of the store's controller reads (get: store_controller_get and the like). */
static json_t *load_controller(struct call *k, const char *id,
                               int (*get)(struct store *, const char *, json_t **))
{
    json_t *row = NULL;
    return loaded(k, id, get(k->c->store, id, &row)) ? row : NULL;
}

json_t *api_load_controller(struct call *k, const char *id)
{
    return load_controller(k, id, store_controller_get);
}

bool api_load_controller_brief(struct call *k, const char *id, struct store_controller_brief *out)
{
    return loaded(k, id, store_controller_get_brief(k->c->store, id, out));
}

json_t *api_load_controller_for_config(struct call *k, const char *id)
{
    return load_controller(k, id, store_controller_get_for_config);
}

bool api_controller_exists(struct call *k, const char *id)
{
    json_t *row = api_load_controller(k, id);
    json_decref(row);
    return row != NULL;
}

/* GET /api/controllers/{id} (its view) and GET /api/controllers/{id}/ping (an "ok" for a
 * request that may act as that controller, api_controller_authorized): one read of the row. */
static void controller_read(struct call *k, bool ping)
{
    char id[UUIDSTR_LEN + 1];
    if (!api_path_uuid(k, k->arg[0], id))
        return;
    if (!api_begin(k, false))
        return;
    json_t *row = api_load_controller(k, id);
    if (row != NULL && !ping)
        http_response_json(k->resp, 200, view_controller(k->c, row, k->now, true));
    else if (row != NULL && api_controller_authorized(k, row))
        http_response_json(k->resp, 200, json_pack("{s:s, s:s}", "status", "ok", "uuid", id));
    store_rollback(k->c->store);
    json_decref(row);
}

void h_controller_get(struct call *k)
{
    controller_read(k, false);
}

void h_controller_ping(struct call *k)
{
    controller_read(k, true);
}

/* The body of PATCH /api/controllers/{id}, validated: *fields what is written. */
struct controller_patch {
    const char *name; /* NULL: not sent */
    bool has_enabled, enabled;
};

static json_t *parse_controller_patch(const json_t *b, struct controller_patch *p,
                                      struct jsonx_err *err)
{
    const char *desc = NULL;
    int has_name, has_desc, has_enabled;
    memset(p, 0, sizeof *p);
    if ((has_name = jsonx_string(b, "name", 1, PROTO_NAME_MAX, false, &p->name, err)) < 0 ||
        (has_desc = jsonx_string(b, "description", 0, PROTO_DESCRIPTION_MAX, true, &desc, err)) <
            0 ||
        (has_enabled = jsonx_bool(b, "enabled", &p->enabled, err)) < 0)
        return NULL;
    p->has_enabled = has_enabled == 1;
    json_t *fields = json_object();
    if (has_name)
        json_object_set_new(fields, "name", json_string(p->name));
    if (has_desc)
        json_object_set_new(fields, "description", desc ? json_string(desc) : json_null());
    if (p->has_enabled)
        json_object_set_new(fields, "enabled", json_boolean(p->enabled));
    return fields;
}

/* Controller id is being disabled: its trains leave its runtime config, so they are stopped
 * first. -ENOTCONN when a stop was not taken (the 503 sent), or a store error. */
static int stop_trains_of(struct call *k, const char *id)
{
    json_t *trains = NULL;
    int rc = store_train_list(k->c->store, id, &trains);
    size_t i;
    json_t *t;
    json_array_foreach(trains, i, t)
    {
        if (rc == 0 && !api_stop_before_leaving(k, json_string_value(json_object_get(t, "id")), t))
            rc = -ENOTCONN;
    }
    json_decref(trains);
    return rc;
}

/* Inside the transaction: the patch of controller id (its row) written. */
static int patch_controller(struct call *k, const char *id, const json_t *row,
                            const struct controller_patch *p, json_t *fields)
{
    bool renamed =
        p->name != NULL && strcmp(p->name, json_string_value(json_object_get(row, "name"))) != 0;
    bool toggled = p->has_enabled && p->enabled != !json_is_false(json_object_get(row, "enabled"));
    int rc = 0;
    if (toggled && !p->enabled && (rc = stop_trains_of(k, id)) < 0)
        return rc;
    if (json_object_size(fields) > 0)
        json_object_set_new(fields, "updated_at", json_integer(k->now));
    rc = store_controller_update(k->c->store, id, fields);
    /* The name is part of the runtime config; a disabled controller's config has no trains. */
    if (rc == 0 && (renamed || toggled))
        rc = store_controller_bump_config(k->c->store, id, k->now);
    return rc;
}

void h_controller_patch(struct call *k)
{
    struct central *c = k->c;
    char id[UUIDSTR_LEN + 1];
    if (!api_path_uuid(k, k->arg[0], id))
        return;
    json_t *b = api_body_object(k, false);
    if (b == NULL)
        return;
    struct jsonx_err err;
    struct controller_patch p;
    json_t *row = NULL, *fields = parse_controller_patch(b, &p, &err);
    if (fields == NULL) {
        api_invalid(k, &err);
        goto out;
    }
    if (!api_begin(k, true))
        goto out;
    row = api_load_controller(k, id);
    if (row == NULL) {
        store_rollback(c->store);
        goto out;
    }
    int rc = patch_controller(k, id, row, &p, fields);
    json_decref(row);
    row = NULL;
    if (rc == 0)
        rc = store_controller_get(c->store, id, &row);
    if (rc < 0) {
        store_rollback(c->store);
        if (rc != -ENOTCONN)
            api_db_failed(k, rc);
        goto out;
    }
    json_t *view = view_controller(c, row, k->now, true);
    rc = store_commit(c->store);
    if (rc < 0) {
        json_decref(view);
        api_db_failed(k, rc);
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
    int rc = store_setting_get(k->c->store, REGISTRY_DELETED_KEY, &doc);
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
    rc = store_setting_put(k->c->store, REGISTRY_DELETED_KEY, doc);
    json_decref(doc);
    return rc;
}

/* Deletes controller id in its own transaction, each of its trains stopped first and then
 * unassigned. 0; -ENOENT; -ENOTCONN when a stop could not be sent (the 503 set, nothing
 * changed); another negative errno from the store. */
static int remove_controller(struct call *k, const char *id)
{
    struct central *c = k->c;
    if (!api_begin(k, true))
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
        if (!api_stop_before_leaving(k, json_string_value(json_object_get(t, "id")), t)) {
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
    log_event(RH_LOG_INFO, "controller_deleted", "{s:s}", "uuid", id);
    mqtt_acl_forget(c, id);
    events_publish(c->events, "controller", json_pack("{s:s, s:b}", "id", id, "deleted", 1));
    return 0;
}

void h_controller_delete(struct call *k)
{
    char id[UUIDSTR_LEN + 1];
    if (!api_path_uuid(k, k->arg[0], id))
        return;
    int rc = remove_controller(k, id);
    if (rc == -ENOENT)
        api_not_found_controller(k, id);
    else if (rc == -ENOTCONN || rc == -EIO)
        ; /* answered already (503) */
    else if (rc < 0)
        api_db_failed(k, rc);
    else
        k->resp->status = 204;
}

/* POST /api/controllers/prune {"offline_for": SEC}: deletes every controller that is offline
 * (or never seen) and was last seen at least SEC seconds ago, as DELETE does. */
void h_controllers_prune(struct call *k)
{
    struct central *c = k->c;
    json_t *b = api_body_object(k, false);
    if (b == NULL)
        return;
    struct jsonx_err err;
    int64_t age = -1;
    int has = jsonx_int(b, "offline_for", 0, INT64_MAX / 4, &age, &err);
    json_decref(b);
    if (has == 0)
        jsonx_err_set(&err, "offline_for", "'offline_for' (seconds) is required");
    if (has != 1) {
        api_invalid(k, &err);
        return;
    }
    if (!notify_connected(c->notify)) {
        http_response_error(k->resp, 503, "broker_unavailable", NULL,
                            "the MQTT broker is not reachable: the trains of the controllers "
                            "to prune could not be stopped first, so nothing was deleted");
        return;
    }
    json_t *rows = NULL, *gone = json_array();
    if (!api_begin(k, false)) {
        json_decref(gone);
        return;
    }
    int rc = store_controller_list(c->store, &rows);
    store_rollback(c->store);
    if (rc < 0) {
        api_db_failed(k, rc);
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
            api_db_failed(k, rc);
        json_decref(gone);
        return;
    }
    log_event(RH_LOG_INFO, "controllers_pruned", "{s:I, s:I}", "offline_for", (json_int_t)age,
              "deleted", (json_int_t)json_array_size(gone));
    http_response_json(
        k->resp, 200,
        json_pack("{s:I, s:o}", "deleted", (json_int_t)json_array_size(gone), "controllers", gone));
}
