/* Motor plugins: one small interface, chosen by the name in the runtime config.
 *
 *   struct motor *m = NULL;
 *   char err[128];
 *   if (motor_open("dc_motor_hat", config, &m, err, sizeof err) < 0) report(err);
 *   motor_set(m, 40, MOTOR_FORWARD);
 *   motor_stop(m);           // power off at once
 *   motor_close(m);          // stops the motor, frees; motor_close(NULL) is a no-op
 *
 * Functions return 0 or a negative errno (-ENOENT: unknown plugin name; -EINVAL: bad plugin
 * config or argument; -ENODEV: the hardware (I2C bus) could not be opened; -EBUSY: that motor
 * port is already open in this process; -EIO: hardware failure after retries). err, when
 * errlen > 0, always receives a NUL-terminated human message on failure.
 *
 * The generic functions clamp speed to 0..100 and map any direction other than MOTOR_REVERSE
 * to MOTOR_FORWARD before calling a plugin. Not thread-safe: motors belong to the event loop
 * thread. */
#ifndef ROUNDHOUSE_PLUGIN_H
#define ROUNDHOUSE_PLUGIN_H

#include <jansson.h>
#include <stddef.h>

enum motor_direction { MOTOR_FORWARD = 0, MOTOR_REVERSE = 1 };

struct motor;

struct motor_ops {
    const char *name;
    int (*open)(const json_t *config, struct motor **out, char *err, size_t errlen);
    int (*set)(struct motor *m, int speed, enum motor_direction dir);
    int (*stop)(struct motor *m);
    void (*close)(struct motor *m);
    /* A new JSON object describing the plugin and its current output (speed, direction...). */
    json_t *(*describe)(const struct motor *m);
};

/* Every motor starts with this header so the generic functions can dispatch. */
struct motor {
    const struct motor_ops *ops;
};

/* Resolves a plugin name or alias ("simulator", "dc_motor_hat", "adafruit_dcmotor_hat",
 * "dc_motor"); NULL when unknown. */
const struct motor_ops *motor_plugin_find(const char *name);
int motor_open(const char *plugin, const json_t *config, struct motor **out, char *err,
               size_t errlen);
/* A speed outside 0-100 as the nearest end; any direction but MOTOR_REVERSE as MOTOR_FORWARD:
 * what motor_set and the ramp (ramp.c) take from a caller. */
int motor_speed_clamp(int speed);
enum motor_direction motor_direction_normalise(enum motor_direction dir);
int motor_set(struct motor *m, int speed, enum motor_direction dir);
int motor_stop(struct motor *m);
void motor_close(struct motor *m);
json_t *motor_describe(const struct motor *m);

const char *motor_direction_name(enum motor_direction d); /* "FORWARD" / "BACKWARD" */

/* The plugins themselves (registered by name in plugin.c). */
extern const struct motor_ops motor_simulator_ops;
extern const struct motor_ops motor_dc_motor_hat_ops;

#endif
