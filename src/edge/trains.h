/* Trains driven by this controller: MQTT command parsing (pure, unit-tested), and the set of
 * trains with their ramp and motor. Commands are validated completely before anything is
 * changed, so a bad command is rejected as a whole, never half-applied.
 *
 * Command forms accepted on trains/{id}/commands (docs/mqtt.md):
 *   {"action": "setSpeed"|"setDirection"|"start"|"stop"|"emergencyStop",
 *    "speed"?: 0-100, "direction"?: "FORWARD"|"REVERSE"|"BACKWARD"}
 *   {"speed": N, "direction"?: ...}        legacy: setSpeed
 *   {"command": "<action>", ...}           legacy gateway form
 * Unknown extra keys are ignored (senders add timestamps and ids). */
#ifndef ROUNDHOUSE_EDGE_TRAINS_H
#define ROUNDHOUSE_EDGE_TRAINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ramp.h"
#include "plugins/plugin.h"
#include "protocol.h"

#define TRAIN_START_DEFAULT_SPEED 50
/* Status: at most one message per 100 ms while ramping, and one every 5 s while moving. */
#define TRAIN_STATUS_MIN_GAP_MS 100
#define TRAIN_STATUS_PERIOD_MS 5000

/* A command as the motor code takes it: protocol.h's, with the motor's direction. */
struct train_cmd {
    enum proto_action action;
    bool has_speed;
    int speed;
    bool has_direction;
    enum motor_direction direction;
};

/* Pure: proto_command_parse. 0, or -EINVAL with a reason in err (payload rejected as a
 * whole). */
int train_cmd_parse(const char *payload, size_t len, struct train_cmd *out, char *err,
                    size_t errlen);

/* A train's driving settings (the runtime config's "driving"; all optional). */
struct driving {
    int64_t accel_ms, brake_ms; /* a full 0<->100 change; 0 at once; -1 the default ramp */
    int min_speed, max_speed;   /* motor output for speed 1 and 100 (0 and 100 by default) */
    bool start_resumes;         /* start: the last speed before a stop, not 50 */
};

struct train {
    char id[PROTO_TRAIN_ID_MAX + 1];
    struct driving driving;
    int last_speed; /* the last speed above 0 it was set to (start_resumes) */
    char name[101];
    char plugin[65];
    json_t *plugin_config; /* owned; NULL when none */
    bool invert;           /* invert_directions: motor wired the other way round */
    char commands_topic[257];
    char status_topic[257];
    struct motor *motor; /* NULL when the plugin could not be opened */
    char error[192];     /* plugin problem ("" when none) */
    int motor_rc;        /* result of the last motor call (0, or -EIO after retries) */
    struct ramp ramp;
    bool status_dirty;
    int64_t status_last_ms; /* monotonic; -1: never published */
    /* No longer in the config: ramping down before its motor is closed and its topic
     * dropped (trains_release_start, trains_reap). Accepts only stop and emergencyStop. */
    bool releasing;
    bool opened;  /* its driver was opened (or reopened) by the last trains_configure */
    bool present; /* scratch for trains_configure */
};

struct trains {
    struct train *v;
    size_t n;
    bool simulate; /* --simulate: the simulator whatever the config names */
    int64_t ramp_ms;
};

/* Called for a train about to be removed by trains_reap, after its motor was stopped
 * (speed 0), so the caller can publish the final status and unsubscribe. */
typedef void (*trains_removed_fn)(void *ctx, const struct train *t);

void trains_init(struct trains *ts, bool simulate, int64_t ramp_ms);
/* Stops and closes every motor. */
void trains_free(struct trains *ts);
/* Pure check of a validated "trains" array against the running set, before anything is
 * touched: every train that would get a new driver (new train, or plugin, plugin config or
 * inversion changed) must name a known plugin. 0, or -EINVAL with the reason in err. Trains
 * kept as they are pass, even a broken one (it is not news). */
int trains_check(const struct trains *ts, const json_t *list, char *err, size_t errlen);
/* Makes the set match the "trains" array of a validated runtime config: new ones opened,
 * kept ones keep their motor and ramp unless their plugin, plugin config or inversion
 * changed (then the old motor stops before the new one opens). Trains no longer listed stay
 * in the set marked releasing, motor and ramp untouched: trains_release_start ramps them down
 * and trains_reap removes them. A plugin that cannot be opened leaves the train in the set
 * with t->error set and no motor: it is reported, not silently replaced. Returns how many
 * trains this call opened and failed to open (a train already broken with the same driver
 * does not count), or -ENOMEM (the set is then unchanged). */
int trains_configure(struct trains *ts, const json_t *list, int64_t now_ms);
/* Ramps every releasing train down to 0. */
void trains_release_start(struct trains *ts, int64_t now_ms);
/* Removes the releasing trains that stand still (with force: all of them, cut to 0 at once),
 * calling removed() for each once its motor is stopped, before it is closed. Returns how many
 * releasing trains remain. */
size_t trains_reap(struct trains *ts, bool force, trains_removed_fn removed, void *ctx);
size_t trains_releasing(const struct trains *ts);
/* The train that takes commands from topic (a kept train before a releasing one), or NULL. */
struct train *trains_find_by_topic(struct trains *ts, const char *topic);
struct train *trains_find(struct trains *ts, const char *train_id);

/* Applies a parsed command. 0, -ENODEV when the train has no working motor, -EBUSY for
 * anything but stop or emergencyStop while it is being released. */
int trains_command(struct train *t, const struct train_cmd *c, int64_t now_ms);
/* Emergency stop: output 0 at once. */
void trains_estop(struct train *t);
/* Ramp down every train (fail-safe). Returns how many were moving. */
size_t trains_stop_all(struct trains *ts, int64_t now_ms);
/* Advances ramps and drives motors; marks changed trains for a status message. */
void trains_tick(struct trains *ts, int64_t now_ms);
/* Whether t's status is due now (and if so, records it as published at now_ms). */
bool trains_status_due(struct train *t, int64_t now_ms);
/* The earliest time a ramp step is due, -1 when none. */
int64_t trains_next_ramp_ms(const struct trains *ts, int64_t now_ms);
/* The earliest time a ramp step or status message is due, -1 when none. */
int64_t trains_next_wake(const struct trains *ts, int64_t now_ms);
bool train_moving(const struct train *t);

/* {train_id, speed, direction, target_speed, state, controller_id, timestamp}. */
json_t *train_status_json(const struct train *t, const char *controller_id, int64_t wall_ms);

/* Motor output for a commanded speed under a train's driving settings (pure). */
int trains_output_speed(const struct driving *d, int speed);

#endif
