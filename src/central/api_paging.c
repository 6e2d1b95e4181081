/* The paged forms of GET /api/controllers and GET /api/trains (docs/api.md "Paged lists"):
 * ?limit, ?cursor, ?presence and ?name read on the server's thread, the page itself read and
 * built on the worker thread, one read transaction per page. */
#include "api_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api_views.h"
#include "central.h"
#include "paging.h"
#include "store.h"
#include "timeutil.h"

_Static_assert(sizeof(struct paging_args) <= HTTP_DEFER_ARG_MAX,
               "the page's arguments travel to the worker thread in the deferred request");

int api_paging_args(struct call *k, char kind, struct paging_args *out)
{
    struct paging_err err;
    int rc = paging_parse(
        kind, http_request_query(k->req, "limit"), http_request_query(k->req, "cursor"),
        http_request_query(k->req, "presence"), http_request_query(k->req, "name"), out, &err);
    if (rc < 0)
        http_response_error(k->resp, 422, "invalid_field", err.field, "%s", err.detail);
    return rc;
}

struct page {
    int limit;
    json_t *rows; /* the page's rows, at most limit */
    bool more;    /* a row beyond the page exists */
};

static int page_row(void *ctx, const json_t *row)
{
    struct page *p = ctx;
    if ((int)json_array_size(p->rows) == p->limit) {
        p->more = true; /* the one row asked beyond the page: only its existence counts */
        return 0;
    }
    return json_array_append(p->rows, (json_t *)row) == 0 ? 0 : -ENOMEM;
}

/* The views of the page's controllers, their trains read in one query rather than one per
 * controller (a hundred round trips to PostgreSQL were most of a page's time). */
static int controller_views(struct call *k, const json_t *rows, json_t *items)
{
    json_t *ids = json_array(), *trains = NULL, *by_owner = json_object();
    size_t i;
    json_t *row;
    int rc = ids != NULL && by_owner != NULL ? 0 : -ENOMEM;
    json_array_foreach(rows, i, row)
    {
        if (rc == 0 && json_array_append(ids, json_object_get(row, "id")) < 0)
            rc = -ENOMEM;
    }
    if (rc == 0)
        rc = store_train_list_for(k->c->store, ids, &trains);
    json_array_foreach(trains, i, row)
    {
        const char *owner = json_string_value(json_object_get(row, "desired_controller_id"));
        json_t *list = owner ? json_object_get(by_owner, owner) : NULL;
        if (rc == 0 && owner != NULL && list == NULL &&
            json_object_set_new(by_owner, owner, list = json_array()) < 0)
            rc = -ENOMEM;
        if (rc == 0 && list != NULL && json_array_append(list, row) < 0)
            rc = -ENOMEM;
    }
    json_array_foreach(rows, i, row)
    {
        const char *id = json_string_value(json_object_get(row, "id"));
        json_t *view =
            rc == 0 ? view_controller_with(k->c, row, k->now, json_object_get(by_owner, id)) : NULL;
        if (rc == 0 && (view == NULL || json_array_append_new(items, view) < 0))
            rc = -ENOMEM;
    }
    json_decref(ids);
    json_decref(trains);
    json_decref(by_owner);
    return rc;
}

static int train_views(struct call *k, const json_t *rows, json_t *items)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_t *view = view_train(k->c, row, true);
        if (view == NULL || json_array_append_new(items, view) < 0)
            return -ENOMEM;
    }
    return 0;
}

void api_page_work(void *ctx, const struct http_request *req, struct http_response *resp, char kind)
{
    struct call call = {.c = ctx, .req = req, .resp = resp, .now = timeutil_now_ms() / 1000};
    struct call *k = &call;
    const struct paging_args *a = req->defer_arg;
    struct page p = {.limit = a->limit, .rows = json_array()};
    json_t *items = json_array(), *body = NULL;
    struct store_page_query q = {
        .limit = a->limit + 1, /* one more: whether a next page exists, without an empty one */
        .after_name = a->has_after ? a->after_name : NULL,
        .after_id = a->has_after ? a->after_id : NULL,
        .name_part = a->name_part,
        .presence = a->presence,
    };
    presence_bounds(k->now, &k->c->opts.presence, &q.bounds);
    if (p.rows == NULL || items == NULL) {
        json_decref(p.rows);
        json_decref(items);
        http_response_error(resp, 500, "out_of_memory", NULL, "cannot build the page");
        return;
    }
    if (!api_begin(k, false)) {
        json_decref(p.rows);
        json_decref(items);
        return;
    }
    bool controllers = kind == PAGING_CONTROLLERS;
    int rc = controllers ? store_controller_page(k->c->store, &q, page_row, &p)
                         : store_train_page(k->c->store, &q, page_row, &p);
    if (rc == 0)
        rc = controllers ? controller_views(k, p.rows, items) : train_views(k, p.rows, items);
    store_rollback(k->c->store);
    /* The next page starts after the key of this one's last row. */
    const json_t *last = json_array_get(p.rows, json_array_size(p.rows) - 1);
    char *cursor = rc == 0 && p.more && last != NULL
                       ? paging_cursor(kind, json_string_value(json_object_get(last, "name")),
                                       json_string_value(json_object_get(last, "id")))
                       : NULL;
    if (rc == 0 && p.more && cursor == NULL)
        rc = -ENOMEM;
    if (rc == 0)
        body = json_pack("{s:O, s:o, s:i}", "items", items, "next_cursor",
                         cursor ? json_string(cursor) : json_null(), "limit", a->limit);
    free(cursor);
    json_decref(items);
    json_decref(p.rows);
    if (rc == -ENOMEM || (rc == 0 && body == NULL))
        http_response_error(resp, 500, "out_of_memory", NULL, "cannot build the page");
    else if (rc < 0)
        api_db_failed(k, rc);
    else
        http_response_json(resp, 200, body);
}
