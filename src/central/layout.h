/* The layout's stopped state. An emergency stop of the whole layout (REST, the web UI, the CLI,
 * a throttle's track power off) stops every train and leaves the layout *stopped* until an
 * operator resumes it: while stopped, nothing drives (stop and emergencyStop still go
 * through). The state is kept in the database, so a restart of the central keeps it.
 *
 * Each stop has an id, carried in the broadcast on roundhouse/emergency-stop; an edge that
 * obeyed it answers on controllers/{uuid}/estop-ack with that id. The stop's view tells which
 * of the controllers that were live at the time confirmed it.
 *
 * Thread-safe: the HTTP threads, the MQTT thread (acknowledgements) and the WiThrottle thread
 * all call in. */
#ifndef ROUNDHOUSE_LAYOUT_H
#define ROUNDHOUSE_LAYOUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "uuidstr.h"

struct central;

/* How long confirmations are waited for before the missing ones are reported as such. */
#define LAYOUT_ACK_WINDOW_MS 2000

struct layout_stop_result {
    size_t trains, trains_failed, controllers;
    size_t expected; /* live controllers asked to confirm */
    char estop_id[UUIDSTR_LEN + 1];
};

/* Loads the persisted state (after the store is open). 0 or negative errno. */
int layout_init(struct central *c);
void layout_free(struct central *c);

/* The layout-wide emergency stop: the broadcast, an emergencyStop on every train's command
 * topic (edges of the earlier system listen only there), then the stopped state. -ENOTCONN
 * when the broker is unreachable: nothing was sent, the state is unchanged. origin names who
 * asked (for the log). */
int layout_emergency_stop(struct central *c, const char *reason, const char *origin,
                          struct layout_stop_result *out);
/* Lets driving commands through again; starts no train. 0, or negative errno (database). */
int layout_resume(struct central *c, const char *origin);
bool layout_is_stopped(struct central *c);
/* {stopped, reason, since, by, estop: {id, at, expected, confirmed: [{id, name}],
 *  unconfirmed: [{id, name}], settled}} (estop null before the first stop). */
json_t *layout_view(struct central *c);
/* Reads the stopped state again from the database, after another central on the same
 * database changed it (cluster.h); when it changed, the throttles hear of it. The
 * confirmations of a stop stay with the instance that sent it. 0 or negative errno. */
int layout_reload(struct central *c);
/* An acknowledgement received on controllers/{uuid}/estop-ack (the MQTT thread). */
void layout_ack(struct central *c, const char *controller_uuid, const json_t *doc);

#endif
