/* Speed ramp engine: pure (no I/O, no clocks; the caller passes now_ms), so every safety rule
 * is unit-tested without a motor.
 *
 * Rules (CONTRACT §4):
 *   - any speed change moves linearly from the current speed to the target over
 *     duration_ms (default 3000), whatever its size;
 *   - a direction change while moving first ramps to 0, switches direction at 0, then ramps to
 *     the target (two phases);
 *   - stop ramps down to 0;
 *   - emergency stop sets the output to 0 at once and cancels any ramp: no later tick may
 *     raise the speed until a new explicit command (set_target) arrives.
 * Speeds are integers 0..100; values outside are clamped. */
#ifndef ROUNDHOUSE_RAMP_H
#define ROUNDHOUSE_RAMP_H

#include <stdbool.h>
#include <stdint.h>

#include "plugins/plugin.h"

#define RAMP_DEFAULT_MS 3000

enum train_state { TRAIN_STOPPED = 0, TRAIN_RAMPING, TRAIN_RUNNING, TRAIN_ESTOPPED };

struct ramp {
    int64_t duration_ms;
    int speed;                     /* output now */
    enum motor_direction direction; /* output now */
    int target_speed;              /* final target */
    enum motor_direction target_direction;
    int phase_from;                /* speed at the start of the current phase */
    int phase_to;                  /* speed at the end of the current phase */
    int64_t phase_start_ms;
    bool active;                   /* a phase is in progress */
    bool estopped;
};

void ramp_init(struct ramp *r, int64_t duration_ms);
/* New target (speed and direction). Takes effect from now_ms; cancels any previous ramp. */
void ramp_set_target(struct ramp *r, int speed, enum motor_direction dir, int64_t now_ms);
/* Ramp down to 0 keeping the direction. */
void ramp_stop(struct ramp *r, int64_t now_ms);
/* Output 0 immediately, ramp cancelled, state ESTOPPED. */
void ramp_emergency_stop(struct ramp *r);
/* Advance to now_ms. Returns true when speed or direction of the output changed. */
bool ramp_tick(struct ramp *r, int64_t now_ms);
/* The time at which the output will next change (for the event loop's timeout), or -1 when
 * the ramp is idle. */
int64_t ramp_next_change_ms(const struct ramp *r, int64_t now_ms);
enum train_state ramp_state(const struct ramp *r);
const char *ramp_state_name(enum train_state s);

#endif
