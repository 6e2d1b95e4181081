/* Whole-registry documents: the full config, the plugin list, export and import
 * (docs/api.md "Export and import"). */
#include "api_internal.h"

#include <errno.h>

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
