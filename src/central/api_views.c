#include "api_views.h"

#include <errno.h>
#include <string.h>

#include "central.h"
#include "presence.h"
#include "protocol.h"
#include "store.h"
#include "timeutil.h"

json_t *view_time(const json_t *seconds)
{
    char buf[TIMEUTIL_ISO_LEN + 1];
    if (!json_is_integer(seconds) || timeutil_format(json_integer_value(seconds), buf) < 0)
        return json_null();
    return json_string(buf);
}

enum presence view_presence(struct central *c, const json_t *row, int64_t now)
{
    json_t *last = json_object_get(row, "last_seen");
    json_t *off = json_object_get(row, "offline_epoch");
    bool went_offline =
        json_is_integer(off) &&
        json_integer_value(off) >= json_integer_value(json_object_get(row, "session_epoch"));
    return presence_state(json_is_integer(last) ? json_integer_value(last) : -1, now, went_offline,
                          &c->opts.presence);
}

enum presence view_presence_scanned(struct central *c, const struct store_presence_row *row,
                                    int64_t now)
{
    bool went_offline = row->has_offline_epoch && row->offline_epoch >= row->session_epoch;
    return presence_state(row->last_seen, now, went_offline, &c->opts.presence);
}

json_t *view_status(const json_t *row)
{
    json_t *ts = json_object_get(row, "reported_at");
    json_t *v = json_pack(
        "{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "train_id",
        json_object_get(row, "train_id"), "speed", json_object_get(row, "speed"), "direction",
        json_object_get(row, "direction"), "target_speed", json_object_get(row, "target_speed"),
        "state", json_object_get(row, "state"), "voltage", json_object_get(row, "voltage"),
        "current", json_object_get(row, "current"), "position", json_object_get(row, "position"),
        "controller_id", json_object_get(row, "controller_id"));
    if (v == NULL)
        return NULL;
    json_object_set_new(v, "timestamp",
                        json_is_string(ts) ? json_incref(ts)
                                           : view_time(json_object_get(row, "updated_at")));
    json_object_set_new(v, "updated_at", view_time(json_object_get(row, "updated_at")));
    return v;
}

json_t *view_status_live(struct central *c, const json_t *srow, const char *fallback_controller)
{
    json_t *status = view_status(srow);
    if (status == NULL)
        return NULL;
    /* A status is only as live as the controller that reported it: with that controller
     * offline, the last "running" is history, not the present (the earlier UI showed trains
     * running with no controller listening). */
    const char *cid = json_string_value(json_object_get(srow, "controller_id"));
    if (cid == NULL)
        cid = fallback_controller;
    json_t *ctl = NULL;
    enum presence p = PRESENCE_UNKNOWN;
    if (cid != NULL && store_controller_get(c->store, cid, &ctl) == 0)
        p = view_presence(c, ctl, timeutil_now_ms() / 1000);
    json_decref(ctl);
    json_object_set_new(status, "controller_status", json_string(presence_name(p)));
    if (p == PRESENCE_OFFLINE || p == PRESENCE_UNKNOWN)
        json_object_set_new(status, "state", json_string("offline"));
    return status;
}

/* A registered train's status before it first reported: stopped, with the earlier system's
 * defaults for what Roundhouse edges do not measure (its UI disabled every control of a
 * train whose status answered 404, and never asked again). */
static json_t *status_row_zero(const json_t *train)
{
    return json_pack("{s:O, s:i, s:s, s:i, s:s, s:f, s:f, s:s, s:n, s:O?}", "train_id",
                     json_object_get(train, "id"), "speed", 0, "direction", "FORWARD",
                     "target_speed", 0, "state", "stopped", "voltage", 0.0, "current", 0.0,
                     "position", "unknown", "controller_id", "updated_at",
                     json_object_get(train, "created_at"));
}

int view_train_status(struct central *c, const json_t *train, json_t **out)
{
    json_t *srow = NULL;
    const char *holder = json_string_value(json_object_get(train, "actual_controller_id"));
    int rc = store_status_get(c->store, json_string_value(json_object_get(train, "id")), &srow);
    if (rc == -ENOENT) {
        srow = status_row_zero(train);
        /* Nobody has reported it yet: as live as the controller it is assigned to. */
        if (holder == NULL)
            holder = json_string_value(json_object_get(train, "desired_controller_id"));
    } else if (rc < 0) {
        return rc;
    }
    *out = view_status_live(c, srow, holder);
    json_decref(srow);
    return *out ? 0 : -ENOMEM;
}

bool view_reports_placement(const json_t *controller_row)
{
    const json_t *r =
        json_object_get(json_object_get(controller_row, "metadata"), "reports_placement");
    return !json_is_false(r);
}

/* Why a move has not completed, for the operator (the UI and the CLI show it), or NULL. */
static json_t *reassignment_reason(struct central *c, const json_t *row)
{
    const char *status = json_string_value(json_object_get(row, "reassignment_status"));
    const char *actual = json_string_value(json_object_get(row, "actual_controller_id"));
    char text[320];
    if (status != NULL && strcmp(status, "forced") == 0)
        return json_string("moved with force while the previous controller still held it: "
                           "check that it no longer drives the train");
    if (status == NULL || strcmp(status, "pending") != 0 || actual == NULL)
        return json_null();
    json_t *holder = NULL;
    if (store_controller_get(c->store, actual, &holder) < 0)
        return json_null();
    const char *name = json_string_value(json_object_get(holder, "name"));
    if (!view_reports_placement(holder))
        snprintf(text, sizeof text,
                 "restart controller %.100s to release the train: it does not report the trains "
                 "it runs (the earlier system's edge reads its config only at boot), so it "
                 "counts as driving this one while it is online; or force the move",
                 name ? name : actual);
    else
        snprintf(text, sizeof text,
                 "waiting for controller %.100s to stop the train and release it",
                 name ? name : actual);
    json_decref(holder);
    return json_string(text);
}

json_t *view_train(struct central *c, const json_t *row, bool with_status)
{
    json_t *desired = json_object_get(row, "desired_controller_id");
    json_t *config = json_object_get(row, "plugin_config");
    json_t *v =
        json_pack("{s:O?, s:O?, s:O?, s:O?, s:{s:O?, s:O?}, s:O?, s:O?, s:O?, s:O?, s:O?}", "id",
                  json_object_get(row, "id"), "name", json_object_get(row, "name"), "description",
                  json_object_get(row, "description"), "model", json_object_get(row, "model"),
                  "plugin", "name", json_object_get(row, "plugin_name"), "config",
                  json_is_object(config) ? config : NULL, "invert_directions",
                  json_object_get(row, "invert_directions"), "controller_id", desired,
                  "desired_controller_id", desired, "actual_controller_id",
                  json_object_get(row, "actual_controller_id"), "reassignment_status",
                  json_object_get(row, "reassignment_status"));
    if (v == NULL)
        return NULL;
    json_object_set(v, "address",
                    json_object_get(row, "address") ? json_object_get(row, "address")
                                                    : json_null());
    json_object_set_new(v, "created_at", view_time(json_object_get(row, "created_at")));
    json_object_set_new(v, "updated_at", view_time(json_object_get(row, "updated_at")));
    json_object_set_new(v, "reassignment_reason", reassignment_reason(c, row));
    /* The photo's address changes with it, so a browser never shows an old one. */
    json_t *photo_at = json_object_get(row, "photo_at");
    json_t *id = json_object_get(row, "id");
    json_object_set_new(v, "photo_url",
                        json_is_integer(photo_at) && json_is_string(id)
                            ? json_sprintf("/api/trains/%s/photo?v=%" JSON_INTEGER_FORMAT,
                                           json_string_value(id), json_integer_value(photo_at))
                            : json_null());
    json_t *driving = json_object_get(row, "driving");
    json_object_set_new(v, "driving",
                        json_is_object(driving) ? json_incref(driving) : json_object());
    json_t *status = NULL;
    if (with_status && view_train_status(c, row, &status) < 0)
        status = NULL;
    json_object_set_new(v, "status", status ? status : json_null());
    return v;
}

/* The reason the controller gave, in its last heartbeat's errors, for refusing or rolling back
 * its runtime config; NULL while it runs what it was given. */
static const char *config_error(const json_t *row)
{
    const json_t *errors = json_object_get(json_object_get(row, "metadata"), "errors");
    size_t i;
    const json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *s = json_string_value(e);
        if (s != NULL &&
            (strncmp(s, PROTO_ERROR_CONFIG_REJECTED, strlen(PROTO_ERROR_CONFIG_REJECTED)) == 0 ||
             strncmp(s, PROTO_ERROR_CONFIG_ROLLED_BACK, strlen(PROTO_ERROR_CONFIG_ROLLED_BACK)) ==
                 0))
            return s;
    }
    return NULL;
}

static json_t *controller_view(struct central *c, const json_t *row, int64_t now,
                               const json_t *train_rows);

json_t *view_controller(struct central *c, const json_t *row, int64_t now, bool with_trains)
{
    json_t *rows = NULL;
    if (with_trains &&
        store_train_list(c->store, json_string_value(json_object_get(row, "id")), &rows) < 0)
        rows = NULL;
    json_t *v = controller_view(c, row, now, rows);
    json_decref(rows);
    return v;
}

json_t *view_controller_with(struct central *c, const json_t *row, int64_t now,
                             const json_t *train_rows)
{
    return controller_view(c, row, now, train_rows);
}

static json_t *controller_view(struct central *c, const json_t *row, int64_t now,
                               const json_t *train_rows)
{
    json_t *last = json_object_get(row, "last_seen");
    enum presence p = view_presence(c, row, now);
    json_t *v = json_pack(
        "{s:O?, s:O?, s:O?, s:O?, s:O?, s:o, s:o, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:s, s:O?, "
        "s:O?, s:O?, "
        "s:O?, s:O?}",
        "id", json_object_get(row, "id"), "name", json_object_get(row, "name"), "description",
        json_object_get(row, "description"), "address", json_object_get(row, "address"), "enabled",
        json_object_get(row, "enabled"), "first_seen",
        view_time(json_object_get(row, "first_seen")), "last_seen", view_time(last), "config_hash",
        json_object_get(row, "config_hash"), "version", json_object_get(row, "version"), "platform",
        json_object_get(row, "platform"), "hardware_id", json_object_get(row, "hardware_id"),
        "memory_mb", json_object_get(row, "memory_mb"), "cpu_count",
        json_object_get(row, "cpu_count"), "status", presence_name(p), "config_version",
        json_object_get(row, "config_version"), "applied_config_version",
        json_object_get(row, "applied_config_version"), "session_epoch",
        json_object_get(row, "session_epoch"), "metadata", json_object_get(row, "metadata"),
        "created_at", json_object_get(row, "created_at"));
    if (v == NULL)
        return NULL;
    json_object_set_new(v, "created_at", view_time(json_object_get(row, "created_at")));
    json_object_set_new(v, "updated_at", view_time(json_object_get(row, "updated_at")));
    const char *cerr = config_error(row);
    json_object_set_new(v, "config_error", cerr ? json_string(cerr) : json_null());
    const json_t *meta = json_object_get(row, "metadata");
    json_t *py = json_object_get(meta, "python_version");
    json_object_set_new(v, "python_version", json_is_string(py) ? json_incref(py) : json_null());
    /* Whether it holds a controller secret; the secret's hash itself is never shown. */
    json_object_set_new(v, "secured",
                        json_boolean(json_is_string(json_object_get(row, "secret_hash"))));
    json_t *rp = json_object_get(meta, "reports_placement");
    json_object_set_new(v, "reports_placement",
                        json_is_boolean(rp) ? json_incref(rp) : json_null());
    json_t *trains = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(train_rows, i, t) json_array_append_new(trains, view_train(c, t, false));
    json_object_set_new(v, "trains", trains);
    return v;
}
