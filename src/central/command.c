#include "command.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_views.h"
#include "central.h"
#include "layout.h"
#include "notify.h"
#include "store.h"

bool command_drives(const struct command *cmd)
{
    return strcmp(cmd->action, "start") == 0 ||
           (strcmp(cmd->action, "setSpeed") == 0 && cmd->speed > 0);
}

void command_target_clear(struct command_target *t)
{
    free(t->name);
    t->name = NULL;
}

/* The target of a command to train tid, read in a transaction of its own, with only the
 * columns it decides on: a command is the throttle's every move. -ENOENT: no such train;
 * -EPERM: a command that drives, to a train whose controller is disabled; or a store
 * error. */
static int read_target(struct central *c, const char *tid, bool drives, int64_t now,
                       struct command_target *t)
{
    struct store_train_placement train;
    struct store_controller_state holder = {0}, owner = {0};
    int rc = store_begin(c->store, false);
    if (rc < 0)
        return rc;
    rc = store_train_get_placement(c->store, tid, &train);
    const char *d = train.desired_controller_id;
    const char *h = train.actual_controller_id != NULL ? train.actual_controller_id : d;
    bool held = rc == 0 && h != NULL && store_controller_get_state(c->store, h, &holder) == 0;
    if (held) {
        snprintf(t->id, sizeof t->id, "%s", h);
        t->presence = view_presence_scanned(c, &holder.row, now);
        t->name = holder.name;
        holder.name = NULL;
    }
    if (rc == 0 && drives && d != NULL) {
        bool same = held && strcmp(d, h) == 0;
        if (same ? !holder.enabled
                 : store_controller_get_state(c->store, d, &owner) == 0 && !owner.enabled)
            rc = -EPERM;
    }
    store_controller_state_clear(&holder);
    store_controller_state_clear(&owner);
    store_rollback(c->store);
    store_train_placement_clear(&train);
    return rc;
}

enum command_result command_send(struct central *c, const char *tid, const struct command *cmd,
                                 int64_t now, struct command_target *t, json_t **payload,
                                 int *store_rc)
{
    memset(t, 0, sizeof *t);
    t->presence = PRESENCE_UNKNOWN;
    if (payload != NULL)
        *payload = NULL;
    *store_rc = 0;
    bool drives = command_drives(cmd);
    if (drives && layout_is_stopped(c))
        return COMMAND_LAYOUT_STOPPED;
    int rc = read_target(c, tid, drives, now, t);
    if (rc == -ENOENT)
        return COMMAND_NO_TRAIN;
    if (rc == -EPERM)
        return COMMAND_DISABLED;
    if (rc < 0) {
        *store_rc = rc;
        return COMMAND_FAILED;
    }
    json_t *p = json_pack("{s:s}", "action", cmd->action);
    if (p == NULL)
        return COMMAND_FAILED;
    if (cmd->speed >= 0)
        json_object_set_new(p, "speed", json_integer(cmd->speed));
    if (cmd->direction != NULL)
        json_object_set_new(p, "direction", json_string(cmd->direction));
    rc = notify_command(c->notify, tid, p);
    if (rc < 0) {
        json_decref(p);
        return rc == -ENOTCONN ? COMMAND_NO_BROKER : COMMAND_FAILED;
    }
    if (payload != NULL)
        *payload = p;
    else
        json_decref(p);
    return COMMAND_SENT;
}
