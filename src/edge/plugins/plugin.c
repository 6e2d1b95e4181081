/* Plugin registry (names and the aliases in circulation from the earlier system) and the
 * generic dispatch that every caller goes through. */
#include "plugins/plugin.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct plugin_name {
    const char *name;
    const struct motor_ops *ops;
};

/* Aliases: "adafruit_dcmotor_hat" is what edges self-registered with, "dc_motor" the central's
 * default plugin name; both mean the PCA9685 DC-motor HAT. */
static const struct plugin_name plugin_names[] = {
    {"simulator", &motor_simulator_ops},
    {"dc_motor_hat", &motor_dc_motor_hat_ops},
    {"adafruit_dcmotor_hat", &motor_dc_motor_hat_ops},
    {"dc_motor", &motor_dc_motor_hat_ops},
};

const struct motor_ops *motor_plugin_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof plugin_names / sizeof plugin_names[0]; i++) {
        if (strcmp(plugin_names[i].name, name) == 0)
            return plugin_names[i].ops;
    }
    return NULL;
}

int motor_open(const char *plugin, const json_t *config, struct motor **out, char *err,
               size_t errlen)
{
    const struct motor_ops *ops = motor_plugin_find(plugin);
    struct motor *m = NULL;
    int rc;

    if (errlen > 0)
        err[0] = '\0';
    if (!out) {
        if (errlen > 0)
            snprintf(err, errlen, "no output pointer");
        return -EINVAL;
    }
    if (!ops) {
        if (errlen > 0)
            snprintf(err, errlen, "unknown motor plugin '%s'", plugin ? plugin : "(null)");
        return -ENOENT;
    }
    if (config && json_is_null(config))
        config = NULL;
    if (config && !json_is_object(config)) {
        if (errlen > 0)
            snprintf(err, errlen, "%s: plugin config must be a JSON object", ops->name);
        return -EINVAL;
    }

    rc = ops->open(config, &m, err, errlen);
    if (rc < 0)
        return rc;
    m->ops = ops;
    *out = m;
    return 0;
}

int motor_speed_clamp(int speed)
{
    if (speed < 0)
        return 0;
    if (speed > 100)
        return 100;
    return speed;
}

enum motor_direction motor_direction_normalise(enum motor_direction dir)
{
    return dir == MOTOR_REVERSE ? MOTOR_REVERSE : MOTOR_FORWARD;
}

int motor_set(struct motor *m, int speed, enum motor_direction dir)
{
    if (!m)
        return -EINVAL;
    return m->ops->set(m, motor_speed_clamp(speed), motor_direction_normalise(dir));
}

int motor_stop(struct motor *m)
{
    if (!m)
        return -EINVAL;
    return m->ops->stop(m);
}

void motor_close(struct motor *m)
{
    if (!m)
        return;
    /* A closed motor must not keep running on the last PWM value (the earlier system's exit
     * path left trains moving). A failing stop cannot be reported from here; the plugin has
     * already retried. */
    (void)m->ops->stop(m);
    m->ops->close(m);
}

json_t *motor_describe(const struct motor *m)
{
    if (!m)
        return NULL;
    return m->ops->describe(m);
}

const char *motor_direction_name(enum motor_direction d)
{
    return d == MOTOR_REVERSE ? "BACKWARD" : "FORWARD";
}
