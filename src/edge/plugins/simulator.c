/* Simulator motor: speed and direction in memory. With the plugin config key "state_file" every
 * change is also written to that file as {"speed":N,"direction":"FORWARD"|"BACKWARD"}, so that
 * integration tests can watch the "motor" of a real edge process from outside.
 * Other config keys (motor_port, i2c_address...) are accepted and ignored, so a train
 * configured for a HAT runs unchanged in simulation. */
#include "plugins/plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sim_motor {
    struct motor base; /* first: the generic functions see a struct motor */
    int speed;
    enum motor_direction direction;
    char *state_file; /* NULL: no file */
};

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Temp file + rename so that an observer never reads a half-written file. No fsync: the file
 * is for watching a live process, not state to survive a crash. */
static int sim_state_write(const struct sim_motor *s)
{
    char tmp[4096];
    char body[96];
    int fd = -1;
    int rc;
    int n;

    n = snprintf(tmp, sizeof tmp, "%s.XXXXXX", s->state_file);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -ENAMETOOLONG;
    n = snprintf(body, sizeof body, "{\"speed\":%d,\"direction\":\"%s\"}\n", s->speed,
                 motor_direction_name(s->direction));
    if (n < 0 || (size_t)n >= sizeof body)
        return -EOVERFLOW;

    fd = mkstemp(tmp);
    if (fd < 0)
        return -errno;
    /* mkstemp creates 0600; the observer may be another user (a test harness). */
    if (fchmod(fd, 0644) < 0) {
        rc = -errno;
        goto out;
    }
    rc = write_all(fd, body, (size_t)n);
    if (rc < 0)
        goto out;
    if (close(fd) < 0) {
        fd = -1;
        rc = -errno;
        goto out;
    }
    fd = -1;
    if (rename(tmp, s->state_file) < 0) {
        rc = -errno;
        goto out;
    }
    return 0;

out:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

static int sim_changed(const struct sim_motor *s)
{
    return s->state_file ? sim_state_write(s) : 0;
}

static int sim_open(const json_t *config, struct motor **out, char *err, size_t errlen)
{
    struct sim_motor *s = NULL;
    const json_t *file = config ? json_object_get(config, "state_file") : NULL;
    int rc;

    if (file && !json_is_null(file) && !json_is_string(file)) {
        if (errlen > 0)
            snprintf(err, errlen, "simulator: state_file must be a string");
        return -EINVAL;
    }
    if (file && json_is_string(file) && json_string_length(file) == 0) {
        if (errlen > 0)
            snprintf(err, errlen, "simulator: state_file must not be empty");
        return -EINVAL;
    }

    s = calloc(1, sizeof *s);
    if (!s) {
        rc = -ENOMEM;
        goto fail;
    }
    s->speed = 0;
    s->direction = MOTOR_FORWARD;
    if (file && json_is_string(file)) {
        s->state_file = strdup(json_string_value(file));
        if (!s->state_file) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    /* Written at once, so an observer sees the motor exists and is stopped. */
    rc = sim_changed(s);
    if (rc < 0) {
        if (errlen > 0)
            snprintf(err, errlen, "simulator: cannot write state_file %s: %s", s->state_file,
                     strerror(-rc));
        goto fail;
    }
    *out = &s->base;
    return 0;

fail:
    if (rc == -ENOMEM && errlen > 0)
        snprintf(err, errlen, "simulator: out of memory");
    if (s)
        free(s->state_file);
    free(s);
    return rc;
}

static int sim_set(struct motor *m, int speed, enum motor_direction dir)
{
    struct sim_motor *s = (struct sim_motor *)m;

    s->speed = speed;
    s->direction = dir;
    return sim_changed(s);
}

static int sim_stop(struct motor *m)
{
    struct sim_motor *s = (struct sim_motor *)m;

    s->speed = 0;
    return sim_changed(s);
}

static void sim_close(struct motor *m)
{
    struct sim_motor *s = (struct sim_motor *)m;

    free(s->state_file);
    free(s);
}

static json_t *sim_describe(const struct motor *m)
{
    const struct sim_motor *s = (const struct sim_motor *)m;

    return json_pack("{s:s, s:i, s:s}", "plugin", "simulator", "speed", s->speed, "direction",
                     motor_direction_name(s->direction));
}

const struct motor_ops motor_simulator_ops = {
    .name = "simulator",
    .open = sim_open,
    .set = sim_set,
    .stop = sim_stop,
    .close = sim_close,
    .describe = sim_describe,
};
