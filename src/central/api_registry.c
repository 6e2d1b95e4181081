/* Whole-registry documents: the full config, the plugin list, export and import
 * (docs/api.md "Export and import"). */
#include "api_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_views.h"
#include "central.h"
#include "mqtt_acl.h"
#include "registry_io.h"
#include "store.h"
#include "timeutil.h"

/* ---- configuration documents ---- */

void h_full_config(struct call *k)
{
    struct central *c = k->c;
    int rc = 0;
    if (!api_begin(k, false))
        return;
    json_t *plugins = NULL, *rows = NULL;
    rc = store_plugin_list(c->store, &plugins);
    if (rc == 0)
        rc = store_controller_list(c->store, &rows);
    if (rc < 0) {
        store_rollback(c->store);
        api_db_failed(k, rc);
        json_decref(plugins);
        return;
    }
    json_t *ctls = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
        json_array_append_new(ctls, view_controller(c, row, k->now, true));
    store_rollback(c->store);
    json_decref(rows);
    http_response_json(k->resp, 200,
                       json_pack("{s:o, s:o}", "plugins", plugins, "edge_controllers", ctls));
}

void h_plugins(struct call *k)
{
    struct central *c = k->c;
    int rc = 0;
    if (!api_begin(k, false))
        return;
    json_t *plugins = NULL;
    rc = store_plugin_list(c->store, &plugins);
    store_rollback(c->store);
    if (rc < 0)
        api_db_failed(k, rc);
    else
        http_response_json(k->resp, 200, plugins);
}

static void export_work(void *ctx, const struct http_request *req, struct http_response *resp)
{
    (void)req;
    json_t *doc = NULL;
    struct call k = {.c = ctx, .req = req, .resp = resp};
    int rc = registry_export(k.c, timeutil_now_ms() / 1000, &doc);
    if (rc < 0)
        api_db_failed(&k, rc);
    else
        http_response_json(resp, 200, doc);
}

void h_export(struct call *k)
{
    http_request_defer(k->req, k->resp, export_work, k->c);
}

/* A copy of the live SQLite file, made next to it (the same file system, where the database's
 * own space is) under a name of mkstemp's, removed as soon as it is open: nothing is left
 * behind once it is sent, or if the client leaves. */
static void backup_work(void *ctx, const struct http_request *req, struct http_response *resp)
{
    (void)req;
    struct central *c = ctx;
    char tmp[PATH_MAX], err[PATH_MAX + 256];
    if (snprintf(tmp, sizeof tmp, "%s.backup-XXXXXX", c->opts.db) >= (int)sizeof tmp) {
        http_response_error(resp, 500, "internal_error", NULL, "database path too long");
        return;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        log_event(RH_LOG_ERROR, "backup_failed", "{s:s, s:s}", "file", tmp, "error", strerror(e));
        http_response_error(resp, 503, "unavailable", NULL, "cannot create %s: %s", tmp,
                            strerror(e));
        return;
    }
    int64_t started = timeutil_mono_ms();
    int rc = store_backup_into(c->opts.db, tmp, err, sizeof err);
    struct stat sb = {0};
    if (rc == 0 && fstat(fd, &sb) != 0) {
        rc = errno != 0 ? -errno : -EIO;
        snprintf(err, sizeof err, "cannot read %s: %s", tmp, strerror(-rc));
    }
    unlink(tmp);
    if (rc < 0) {
        close(fd);
        log_event(RH_LOG_ERROR, "backup_failed", "{s:s}", "error", err);
        http_response_error(resp, 503, "unavailable", NULL, "%s", err);
        return;
    }
    log_event(RH_LOG_INFO, "backup_sent", "{s:I, s:I}", "bytes", (json_int_t)sb.st_size,
              "duration_ms", (json_int_t)(timeutil_mono_ms() - started));
    http_response_file(resp, 200, fd, (uint64_t)sb.st_size, "application/vnd.sqlite3");
}

void h_backup(struct call *k)
{
    if (store_is_postgresql(k->c->opts.db)) {
        http_response_error(k->resp, 409, "not_supported", NULL,
                            "the database is PostgreSQL: back it up with pg_dump");
        return;
    }
    http_request_defer(k->req, k->resp, backup_work, k->c);
}

static void import_work(void *ctx, const struct http_request *req, struct http_response *resp)
{
    struct call call = {.c = ctx, .req = req, .resp = resp, .now = timeutil_now_ms() / 1000};
    struct call *k = &call;
    json_t *b = api_body_object(k, false);
    if (b == NULL)
        return;
    char field[128] = "", detail[256] = "";
    json_t *summary = NULL;
    int rc = registry_import(k->c, b, k->now, &summary, field, sizeof field, detail, sizeof detail);
    if (rc == -EINVAL)
        http_response_error(k->resp, 422, "invalid_field", field[0] ? field : NULL, "%s", detail);
    else if (rc < 0)
        api_db_failed(k, rc);
    else
        http_response_json(k->resp, 200, summary);
    /* Controllers and trains came and went: the broker's accounts follow them all. */
    if (rc == 0 && k->c->opts.mqtt_acl)
        mqtt_acl_reconcile(k->c);
    json_decref(b);
}

/* The parse and the write of a large document run on the worker, like the list. */
void h_import(struct call *k)
{
    /* An import creates controllers, like a registration: the same token (checked here,
     * since the deferred work cannot read headers). */
    if (!api_registration_token_ok(k))
        return;
    http_request_defer(k->req, k->resp, import_work, k->c);
}
