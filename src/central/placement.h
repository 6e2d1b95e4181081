/* Which trains a controller runs, and the handover between controllers (registry.h,
 * registry_train_deliverable). The first three functions work inside an open store
 * transaction; the rest are pure rules of what a change of placement writes, the shells
 * (api_heartbeat.c, api_trains.c) around them read and write the rows. */
#ifndef ROUNDHOUSE_PLACEMENT_H
#define ROUNDHOUSE_PLACEMENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct central;
struct store;

/* The train rows that go into the runtime config at now of the controller whose row is self
 * (its id and enabled are read): assigned to it, and not still held by another live
 * controller; with store_train_list_delivery's columns. */
int placement_runtime_trains(struct central *c, struct store *st, const json_t *self, int64_t now,
                             json_t **out);
/* Controller holder_id released its trains or stopped being live: every train it still holds
 * that is assigned elsewhere becomes deliverable, so the new owners' config versions rise
 * (and they are notified after commit). */
int placement_release(struct central *c, struct store *st, const char *holder_id, int64_t now);

/* Whether controller_id's runtime config, with every train assigned to it (the handover may
 * hold some back for now, not for ever), is still one an edge can run: at most
 * PROTO_CONTROLLER_TRAINS_MAX trains and PROTO_RUNTIME_CONFIG_MAX bytes. 0; -E2BIG for too
 * many trains; -EFBIG for too large a document; or a store error. */
int placement_config_fits(struct central *c, struct store *st, const char *controller_id);

/* ---- Pure rules ---- */

/* Whether a train that holder runs (its actual_controller_id) is wanted elsewhere: its
 * desired_controller_id is another controller, or none. */
bool placement_moved_away(const char *holder, const char *desired);

/* What a train's row becomes when controller cid reports running it (a heartbeat's trains). */
struct placement_claim {
    const char *actual; /* the new actual_controller_id: cid, or the live other claimant */
    const char *status; /* the new reassignment_status */
    bool changed;       /* false: the row already says this (no write, no event) */
};
/* desired, actual and old_status are the row's desired_controller_id, actual_controller_id
 * and reassignment_status; holder_online whether the controller named by actual is online
 * (consulted only when actual is another controller than cid). Only a live other claimant
 * makes a conflict, and keeps the train: one that went away without releasing it simply lost
 * it. The strings returned are the arguments or static. */
struct placement_claim placement_reported(const char *cid, const char *desired, const char *actual,
                                          bool holder_online, const char *old_status);

/* A controller registering a train it runs (POST …/trains, docs/api.md) that is on record. */
enum placement_register_step {
    PLACEMENT_ALREADY_HERE = 0, /* assigned to that controller: nothing changes */
    PLACEMENT_REFUSED,          /* assigned to another and reassign not asked: 409 */
    PLACEMENT_TAKE,             /* unassigned, or reassign asked: moved to the controller */
};
/* owner: the train's desired_controller_id (NULL: none); cid: the registering controller. */
enum placement_register_step placement_register(const char *owner, const char *cid, bool reassign);

/* What an operator's change of a train (PUT /api/trains/{id}) does to its placement. */
struct placement_move {
    bool moved;         /* the desired owner changes (to or from none included) */
    bool forced;        /* the new owner gets it at once: actual_controller_id cleared */
    const char *status; /* when moved: the new reassignment_status (static) */
    bool bump_old;      /* the old owner's config_version rises */
    bool bump_new;      /* the new owner's config_version rises */
    bool check_new;     /* the new owner's config must still be one an edge can run */
};
/* owner, new_owner: the desired controller before and after (NULL: none); actual: the one
 * running it (NULL: none); force: the request's "force"; config_changed: something of the
 * train its owner's runtime config carries changed (name, plugin, directions, driving).
 * force hands the train over without waiting for the old holder to release it (one that does
 * not report its trains, e.g. the earlier edge, never does while it runs); it is shown as
 * "forced" until the new owner reports it. */
struct placement_move placement_put(const char *owner, const char *new_owner, const char *actual,
                                    bool force, bool config_changed);

#endif
