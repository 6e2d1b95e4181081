/* Speed ramp engine (see ramp.h for the rules).
 *
 * A ramp is a sequence of at most two linear phases: [current speed -> 0] when the direction
 * has to change while moving, then [0 -> target]. Inside a phase the output after e ms is
 * from + sign * floor(|to - from| * e / duration): integer steps, monotonic, and the target is
 * reached exactly at the end of the phase. Phase times are computed from the phase start, not
 * from the previous tick, so a late tick never stretches a ramp and next_change is exact.
 *
 * Only ramp_tick() and ramp_emergency_stop() change the output (speed, direction); commands only
 * plan. The caller applies the output to the motor whenever ramp_tick() returns true. */
#include "ramp.h"

#include <stddef.h>

/* Longer ramps are certainly a configuration mistake; the cap also keeps the arithmetic far
 * from int64 overflow. */
#define RAMP_MAX_MS (10 * 60 * 1000)

static int iabs(int v)
{
    return v < 0 ? -v : v;
}

/* A phase that changes nothing (only a direction switch at rest) takes no time. */
static int64_t phase_end_ms(const struct ramp *r)
{
    if (r->phase_from == r->phase_to)
        return r->phase_start_ms;
    return r->phase_start_ms + r->phase_ms;
}

/* A phase's length: the fixed duration for any change, or, with momentum set
 * (ramp_set_momentum), the rate for a full 0-100 change scaled to this change's size. */
static int64_t phase_length(const struct ramp *r, int from, int to)
{
    int64_t per100 = to > from ? r->up_ms : r->down_ms;
    if (per100 < 0)
        return r->duration_ms;
    return per100 * iabs(to - from) / 100;
}

static void phase_begin(struct ramp *r, int from, int to, int64_t start_ms)
{
    r->phase_from = from;
    r->phase_to = to;
    r->phase_start_ms = start_ms;
    r->phase_ms = phase_length(r, from, to);
    r->active = true;
}

void ramp_init(struct ramp *r, int64_t duration_ms)
{
    if (duration_ms <= 0)
        duration_ms = RAMP_DEFAULT_MS;
    if (duration_ms > RAMP_MAX_MS)
        duration_ms = RAMP_MAX_MS;
    r->duration_ms = duration_ms;
    r->up_ms = r->down_ms = -1;
    r->phase_ms = duration_ms;
    r->speed = 0;
    r->direction = MOTOR_FORWARD;
    r->target_speed = 0;
    r->target_direction = MOTOR_FORWARD;
    r->phase_from = 0;
    r->phase_to = 0;
    r->phase_start_ms = 0;
    r->active = false;
    r->estopped = false;
}

/* Plans the way from the current output to (speed, dir). */
static void ramp_plan(struct ramp *r, int speed, enum motor_direction dir, int64_t now_ms)
{
    /* Reversing a moving train goes through 0 first (the motor must never be driven
     * backwards while it still turns forwards). */
    int first_to = (r->speed > 0 && dir != r->direction) ? 0 : speed;

    r->target_speed = speed;
    r->target_direction = dir;

    /* A phase already heading for the same speed keeps its timing: repeating a command (or a
     * stop while already slowing to 0) must not restart, and so slow down, the ramp. */
    if (r->active && r->phase_to == first_to && r->phase_from != r->phase_to)
        return;
    if (first_to == r->speed && dir == r->direction) {
        r->active = false;
        return;
    }
    phase_begin(r, r->speed, first_to, now_ms);
}

void ramp_set_momentum(struct ramp *r, int64_t up_ms, int64_t down_ms)
{
    r->up_ms = up_ms < 0 ? -1 : up_ms > RAMP_MAX_MS ? RAMP_MAX_MS : up_ms;
    r->down_ms = down_ms < 0 ? -1 : down_ms > RAMP_MAX_MS ? RAMP_MAX_MS : down_ms;
}

void ramp_set_target(struct ramp *r, int speed, enum motor_direction dir, int64_t now_ms)
{
    /* Only an explicit new command lifts an emergency stop. */
    r->estopped = false;
    ramp_plan(r, motor_speed_clamp(speed), motor_direction_normalise(dir), now_ms);
}

void ramp_stop(struct ramp *r, int64_t now_ms)
{
    ramp_plan(r, 0, r->direction, now_ms);
}

void ramp_emergency_stop(struct ramp *r)
{
    r->speed = 0;
    r->target_speed = 0;
    r->target_direction = r->direction;
    r->phase_from = 0;
    r->phase_to = 0;
    r->active = false;
    r->estopped = true;
}

bool ramp_tick(struct ramp *r, int64_t now_ms)
{
    int old_speed = r->speed;
    enum motor_direction old_dir = r->direction;
    bool flipped = false;

    /* Each iteration handles one phase; a plan has at most two (plus a zero-length switch),
     * and the bound keeps a future bug from hanging the event loop. */
    for (int phases = 0; r->active && phases < 4; phases++) {
        /* The direction switches at the start of a phase that starts at rest. */
        if (r->phase_from == 0 && r->direction != r->target_direction) {
            if (now_ms < r->phase_start_ms)
                break;
            r->direction = r->target_direction;
            flipped = true;
        }
        /* The switch is an output of its own, at speed 0: even after a late tick the motor
         * never gets power in the new direction in the same step as the switch. */
        if (flipped && r->phase_to > 0)
            break;

        int64_t end = phase_end_ms(r);
        if (now_ms >= end) {
            r->speed = r->phase_to;
            if (r->speed != r->target_speed || r->direction != r->target_direction) {
                /* The next phase starts when this one ended, not at this late tick. */
                phase_begin(r, r->speed, r->target_speed, end);
                continue;
            }
            r->active = false;
            break;
        }

        int64_t elapsed = now_ms - r->phase_start_ms;
        if (elapsed < 0)
            elapsed = 0;
        int span = r->phase_to - r->phase_from;
        int step =
            r->phase_ms > 0 ? (int)((int64_t)iabs(span) * elapsed / r->phase_ms) : iabs(span);
        r->speed = r->phase_from + (span < 0 ? -step : step);
        break;
    }
    return r->speed != old_speed || r->direction != old_dir;
}

int64_t ramp_next_change_ms(const struct ramp *r, int64_t now_ms)
{
    int64_t t;

    if (!r->active)
        return -1;

    int span = iabs(r->phase_to - r->phase_from);
    int done = iabs(r->speed - r->phase_from);
    if (r->phase_from == 0 && r->direction != r->target_direction) {
        t = r->phase_start_ms;
    } else if (span == 0 || done >= span) {
        t = phase_end_ms(r);
    } else {
        /* First elapsed time e with floor(span * e / duration) >= done + 1. */
        int64_t need = (int64_t)(done + 1) * r->phase_ms;
        t = r->phase_start_ms + (need + span - 1) / span;
    }
    /* A caller that has not ticked yet is told to tick now, never a time in the past. */
    return t < now_ms ? now_ms : t;
}

enum train_state ramp_state(const struct ramp *r)
{
    if (r->estopped)
        return TRAIN_ESTOPPED;
    if (r->active)
        return TRAIN_RAMPING;
    return r->speed > 0 ? TRAIN_RUNNING : TRAIN_STOPPED;
}

const char *ramp_state_name(enum train_state s)
{
    switch (s) {
    case TRAIN_STOPPED:
        return "stopped";
    case TRAIN_RAMPING:
        return "ramping";
    case TRAIN_RUNNING:
        return "running";
    case TRAIN_ESTOPPED:
        return "estopped";
    }
    return "unknown";
}
