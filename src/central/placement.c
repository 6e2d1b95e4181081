#include "placement.h"

#include <errno.h>
#include <string.h>

#include "api_views.h"
#include "central.h"
#include "registry.h"
#include "store.h"

int placement_runtime_trains(struct central *c, struct store *st, const char *controller_id,
                             int64_t now, json_t **out)
{
    json_t *all = NULL;
    int rc = store_train_list(st, controller_id, &all);
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
    json_t *held = NULL;
    int rc = store_train_list_actual(st, holder_id, &held);
    if (rc < 0)
        return rc;
    size_t i;
    json_t *row;
    json_array_foreach(held, i, row)
    {
        const char *desired = json_string_value(json_object_get(row, "desired_controller_id"));
        if (desired == NULL || strcmp(desired, holder_id) == 0)
            continue;
        rc = store_controller_bump_config(st, desired, now);
        if (rc < 0 && rc != -ENOENT)
            break;
        rc = 0;
    }
    json_decref(held);
    (void)c;
    return rc;
}
