/* MQTT train command payloads (trains/{id}/commands, docs/mqtt.md, every form: {action},
 * legacy {speed} and {command}), parsed as a whole and then applied to a simulated train
 * (in memory): a command is accepted complete and consistent or rejected, and whatever it
 * asks, the ramp keeps the output within 0-100 and reaches a standstill after a stop. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trains.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_output(const struct train *t)
{
    if (t->ramp.speed < 0 || t->ramp.speed > 100 || t->ramp.target_speed < 0 ||
        t->ramp.target_speed > 100)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *list;
    struct train_cmd cmd;
    struct trains ts;
    char err[160] = "";

    memset(&cmd, 0xa5, sizeof cmd); /* must be left untouched on failure */
    struct train_cmd before = cmd;
    int rc = train_cmd_parse((const char *)data, size, &cmd, err, sizeof err);
    if (rc < 0) {
        if (rc != -EINVAL || err[0] == '\0' || memcmp(&cmd, &before, sizeof cmd) != 0)
            abort();
        return 0;
    }
    if ((unsigned)cmd.action >= PROTO_ACT_COUNT ||
        (cmd.has_speed && (cmd.speed < 0 || cmd.speed > 100)))
        abort();
    if ((cmd.action == PROTO_ACT_SET_SPEED && !cmd.has_speed) ||
        (cmd.action == PROTO_ACT_SET_DIRECTION && !cmd.has_direction))
        abort();
    if (cmd.has_direction && cmd.direction != MOTOR_FORWARD && cmd.direction != MOTOR_REVERSE)
        abort();

    if (list == NULL) {
        list = json_pack("[{s:s, s:{s:s}}]", "train_id", "t1", "plugin", "name", "simulator");
        if (list == NULL)
            abort();
    }
    trains_init(&ts, true, 1000);
    if (trains_configure(&ts, list, 0) != 0 || ts.n != 1)
        abort();
    struct train *t = &ts.v[0];
    /* From standstill, and again while moving. */
    for (int round = 0; round < 2; round++) {
        int64_t now = 10000 * (round + 1);
        if (trains_command(t, &cmd, now) != 0)
            abort();
        check_output(t);
        for (int64_t dt = 250; dt <= 5000; dt += 250) {
            trains_tick(&ts, now + dt);
            check_output(t);
        }
        if (t->ramp.speed != t->ramp.target_speed)
            abort(); /* a ramp ends within its duration (twice it for a reversal) */
    }
    struct train_cmd stop = {.action = PROTO_ACT_STOP};
    trains_command(t, &stop, 40000);
    trains_tick(&ts, 45000);
    if (t->ramp.speed != 0)
        abort();
    trains_free(&ts);
    return 0;
}
