#include "strbuf.h"
#include "trains.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "timeutil.h"

int train_cmd_parse(const char *payload, size_t len, struct train_cmd *out, char *err,
                    size_t errlen)
{
    struct proto_command c;
    if (proto_command_parse(payload, len, &c, err, errlen) < 0)
        return -EINVAL;
    *out = (struct train_cmd){
        .action = c.action,
        .has_speed = c.has_speed,
        .speed = c.speed,
        .has_direction = c.has_direction,
        .direction = c.reverse ? MOTOR_REVERSE : MOTOR_FORWARD,
    };
    return 0;
}

/* --- the set of trains ------------------------------------------------------------------ */

void trains_init(struct trains *ts, bool simulate, int64_t ramp_ms)
{
    ts->v = NULL;
    ts->n = 0;
    ts->simulate = simulate;
    ts->ramp_ms = ramp_ms > 0 ? ramp_ms : RAMP_DEFAULT_MS;
}

static void train_release(struct train *t)
{
    motor_close(t->motor); /* stops it first */
    t->motor = NULL;
    json_decref(t->plugin_config);
    t->plugin_config = NULL;
}

void trains_free(struct trains *ts)
{
    if (ts == NULL)
        return;
    for (size_t i = 0; i < ts->n; i++)
        train_release(&ts->v[i]);
    free(ts->v);
    ts->v = NULL;
    ts->n = 0;
}

struct train *trains_find(struct trains *ts, const char *train_id)
{
    for (size_t i = 0; i < ts->n; i++)
        if (strcmp(ts->v[i].id, train_id) == 0)
            return &ts->v[i];
    return NULL;
}

struct train *trains_find_by_topic(struct trains *ts, const char *topic)
{
    struct train *releasing = NULL;
    for (size_t i = 0; i < ts->n; i++) {
        if (strcmp(ts->v[i].commands_topic, topic) != 0)
            continue;
        if (!ts->v[i].releasing)
            return &ts->v[i];
        if (releasing == NULL)
            releasing = &ts->v[i];
    }
    return releasing;
}

static enum motor_direction wire_direction(const struct train *t, enum motor_direction d)
{
    if (!t->invert)
        return d;
    return d == MOTOR_FORWARD ? MOTOR_REVERSE : MOTOR_FORWARD;
}

/* Speed as commanded (0-100, what status reports and throttles show) to motor output: 0 stays
 * 0, 1-100 spread over [min_speed, max_speed] (a motor that needs some voltage to start moves
 * from the first step; max_speed caps a fast one). */
int trains_output_speed(const struct driving *d, int speed)
{
    if (speed <= 0)
        return 0;
    int lo = d->min_speed, hi = d->max_speed;
    if (speed >= 100)
        return hi;
    return lo + ((hi - lo) * speed + 50) / 100;
}

static void motor_apply(struct train *t)
{
    if (t->motor == NULL)
        return;
    t->motor_rc = motor_set(t->motor, trains_output_speed(&t->driving, t->ramp.speed),
                            wire_direction(t, t->ramp.direction));
}

static void copy_field(char *dst, size_t dstlen, const char *src)
{
    snprintf(dst, dstlen, "%s", src ? src : "");
}

static void train_open(struct train *t, bool simulate)
{
    char err[160] = "";
    t->error[0] = '\0';
    /* The name is checked even in simulation: an unknown plugin is a configuration error to
     * report, never a silent fallback to another driver. */
    if (motor_plugin_find(t->plugin) == NULL) {
        snprintf(t->error, sizeof t->error, "unknown motor plugin '%s'", t->plugin);
        return;
    }
    int rc = motor_open(simulate ? "simulator" : t->plugin, t->plugin_config, &t->motor, err,
                        sizeof err);
    if (rc < 0) {
        t->motor = NULL;
        snprintf(t->error, sizeof t->error, "%s", err[0] ? err : strerror(-rc));
    }
}

/* Reads one validated train entry into t (topics default to trains/{id}/...). */
static void train_read(struct train *t, const json_t *j)
{
    const char *id = json_string_value(json_object_get(j, "train_id"));
    const json_t *plugin = json_object_get(j, "plugin");
    const json_t *pc = json_object_get(plugin, "config");
    const char *ct = json_string_value(json_object_get(j, "commands_topic"));
    const char *st = json_string_value(json_object_get(j, "status_topic"));

    copy_field(t->id, sizeof t->id, id);
    copy_field(t->name, sizeof t->name, json_string_value(json_object_get(j, "name")));
    copy_field(t->plugin, sizeof t->plugin, json_string_value(json_object_get(plugin, "name")));
    t->plugin_config = json_is_object(pc) ? json_deep_copy(pc) : NULL;
    t->invert = json_is_true(json_object_get(j, "invert_directions"));
    const json_t *d = json_object_get(j, "driving");
    const json_t *v;
    t->driving = (struct driving){-1, -1, 0, 100, false};
    if ((v = json_object_get(d, "acceleration_s")) && json_is_number(v))
        t->driving.accel_ms = (int64_t)(json_number_value(v) * 1000.0 + 0.5);
    if ((v = json_object_get(d, "braking_s")) && json_is_number(v))
        t->driving.brake_ms = (int64_t)(json_number_value(v) * 1000.0 + 0.5);
    if ((v = json_object_get(d, "min_speed")) && json_is_integer(v))
        t->driving.min_speed = (int)json_integer_value(v);
    if ((v = json_object_get(d, "max_speed")) && json_is_integer(v))
        t->driving.max_speed = (int)json_integer_value(v);
    t->driving.start_resumes = json_is_true(json_object_get(d, "start_resumes"));
    if (ct != NULL)
        copy_field(t->commands_topic, sizeof t->commands_topic, ct);
    else
        proto_topic(t->commands_topic, sizeof t->commands_topic, PROTO_TOPIC_COMMANDS, t->id);
    if (st != NULL)
        copy_field(t->status_topic, sizeof t->status_topic, st);
    else
        proto_topic(t->status_topic, sizeof t->status_topic, PROTO_TOPIC_STATUS, t->id);
}

static bool same_driver(const struct train *a, const struct train *b)
{
    if (strcmp(a->plugin, b->plugin) != 0 || a->invert != b->invert)
        return false;
    if (a->plugin_config == NULL || b->plugin_config == NULL)
        return a->plugin_config == b->plugin_config;
    return json_equal(a->plugin_config, b->plugin_config);
}

static const struct train *find_const(const struct trains *ts, const char *train_id)
{
    for (size_t i = 0; i < ts->n; i++)
        if (strcmp(ts->v[i].id, train_id) == 0)
            return &ts->v[i];
    return NULL;
}

int trains_check(const struct trains *ts, const json_t *list, char *err, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; i < json_array_size(list) && rc == 0; i++) {
        struct train t = {0};
        train_read(&t, json_array_get(list, i));
        const struct train *old = find_const(ts, t.id);
        /* A train keeping its driver is not touched by the apply, so it cannot make it fail. */
        if ((old == NULL || !same_driver(old, &t)) && motor_plugin_find(t.plugin) == NULL) {
            strbuf_errorf(err, errlen, "train %s: unknown motor plugin '%s'", t.id, t.plugin);
            rc = -EINVAL;
        }
        json_decref(t.plugin_config);
    }
    return rc;
}

int trains_configure(struct trains *ts, const json_t *list, int64_t now_ms)
{
    size_t n = json_array_size(list);
    size_t cap = n + ts->n, k = 0;
    int errors = 0;
    (void)now_ms;

    struct train *nv = calloc(cap > 0 ? cap : 1, sizeof *nv);
    if (nv == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < ts->n; i++)
        ts->v[i].present = false;

    for (size_t i = 0; i < n; i++) {
        struct train *t = &nv[k++];
        train_read(t, json_array_get(list, i));
        t->status_last_ms = -1;
        struct train *old = trains_find(ts, t->id);
        if (old != NULL && same_driver(old, t) && old->motor != NULL) {
            /* Same motor: keep it, and its ramp, so a running train is not jolted. A train
             * that was being released and is assigned here again is simply kept. */
            old->present = true;
            t->motor = old->motor;
            old->motor = NULL;
            t->ramp = old->ramp;
            ramp_set_momentum(&t->ramp, t->driving.accel_ms, t->driving.brake_ms);
            t->last_speed = old->last_speed;
            t->motor_rc = old->motor_rc;
            t->status_last_ms = old->status_last_ms;
            t->status_dirty = old->status_dirty;
            continue;
        }
        bool was_broken = old != NULL && same_driver(old, t) && old->error[0] != '\0';
        if (old != NULL) {
            /* Driver changed: the old one stops before the new one takes over. */
            old->present = true;
            ramp_emergency_stop(&old->ramp);
            motor_close(old->motor);
            old->motor = NULL;
        }
        ramp_init(&t->ramp, ts->ramp_ms);
        ramp_set_momentum(&t->ramp, t->driving.accel_ms, t->driving.brake_ms);
        t->status_dirty = true;
        t->opened = true;
        train_open(t, ts->simulate);
        if (t->error[0] != '\0' && !was_broken)
            errors++;
    }

    /* Trains no longer listed keep running as they are until the caller releases them. */
    for (size_t i = 0; i < ts->n; i++) {
        struct train *o = &ts->v[i];
        if (!o->present) {
            nv[k] = *o;
            nv[k].releasing = true;
            nv[k].opened = false;
            k++;
            o->motor = NULL;
            o->plugin_config = NULL;
        }
        train_release(o);
    }
    free(ts->v);
    ts->v = nv;
    ts->n = k;
    return errors;
}

void trains_release_start(struct trains *ts, int64_t now_ms)
{
    for (size_t i = 0; i < ts->n; i++) {
        struct train *t = &ts->v[i];
        if (t->releasing && train_moving(t)) {
            ramp_stop(&t->ramp, now_ms);
            t->status_dirty = true;
        }
    }
}

size_t trains_reap(struct trains *ts, bool force, trains_removed_fn removed, void *ctx)
{
    size_t k = 0, left = 0;
    for (size_t i = 0; i < ts->n; i++) {
        struct train *t = &ts->v[i];
        if (t->releasing && force)
            ramp_emergency_stop(&t->ramp);
        if (!t->releasing || train_moving(t)) {
            left += t->releasing;
            if (k != i)
                ts->v[k] = *t;
            k++;
            continue;
        }
        if (t->motor != NULL)
            t->motor_rc = motor_stop(t->motor);
        if (removed != NULL)
            removed(ctx, t);
        train_release(t);
        /* Until the array is compacted, the slot must not look like a train to a caller's
         * lookups (a later removed() callback in this pass). */
        t->commands_topic[0] = '\0';
        t->id[0] = '\0';
    }
    ts->n = k;
    return left;
}

size_t trains_releasing(const struct trains *ts)
{
    size_t n = 0;
    for (size_t i = 0; i < ts->n; i++)
        n += ts->v[i].releasing;
    return n;
}

int trains_command(struct train *t, const struct train_cmd *c, int64_t now_ms)
{
    struct ramp *r = &t->ramp;
    if (c->action == PROTO_ACT_ESTOP) {
        /* Even a train whose plugin is broken gets the stop: it may be half-open. */
        trains_estop(t);
        return t->motor != NULL ? 0 : -ENODEV;
    }
    if (t->motor == NULL)
        return -ENODEV;
    /* A train handed over to another controller is only brought to a stop here. */
    if (t->releasing && c->action != PROTO_ACT_STOP)
        return -EBUSY;
    switch (c->action) {
    case PROTO_ACT_SET_SPEED:
        ramp_set_target(r, c->speed, c->has_direction ? c->direction : r->target_direction, now_ms);
        if (c->speed > 0)
            t->last_speed = c->speed;
        break;
    case PROTO_ACT_SET_DIRECTION:
        ramp_set_target(r, r->estopped ? 0 : r->target_speed, c->direction, now_ms);
        break;
    case PROTO_ACT_START: {
        int resume = t->driving.start_resumes && t->last_speed > 0 ? t->last_speed
                                                                   : TRAIN_START_DEFAULT_SPEED;
        int speed = c->has_speed                            ? c->speed
                    : (r->target_speed > 0 && !r->estopped) ? r->target_speed
                                                            : resume;
        if (speed > 0)
            t->last_speed = speed;
        /* start ramps like any speed change (the earlier system's start jumped at once). */
        ramp_set_target(r, speed, c->has_direction ? c->direction : r->target_direction, now_ms);
        break;
    }
    case PROTO_ACT_STOP:
        ramp_stop(r, now_ms);
        break;
    default:
        break;
    }
    t->status_dirty = true;
    if (ramp_tick(r, now_ms))
        motor_apply(t);
    return 0;
}

void trains_estop(struct train *t)
{
    ramp_emergency_stop(&t->ramp);
    if (t->motor != NULL)
        t->motor_rc = motor_stop(t->motor);
    t->status_dirty = true;
    /* The stop is news that must not wait for the rate limit. */
    t->status_last_ms = -1;
}

bool train_moving(const struct train *t)
{
    return t->ramp.speed > 0 || t->ramp.active;
}

size_t trains_stop_all(struct trains *ts, int64_t now_ms)
{
    size_t moving = 0;
    for (size_t i = 0; i < ts->n; i++) {
        struct train *t = &ts->v[i];
        if (!train_moving(t))
            continue;
        moving++;
        ramp_stop(&t->ramp, now_ms);
        t->status_dirty = true;
    }
    return moving;
}

void trains_tick(struct trains *ts, int64_t now_ms)
{
    for (size_t i = 0; i < ts->n; i++) {
        struct train *t = &ts->v[i];
        if (ramp_tick(&t->ramp, now_ms)) {
            motor_apply(t);
            t->status_dirty = true;
        }
    }
}

static int64_t status_due_at(const struct train *t)
{
    if (t->status_last_ms < 0)
        return t->status_dirty ? 0 : -1;
    if (t->status_dirty)
        return t->status_last_ms + TRAIN_STATUS_MIN_GAP_MS;
    if (train_moving(t))
        return t->status_last_ms + TRAIN_STATUS_PERIOD_MS;
    return -1;
}

bool trains_status_due(struct train *t, int64_t now_ms)
{
    int64_t at = status_due_at(t);
    if (at < 0 || now_ms < at)
        return false;
    t->status_dirty = false;
    t->status_last_ms = now_ms;
    return true;
}

int64_t trains_next_wake(const struct trains *ts, int64_t now_ms)
{
    int64_t best = -1;
    for (size_t i = 0; i < ts->n; i++) {
        const struct train *t = &ts->v[i];
        int64_t a = ramp_next_change_ms(&t->ramp, now_ms);
        int64_t b = status_due_at(t);
        if (b >= 0 && b < now_ms)
            b = now_ms;
        if (a >= 0 && (best < 0 || a < best))
            best = a;
        if (b >= 0 && (best < 0 || b < best))
            best = b;
    }
    return best;
}

int64_t trains_next_ramp_ms(const struct trains *ts, int64_t now_ms)
{
    int64_t best = -1;
    for (size_t i = 0; i < ts->n; i++) {
        int64_t a = ramp_next_change_ms(&ts->v[i].ramp, now_ms);
        if (a >= 0 && (best < 0 || a < best))
            best = a;
    }
    return best;
}

json_t *train_status_json(const struct train *t, const char *controller_id, int64_t wall_ms)
{
    char ts[32];
    if (timeutil_format_ms(wall_ms, ts, sizeof ts) < 0)
        ts[0] = '\0';
    return json_pack("{s:s, s:i, s:s, s:i, s:s, s:s, s:s}", "train_id", t->id, "speed",
                     t->ramp.speed, "direction", motor_direction_name(t->ramp.direction),
                     "target_speed", t->ramp.target_speed, "state",
                     ramp_state_name(ramp_state(&t->ramp)), "controller_id", controller_id,
                     "timestamp", ts);
}
