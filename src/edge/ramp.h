/* Speed ramp engine: pure (no I/O, no clocks; the caller passes now_ms), so every safety rule
 * is unit-tested without a motor.
 *
 * Rules (docs/edge.md "Driving rules"):
 *   - any speed change moves linearly from the current speed to the target over
 *     duration_ms (default 3000), whatever its size;
 *   - a direction change while moving first ramps to 0, switches direction at 0, then ramps to
 *     the target (two phases);
 *   - stop ramps down to 0;
 *   - emergency stop sets the output to 0 at once and cancels any ramp: no later tick may
 *     raise the speed until a new explicit command (set_target) arrives.
 * Speeds are integers 0..100; values outside are clamped.
 *
 * The output (speed, direction) changes only in ramp_tick() and ramp_emergency_stop(); the
 * other commands only plan. After a command, call ramp_tick(now) (or wait until
 * ramp_next_change_ms()) and apply the output to the motor whenever ramp_tick() returns true.
 * A direction change at speed 0 takes effect at the first tick at or after the command. The
 * output only ever changes direction at speed 0, even when ticks come late: a tick that
 * switches direction never also raises the speed. Within a phase the output after e ms is
 * from + (to - from) * e / duration rounded towards `from`, so the target is reached exactly
 * at the end of the duration. A new command starts from the current output; repeating the
 * command in progress (or a stop while already slowing to 0) keeps the current timing. */
#ifndef ROUNDHOUSE_RAMP_H
#define ROUNDHOUSE_RAMP_H

#include <stdbool.h>
#include <stdint.h>

#include "plugins/plugin.h"

#define RAMP_DEFAULT_MS 3000

enum train_state { TRAIN_STOPPED = 0, TRAIN_RAMPING, TRAIN_RUNNING, TRAIN_ESTOPPED };

struct ramp {
    int64_t duration_ms; /* any change, without momentum */
    /* Momentum: ms for a full 0->100 (up) or 100->0 (down) change, a change of k taking
     * k % of it; 0 = at once; -1 = duration_ms whatever the size (the default). */
    int64_t up_ms, down_ms;
    int64_t phase_ms;               /* the length of the current phase */
    int speed;                      /* output now */
    enum motor_direction direction; /* output now */
    int target_speed;               /* final target */
    enum motor_direction target_direction;
    int phase_from; /* speed at the start of the current phase */
    int phase_to;   /* speed at the end of the current phase */
    int64_t phase_start_ms;
    bool active; /* a phase is in progress */
    bool estopped;
};

/* duration_ms <= 0 means RAMP_DEFAULT_MS; it is capped at 10 minutes. */
void ramp_init(struct ramp *r, int64_t duration_ms);
/* Per-train acceleration and braking (see struct ramp); applies from the next phase. */
void ramp_set_momentum(struct ramp *r, int64_t up_ms, int64_t down_ms);
/* New target (speed and direction). Takes effect from now_ms; replaces any previous ramp and
 * lifts an emergency stop. */
void ramp_set_target(struct ramp *r, int speed, enum motor_direction dir, int64_t now_ms);
/* Ramp down to 0 keeping the direction (a planned reversal is dropped). After an emergency
 * stop it changes nothing: the state stays ESTOPPED. */
void ramp_stop(struct ramp *r, int64_t now_ms);
/* Output 0 immediately, ramp cancelled, state ESTOPPED until the next ramp_set_target(). */
void ramp_emergency_stop(struct ramp *r);
/* Advance to now_ms. Returns true when speed or direction of the output changed. */
bool ramp_tick(struct ramp *r, int64_t now_ms);
/* The time at which the output will next change (for the event loop's timeout), or -1 when
 * the ramp is idle. Exact, and never before now_ms (now_ms when a tick is overdue). */
int64_t ramp_next_change_ms(const struct ramp *r, int64_t now_ms);
enum train_state ramp_state(const struct ramp *r);
const char *ramp_state_name(enum train_state s);

#endif
