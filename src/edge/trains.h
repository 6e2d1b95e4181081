/* Trains driven by this controller: MQTT command parsing (pure, unit-tested), and the set of
 * trains with their ramp and motor. Commands are validated completely before anything is
 * changed, so a bad command is rejected as a whole, never half-applied.
 *
 * Command forms accepted on trains/{id}/commands (CONTRACT §3):
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

#define TRAIN_CMD_MAX (64 * 1024)
#define TRAIN_START_DEFAULT_SPEED 50
/* Status: at most one message per 100 ms while ramping, and one every 5 s while moving. */
#define TRAIN_STATUS_MIN_GAP_MS 100
#define TRAIN_STATUS_PERIOD_MS 5000

enum train_action {
    TRAIN_ACT_SET_SPEED = 0,
    TRAIN_ACT_SET_DIRECTION,
    TRAIN_ACT_START,
    TRAIN_ACT_STOP,
    TRAIN_ACT_ESTOP,
    TRAIN_ACT_COUNT
};

struct train_cmd {
    enum train_action action;
    bool has_speed;
    int speed;
    bool has_direction;
    enum motor_direction direction;
};

const char *train_action_name(enum train_action a);

/* Pure. 0, or -EINVAL with a reason in err (payload rejected as a whole). */
int train_cmd_parse(const char *payload, size_t len, struct train_cmd *out, char *err,
                    size_t errlen);

struct train {
    char id[65];
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
    bool present;           /* scratch for trains_configure */
};

struct trains {
    struct train *v;
    size_t n;
    bool simulate; /* --simulate: the simulator whatever the config names */
    int64_t ramp_ms;
};

/* Called for a train about to be removed by trains_configure, after its motor was stopped
 * (speed 0), so the caller can publish the final status and unsubscribe. */
typedef void (*trains_removed_fn)(void *ctx, const struct train *t);

void trains_init(struct trains *ts, bool simulate, int64_t ramp_ms);
/* Stops and closes every motor. */
void trains_free(struct trains *ts);
/* Makes the set match the "trains" array of a validated runtime config: removed trains are
 * stopped and closed, new ones opened, kept ones keep their motor and ramp unless their
 * plugin, plugin config or inversion changed. A plugin that cannot be opened (unknown name,
 * missing hardware) leaves the train in the set with t->error set and no motor: it is
 * reported, not silently replaced. Returns the number of trains with an error, or -ENOMEM. */
int trains_configure(struct trains *ts, const json_t *trains, int64_t now_ms,
                     trains_removed_fn removed, void *ctx);
struct train *trains_find_by_topic(struct trains *ts, const char *topic);
struct train *trains_find(struct trains *ts, const char *train_id);

/* Applies a parsed command. 0, -ENODEV when the train has no working motor. */
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

#endif
