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
    struct call *k;
    char kind;
    int limit;
    json_t *items;
    bool more;          /* a row beyond the page exists */
    const json_t *last; /* the last item's row key: name, id (in items) */
    char *cursor;
};

static int page_row(void *ctx, const json_t *row)
{
    struct page *p = ctx;
    if ((int)json_array_size(p->items) == p->limit) {
        p->more = true; /* the one row asked beyond the page: only its existence counts */
        return 0;
    }
    json_t *view = p->kind == PAGING_CONTROLLERS ? view_controller(p->k->c, row, p->k->now, true)
                                                 : view_train(p->k->c, row, true);
    if (view == NULL || json_array_append_new(p->items, view) < 0)
        return -ENOMEM;
    free(p->cursor);
    /* The key of every row the page ends on is kept, for the cursor of the next page. */
    p->cursor = paging_cursor(p->kind, json_string_value(json_object_get(row, "name")),
                              json_string_value(json_object_get(row, "id")));
    return p->cursor != NULL ? 0 : -ENOMEM;
}

void api_page_work(void *ctx, const struct http_request *req, struct http_response *resp, char kind)
{
    struct call call = {.c = ctx, .req = req, .resp = resp, .now = timeutil_now_ms() / 1000};
    struct call *k = &call;
    const struct paging_args *a = req->defer_arg;
    struct page p = {.k = k, .kind = kind, .limit = a->limit, .items = json_array()};
    struct store_page_query q = {
        .limit = a->limit + 1, /* one more: whether a next page exists, without an empty one */
        .after_name = a->has_after ? a->after_name : NULL,
        .after_id = a->has_after ? a->after_id : NULL,
        .name_part = a->name_part,
        .presence = a->presence,
    };
    presence_bounds(k->now, &k->c->opts.presence, &q.bounds);
    if (p.items == NULL) {
        http_response_error(resp, 500, "out_of_memory", NULL, "cannot build the page");
        return;
    }
    if (!api_begin(k, false)) {
        json_decref(p.items);
        return;
    }
    int rc = kind == PAGING_CONTROLLERS ? store_controller_page(k->c->store, &q, page_row, &p)
                                        : store_train_page(k->c->store, &q, page_row, &p);
    store_rollback(k->c->store);
    json_t *body = NULL;
    if (rc == 0)
        body =
            json_pack("{s:o, s:o, s:i}", "items", p.items, "next_cursor",
                      p.more && p.cursor ? json_string(p.cursor) : json_null(), "limit", a->limit);
    else
        json_decref(p.items);
    free(p.cursor);
    if (rc == -ENOMEM || (rc == 0 && body == NULL))
        http_response_error(resp, 500, "out_of_memory", NULL, "cannot build the page");
    else if (rc < 0)
        api_db_failed(k, rc);
    else
        http_response_json(resp, 200, body);
}
