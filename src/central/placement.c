#include "placement.h"

#include <errno.h>
#include <string.h>

#include "api_views.h"
#include "central.h"
#include "protocol.h"
#include "registry.h"
#include "runtime_config.h"
#include "store.h"

/* Room left for what the size check leaves out: the broker address and credentials. */
#define CONFIG_FIT_SLACK 4096

int placement_config_fits(struct central *c, struct store *st, const char *controller_id)
{
    json_t *row = NULL, *trains = NULL, *doc = NULL;
    int rc = store_controller_get(st, controller_id, &row);
    if (rc == 0)
        rc = store_train_list(st, controller_id, &trains);
    if (rc < 0)
        goto out;
    if (json_array_size(trains) > PROTO_CONTROLLER_TRAINS_MAX) {
        rc = -E2BIG;
        goto out;
    }
    struct runtime_broker broker = {.host = "", .port = 1883};
    doc = runtime_config_build(row, trains, &broker, c->opts.heartbeat_interval);
    if (doc == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    size_t len = json_dumpb(doc, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
    rc = len + CONFIG_FIT_SLACK > PROTO_RUNTIME_CONFIG_MAX ? -EFBIG : 0;
out:
    json_decref(row);
    json_decref(trains);
    json_decref(doc);
    return rc;
}

int placement_runtime_trains(struct central *c, struct store *st, const json_t *self, int64_t now,
                             json_t **out)
{
    json_t *all = NULL;
    const char *controller_id = json_string_value(json_object_get(self, "id"));
    if (controller_id == NULL)
        return -EINVAL;
    /* A disabled controller gets no trains (PATCH enabled: false). */
    if (json_is_false(json_object_get(self, "enabled"))) {
        *out = json_array();
        return *out ? 0 : -ENOMEM;
    }
    int rc = store_train_list_delivery(st, controller_id, &all);
    if (rc < 0)
        return rc;
    json_t *list = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(all, i, row)
    {
        const char *actual = json_string_value(json_object_get(row, "actual_controller_id"));
        enum presence p = PRESENCE_UNKNOWN;
        if (actual != NULL && strcmp(actual, controller_id) != 0) {
            json_t *holder = NULL;
            if (store_controller_get(st, actual, &holder) == 0)
                p = view_presence(c, holder, now);
            json_decref(holder);
        }
        if (registry_train_deliverable(controller_id, actual, p))
            json_array_append(list, row);
    }
    json_decref(all);
    *out = list;
    return 0;
}

int placement_release(struct central *c, struct store *st, const char *holder_id, int64_t now)
{
    struct store_trains_held held;
    int rc = store_train_list_actual(st, holder_id, &held);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < held.n; i++) {
        const char *desired = held.t[i].desired_controller_id;
        if (desired == NULL || !placement_moved_away(holder_id, desired))
            continue;
        rc = store_controller_bump_config(st, desired, now);
        if (rc < 0 && rc != -ENOENT)
            break;
        rc = 0;
    }
    store_trains_held_clear(&held);
    (void)c;
    return rc;
}

bool placement_moved_away(const char *holder, const char *desired)
{
    return desired == NULL || strcmp(desired, holder) != 0;
}

struct placement_claim placement_reported(const char *cid, const char *desired, const char *actual,
                                          bool holder_online, const char *old_status)
{
    bool conflict = actual != NULL && strcmp(actual, cid) != 0 && holder_online;
    struct placement_claim out = {.actual = conflict ? actual : cid};
    out.status = registry_reassignment_status(desired, out.actual, conflict);
    out.changed = actual == NULL || strcmp(actual, out.actual) != 0 || old_status == NULL ||
                  strcmp(old_status, out.status) != 0;
    return out;
}

enum placement_register_step placement_register(const char *owner, const char *cid, bool reassign)
{
    if (owner != NULL && strcmp(owner, cid) == 0)
        return PLACEMENT_ALREADY_HERE;
    if (owner != NULL && !reassign)
        return PLACEMENT_REFUSED;
    return PLACEMENT_TAKE;
}

struct placement_move placement_put(const char *owner, const char *new_owner, const char *actual,
                                    bool force, bool config_changed)
{
    struct placement_move m = {0};
    m.moved = (owner == NULL) != (new_owner == NULL) ||
              (owner != NULL && new_owner != NULL && strcmp(owner, new_owner) != 0);
    m.forced =
        m.moved && force && actual != NULL && (new_owner == NULL || strcmp(actual, new_owner) != 0);
    if (m.moved)
        m.status = m.forced ? "forced" : registry_reassignment_status(new_owner, actual, false);
    m.bump_old = owner != NULL && (m.moved || config_changed);
    m.bump_new = m.moved && new_owner != NULL;
    m.check_new = new_owner != NULL && (m.moved || config_changed);
    return m;
}
