/* One page of a list (store_controller_page, store_train_page): its SELECT, written once for
 * both backends. They differ only in the collation that makes PostgreSQL compare and order
 * text by its bytes as SQLite does (struct store_backend's collate), so that a cursor means
 * the same row order on either. */
#include "store_backend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct page_sql {
    char sql[2048];
    char pattern[2 * 512 + 3]; /* the LIKE pattern of the name filter */
    int nparams;
    struct store_value params[8]; /* text borrowed from the query, or pattern */
};

struct builder {
    struct page_sql *out;
    size_t len;
    bool overflow;
};

static void put(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct builder *b, const char *fmt, ...)
{
    if (b->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->out->sql + b->len, sizeof b->out->sql - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof b->out->sql - b->len)
        b->overflow = true;
    else
        b->len += (size_t)n;
}

/* Writes the next parameter's placeholder and records its value. */
static void param(struct builder *b, struct store_value v)
{
    struct page_sql *o = b->out;
    o->params[o->nparams++] = v;
    put(b, "?");
}

/* name_part as a LIKE pattern: %part%, its own % _ and \ escaped with \. */
static int like_pattern(const char *part, char *out, size_t outlen)
{
    size_t j = 0;
    if (j + 1 >= outlen)
        return -E2BIG;
    out[j++] = '%';
    for (const char *p = part; *p; p++) {
        if (j + 3 >= outlen)
            return -E2BIG;
        if (*p == '%' || *p == '_' || *p == '\\')
            out[j++] = '\\';
        out[j++] = *p;
    }
    out[j++] = '%';
    out[j] = '\0';
    return 0;
}

/* The presence of the controller row aliased c (presence_from_bounds, in SQL: the same
 * order of tests), as the numbers of enum presence, among the wanted ones. A missing row
 * (a train whose controller is gone) has no last_seen: unknown, as the views say. */
static void presence_filter(struct builder *b, const struct store_page_query *q)
{
    put(b,
        " AND (CASE WHEN c.last_seen IS NULL OR c.last_seen < 0 THEN %d"
        " WHEN c.offline_epoch IS NOT NULL AND c.offline_epoch >= c.session_epoch THEN %d"
        " WHEN c.last_seen > ",
        PRESENCE_UNKNOWN, PRESENCE_OFFLINE);
    param(b, store_int(q->bounds.future_after));
    put(b, " THEN %d WHEN c.last_seen > ", PRESENCE_STALE);
    param(b, store_int(q->bounds.online_after));
    put(b, " THEN %d WHEN c.last_seen > ", PRESENCE_ONLINE);
    param(b, store_int(q->bounds.stale_after));
    put(b, " THEN %d ELSE %d END) IN (", PRESENCE_STALE, PRESENCE_OFFLINE);
    const char *sep = "";
    for (int p = PRESENCE_UNKNOWN; p <= PRESENCE_OFFLINE; p++) {
        if (q->presence & (1u << p)) {
            put(b, "%s%d", sep, p);
            sep = ",";
        }
    }
    put(b, ")");
}

/* The statement of a page of t (&store_controllers_table or &store_trains_table), its text
 * compared and ordered under collate, with the values to bind in out->params. -E2BIG when the
 * name filter is too long. */
static int page_sql(const struct store_table *t, const struct store_page_query *q,
                    const char *collate, struct page_sql *out)
{
    bool trains = t == &store_trains_table;
    const char *a = trains ? "t" : "c";
    struct builder b = {.out = out};
    out->nparams = 0;
    put(&b, "SELECT %s.* FROM %s %s", a, t->name, a);
    if (trains && q->presence != 0)
        /* The controller whose presence the train's status carries (view_train_status): the
         * one that reported it, else the one holding it; before any report, the one holding
         * it, else the one it is assigned to. */
        put(&b, " LEFT JOIN train_status s ON s.train_id = t.id"
                " LEFT JOIN controllers c ON c.id = CASE WHEN s.train_id IS NULL"
                " THEN COALESCE(t.actual_controller_id, t.desired_controller_id)"
                " ELSE COALESCE(s.controller_id, t.actual_controller_id) END");
    put(&b, " WHERE 1 = 1");
    if (q->after_id != NULL) {
        put(&b, " AND (%s.name%s, %s.id%s) > (", a, collate, a, collate);
        param(&b, store_text(q->after_name));
        put(&b, ", ");
        param(&b, store_text(q->after_id));
        put(&b, ")");
    }
    if (q->name_part != NULL && q->name_part[0] != '\0') {
        if (like_pattern(q->name_part, out->pattern, sizeof out->pattern) < 0)
            return -E2BIG;
        put(&b, " AND lower(%s.name%s) LIKE ", a, collate);
        param(&b, store_text(out->pattern));
        put(&b, " ESCAPE '\\'");
    }
    if (q->presence != 0)
        presence_filter(&b, q);
    put(&b, " ORDER BY %s.name%s, %s.id%s LIMIT ", a, collate, a, collate);
    param(&b, store_int(q->limit));
    return b.overflow ? -E2BIG : 0;
}

static int page(struct store *st, const struct store_table *t, const struct store_page_query *q,
                store_row_fn fn, void *ctx)
{
    struct page_sql sql;
    int rc = page_sql(t, q, st->be->collate, &sql);
    if (rc < 0)
        return rc;
    return st->be->select(st, t, sql.sql, sql.params, sql.nparams, fn, ctx);
}

int store_controller_page(struct store *st, const struct store_page_query *q,
                          int (*fn)(void *ctx, const json_t *row), void *ctx)
{
    return page(st, &store_controllers_table, q, fn, ctx);
}

int store_train_page(struct store *st, const struct store_page_query *q,
                     int (*fn)(void *ctx, const json_t *row), void *ctx)
{
    return page(st, &store_trains_table, q, fn, ctx);
}
