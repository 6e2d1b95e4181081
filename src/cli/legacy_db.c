#include "legacy_db.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "timeutil.h"
#include "uuidstr.h"

/* The earlier schema's tables and the columns without which a row means nothing. Every other
 * column is optional: databases created before the earlier system's telemetry migration lack
 * them (its migration runner never applied them). */
static const char *const controller_needs[] = {"id", "name", NULL};
static const char *const train_needs[] = {"id", "name", "plugin_name", "edge_controller_id", NULL};
static const char *const plugin_needs[] = {"name", NULL};

struct reader {
    sqlite3 *db;
    char *err;
    size_t errlen;
    char *warn;
    size_t warnlen;
    size_t warned;
};

static int failf(struct reader *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int failf(struct reader *r, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (r->errlen > 0)
        vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static void warnf(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warnf(struct reader *r, const char *fmt, ...)
{
    if (r->warnlen == 0 || r->warned + 2 >= r->warnlen)
        return;
    if (r->warned > 0)
        r->warned += (size_t)snprintf(r->warn + r->warned, r->warnlen - r->warned, "; ");
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->warn + r->warned, r->warnlen - r->warned, fmt, ap);
    va_end(ap);
    if (n > 0)
        r->warned += (size_t)n < r->warnlen - r->warned ? (size_t)n : r->warnlen - r->warned - 1;
}

/* A file that is not SQLite at all is the user's mistake, not a read error. */
static int read_failed(struct reader *r)
{
    if (sqlite3_errcode(r->db) == SQLITE_NOTADB)
        return failf(r, -EINVAL, "not a database of the earlier system: not an SQLite file");
    return failf(r, -EIO, "%s", sqlite3_errmsg(r->db));
}

/* 1 when table exists with every needed column, 0 when it does not exist, -EINVAL (err set)
 * when it exists without one of them. */
static int table_check(struct reader *r, const char *table, const char *const *needs)
{
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return read_failed(r);
    bool found[8] = {false};
    int columns = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        columns++;
        for (size_t i = 0; i < 8 && needs[i] != NULL; i++)
            found[i] = found[i] || (name != NULL && strcmp(name, needs[i]) == 0);
    }
    if (rc != SQLITE_DONE) {
        rc = read_failed(r);
        goto out;
    }
    rc = columns > 0;
    for (size_t i = 0; rc == 1 && needs[i] != NULL && i < 8; i++)
        if (!found[i])
            rc =
                failf(r, -EINVAL, "not a database of the earlier system: table %s has no column %s",
                      table, needs[i]);
out:
    sqlite3_finalize(st);
    return rc;
}

static const char *column_text(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL
                                                     : (const char *)sqlite3_column_text(st, i);
}

/* A timestamp column as ISO-8601 UTC, or nothing when it is empty or not a time. */
static void set_time(json_t *o, const char *key, const char *text)
{
    int64_t ms = 0;
    char iso[32];
    if (text != NULL && timeutil_parse_ms(text, &ms) == 0 &&
        timeutil_format_ms(ms, iso, sizeof iso) == 0)
        json_object_set_new(o, key, json_string(iso));
}

/* A JSON column of the earlier schema (plugin_config, plugins.config) as an object. */
static int json_column(struct reader *r, const char *text, const char *where, json_t **out)
{
    *out = NULL;
    if (text == NULL || text[0] == '\0')
        return 0;
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (json_is_null(v)) {
        json_decref(v);
        return 0;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        return failf(r, -EINVAL, "%s: not a JSON object", where);
    }
    *out = v;
    return 0;
}

typedef int (*row_fn)(struct reader *r, sqlite3_stmt *st, long row, json_t *doc);

/* Runs fn for every row of table in rowid order (columns looked up by name: the earlier
 * schema's column order differs between databases made before and after its migration). */
static int each_row(struct reader *r, const char *table, row_fn fn, json_t *doc)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY rowid", table);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
        return failf(r, -EIO, "%s", sqlite3_errmsg(r->db));
    int rc;
    long row = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        row++;
        if ((rc = fn(r, st, row, doc)) < 0)
            goto out;
    }
    rc = rc == SQLITE_DONE ? 0 : failf(r, -EIO, "%s", sqlite3_errmsg(r->db));
out:
    sqlite3_finalize(st);
    return rc;
}

static int column_index(sqlite3_stmt *st, const char *name)
{
    for (int i = 0; i < sqlite3_column_count(st); i++)
        if (strcmp(sqlite3_column_name(st, i), name) == 0)
            return i;
    return -1;
}

static const char *text_of(sqlite3_stmt *st, const char *name)
{
    int i = column_index(st, name);
    return i < 0 ? NULL : column_text(st, i);
}

static void set_text(json_t *o, const char *key, const char *text)
{
    if (text != NULL)
        json_object_set_new(o, key, json_string(text));
}

static void set_int(json_t *o, const char *key, sqlite3_stmt *st, const char *column)
{
    int i = column_index(st, column);
    if (i >= 0 && sqlite3_column_type(st, i) == SQLITE_INTEGER)
        json_object_set_new(o, key, json_integer(sqlite3_column_int64(st, i)));
}

static int plugin_row(struct reader *r, sqlite3_stmt *st, long row, json_t *doc)
{
    const char *name = text_of(st, "name");
    if (name == NULL)
        return failf(r, -EINVAL, "plugins row %ld: no name", row);
    char where[64];
    snprintf(where, sizeof where, "plugins row %ld, column config", row);
    json_t *config = NULL;
    if (json_column(r, text_of(st, "config"), where, &config) < 0)
        return -EINVAL;
    json_t *p = json_pack("{s:s}", "name", name);
    set_text(p, "description", text_of(st, "description"));
    if (config != NULL)
        json_object_set_new(p, "config", config);
    json_array_append_new(json_object_get(doc, "plugins"), p);
    return 0;
}

static int controller_row(struct reader *r, sqlite3_stmt *st, long row, json_t *doc)
{
    const char *id = text_of(st, "id"), *name = text_of(st, "name");
    char uuid[UUIDSTR_LEN + 1];
    if (id == NULL || uuidstr_normalize(id, uuid) < 0)
        return failf(r, -EINVAL, "edge_controllers row %ld: id '%.60s' is not a UUID", row,
                     id ? id : "");
    if (name == NULL)
        return failf(r, -EINVAL, "edge_controllers row %ld (%s): no name", row, uuid);
    json_t *c = json_pack("{s:s, s:s}", "id", uuid, "name", name);
    set_text(c, "description", text_of(st, "description"));
    set_text(c, "address", text_of(st, "address"));
    int en = column_index(st, "enabled");
    if (en >= 0 && sqlite3_column_type(st, en) != SQLITE_NULL)
        json_object_set_new(c, "enabled", json_boolean(sqlite3_column_int(st, en) != 0));
    set_time(c, "first_seen", text_of(st, "first_seen"));
    set_time(c, "last_seen", text_of(st, "last_seen"));
    set_text(c, "version", text_of(st, "version"));
    set_text(c, "platform", text_of(st, "platform"));
    /* What the earlier edges reported and Roundhouse has no column of its own for. */
    json_t *meta = json_pack("{s:s}", "imported_from", "earlier system");
    set_text(meta, "python_version", text_of(st, "python_version"));
    set_int(meta, "memory_mb", st, "memory_mb");
    set_int(meta, "cpu_count", st, "cpu_count");
    set_text(meta, "config_hash", text_of(st, "config_hash"));
    json_object_set_new(c, "metadata", meta);
    json_array_append_new(json_object_get(doc, "controllers"), c);
    return 0;
}

static bool controller_known(const json_t *doc, const char *uuid)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "controllers"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "id")), uuid) == 0)
            return true;
    }
    return false;
}

static int train_row(struct reader *r, sqlite3_stmt *st, long row, json_t *doc)
{
    const char *id = text_of(st, "id"), *name = text_of(st, "name");
    const char *plugin = text_of(st, "plugin_name"), *owner = text_of(st, "edge_controller_id");
    if (id == NULL || name == NULL)
        return failf(r, -EINVAL, "trains row %ld: no id or name", row);
    char where[160];
    snprintf(where, sizeof where, "trains row %ld (%.100s), column plugin_config", row, id);
    json_t *config = NULL;
    if (json_column(r, text_of(st, "plugin_config"), where, &config) < 0)
        return -EINVAL;
    json_t *t = json_pack("{s:s, s:s}", "id", id, "name", name);
    set_text(t, "description", text_of(st, "description"));
    set_text(t, "model", text_of(st, "model"));
    int inv = column_index(st, "invert_directions");
    json_object_set_new(t, "invert_directions",
                        json_boolean(inv >= 0 && sqlite3_column_int(st, inv) != 0));
    if (plugin != NULL)
        json_object_set_new(
            t, "plugin",
            json_pack("{s:s, s:o}", "name", plugin, "config", config ? config : json_object()));
    else
        json_decref(config);
    /* The earlier schema never enforced its foreign key: a train may name a controller that
     * does not exist. It is carried over unassigned rather than refused. */
    char uuid[UUIDSTR_LEN + 1];
    if (owner != NULL && uuidstr_normalize(owner, uuid) == 0 && controller_known(doc, uuid)) {
        json_object_set_new(t, "controller_id", json_string(uuid));
    } else {
        json_object_set_new(t, "controller_id", json_null());
        warnf(r, "train %.100s: its controller '%.60s' does not exist, imported unassigned", id,
              owner ? owner : "");
    }
    json_array_append_new(json_object_get(doc, "trains"), t);
    return 0;
}

int legacy_db_read(const char *path, json_t **doc, char *err, size_t errlen, char *warn,
                   size_t warnlen)
{
    struct reader r = {.err = err, .errlen = errlen, .warn = warn, .warnlen = warnlen, .warned = 0};
    json_t *out = NULL;
    int rc;
    if (warnlen > 0)
        warn[0] = '\0';
    if (sqlite3_open_v2(path, &r.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = failf(&r, -EIO, "%s", r.db ? sqlite3_errmsg(r.db) : "out of memory");
        goto out;
    }
    int has_controllers = table_check(&r, "edge_controllers", controller_needs);
    int has_trains = has_controllers < 0 ? 0 : table_check(&r, "trains", train_needs);
    int has_plugins = has_trains < 0 ? 0 : table_check(&r, "plugins", plugin_needs);
    if (has_controllers < 0 || has_trains < 0 || has_plugins < 0) {
        rc = has_controllers < 0 ? has_controllers : has_trains < 0 ? has_trains : has_plugins;
        goto out;
    }
    if (has_controllers == 0 || has_trains == 0) {
        rc = failf(&r, -EINVAL, "not a database of the earlier system: no table %s",
                   has_controllers == 0 ? "edge_controllers" : "trains");
        goto out;
    }
    out = json_pack("{s:s, s:i, s:[], s:[], s:[]}", "format", "roundhouse-registry",
                    "format_version", 1, "plugins", "controllers", "trains");
    if ((has_plugins == 1 && (rc = each_row(&r, "plugins", plugin_row, out)) < 0) ||
        (rc = each_row(&r, "edge_controllers", controller_row, out)) < 0 ||
        (rc = each_row(&r, "trains", train_row, out)) < 0)
        goto out;
    *doc = out;
    out = NULL;
    rc = 0;
out:
    json_decref(out);
    sqlite3_close(r.db);
    return rc;
}
