/* DC-motor HAT plugin ("dc_motor_hat", aliases "adafruit_dcmotor_hat", "dc_motor"): one DC motor
 * on one port of a PCA9685-based HAT driving H-bridges (docs/edge.md "Motor HAT").
 *
 * Plugin config: "i2c_bus" (int, default 1 -> /dev/i2c-1), "i2c_address" (int or string such
 * as "0x6F", default 0x6F), "motor_port" (1-4, default 1). Other keys are ignored.
 *
 * Each port uses three chip channels: PWM (speed) and IN1/IN2 (H-bridge direction, used as
 * digital pins through full on / full off). Only this port's channels are ever written. */
#include "plugins/plugin.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/pca9685.h"

#define HAT_DEFAULT_BUS 1
#define HAT_MAX_BUS 1023
#define HAT_PORTS 4

struct hat_channels {
    unsigned pwm, in2, in1;
};

/* (PWM, IN2, IN1) per port M1..M4, as wired on the HAT. */
static const struct hat_channels hat_port_channels[HAT_PORTS] = {
    {8, 9, 10},
    {13, 12, 11},
    {2, 3, 4},
    {7, 6, 5},
};

struct hat_motor {
    struct motor base; /* first: the generic functions see a struct motor */
    struct pca9685 *chip;
    int port;
    struct hat_channels ch;
    int speed;                      /* last speed written; -1: unknown (a write failed) */
    enum motor_direction direction; /* valid when direction_known */
    bool direction_known;
};

static uint16_t hat_mask(const struct hat_channels *ch)
{
    return (uint16_t)((1u << ch->pwm) | (1u << ch->in2) | (1u << ch->in1));
}

/* An integer from a JSON integer or a decimal / "0x" hexadecimal string; absent or null keeps
 * *out. 0 or -EINVAL with a message naming the key. */
static int config_int(const json_t *config, const char *key, long min, long max, long *out,
                      char *err, size_t errlen)
{
    const json_t *v = config ? json_object_get(config, key) : NULL;
    long value;

    if (v == NULL || json_typeof(v) == JSON_NULL)
        return 0;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < min || i > max)
            goto range;
        *out = (long)i;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        int base = 10;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
            base = 16;
            s += 2;
        }
        /* strtol would accept leading blanks and signs; configuration should not. */
        if (base == 10 ? !isdigit((unsigned char)s[0]) : !isxdigit((unsigned char)s[0]))
            goto type;
        errno = 0;
        value = strtol(s, &end, base);
        if (errno != 0 || *end != '\0')
            goto type;
        if (value < min || value > max)
            goto range;
        *out = value;
        return 0;
    }
type:
    if (errlen > 0)
        snprintf(err, errlen, "dc_motor_hat: %s must be an integer", key);
    return -EINVAL;
range:
    if (errlen > 0)
        snprintf(err, errlen, "dc_motor_hat: %s must be %ld-%ld", key, min, max);
    return -EINVAL;
}

/* Direction pins: the pin going low is written first, so the bridge passes through "both low"
 * (coast), never "both high" (short brake). */
static int hat_direction_write(struct hat_motor *h, enum motor_direction dir)
{
    unsigned low = dir == MOTOR_FORWARD ? h->ch.in2 : h->ch.in1;
    unsigned high = dir == MOTOR_FORWARD ? h->ch.in1 : h->ch.in2;
    int rc;

    h->direction_known = false;
    rc = pca9685_channel_full_off(h->chip, low);
    if (rc < 0)
        return rc;
    rc = pca9685_channel_full_on(h->chip, high);
    if (rc < 0)
        return rc;
    h->direction = dir;
    h->direction_known = true;
    return 0;
}

static int hat_power_off(struct hat_motor *h)
{
    int rc = pca9685_channel_full_off(h->chip, h->ch.pwm);

    h->speed = rc < 0 ? -1 : 0;
    return rc;
}

static int hat_set(struct motor *m, int speed, enum motor_direction dir)
{
    struct hat_motor *h = (struct hat_motor *)m;
    bool cut = false;
    int rc;

    if (speed < 0)
        speed = 0;
    if (speed > 100)
        speed = 100;
    if (!h->direction_known || dir != h->direction) {
        /* Never switch the bridge while it is powered: the ramp brings the speed to 0 before
         * a reversal, and this covers any caller that does not. */
        if (h->speed != 0) {
            rc = hat_power_off(h);
            if (rc < 0)
                return rc;
        }
        cut = true;
        rc = hat_direction_write(h, dir);
        if (rc < 0)
            return rc;
    }
    if (speed == 0 && cut)
        return 0;
    if (speed == 0)
        return hat_power_off(h);
    rc = pca9685_channel_duty(h->chip, h->ch.pwm, (unsigned)speed * 4095u / 100u);
    h->speed = rc < 0 ? -1 : speed;
    return rc;
}

static int hat_stop(struct motor *m)
{
    /* Coast: PWM full off, direction pins unchanged (as the earlier system did). */
    return hat_power_off((struct hat_motor *)m);
}

static void hat_close(struct motor *m)
{
    struct hat_motor *h = (struct hat_motor *)m;

    pca9685_channels_release(h->chip, hat_mask(&h->ch));
    pca9685_release(h->chip);
    free(h);
}

static int hat_open(const json_t *config, struct motor **out, char *err, size_t errlen)
{
    struct hat_motor *h = NULL;
    struct pca9685 *chip = NULL;
    long bus = HAT_DEFAULT_BUS;
    long address = PCA9685_DEFAULT_ADDRESS;
    long port = 1;
    bool claimed = false;
    int rc;

    /* 0x03..0x77: the 7-bit addresses that are not reserved by the I2C specification. */
    if ((rc = config_int(config, "i2c_bus", 0, HAT_MAX_BUS, &bus, err, errlen)) < 0 ||
        (rc = config_int(config, "i2c_address", 0x03, 0x77, &address, err, errlen)) < 0 ||
        (rc = config_int(config, "motor_port", 1, HAT_PORTS, &port, err, errlen)) < 0)
        return rc;

    rc = pca9685_acquire((int)bus, (uint8_t)address, &chip);
    if (rc == -EIO) {
        if (errlen > 0)
            snprintf(err, errlen, "dc_motor_hat: no answer from PCA9685 at 0x%02lx on /dev/i2c-%ld",
                     address, bus);
        goto fail;
    }
    if (rc == -ENOMEM)
        goto fail;
    if (rc < 0) {
        if (errlen > 0)
            snprintf(err, errlen, "dc_motor_hat: cannot open /dev/i2c-%ld: %s", bus, strerror(-rc));
        rc = -ENODEV;
        goto fail;
    }

    h = calloc(1, sizeof *h);
    if (!h) {
        rc = -ENOMEM;
        goto fail;
    }
    h->chip = chip;
    h->port = (int)port;
    h->ch = hat_port_channels[port - 1];
    h->speed = -1;
    h->direction_known = false;

    rc = pca9685_channels_claim(chip, hat_mask(&h->ch));
    if (rc < 0) {
        if (errlen > 0)
            snprintf(err, errlen,
                     "dc_motor_hat: motor_port %ld on /dev/i2c-%ld 0x%02lx is already open", port,
                     bus, address);
        goto fail;
    }
    claimed = true;

    /* A newly opened motor is stopped and set forward, whatever the chip held before. */
    rc = hat_set(&h->base, 0, MOTOR_FORWARD);
    if (rc < 0) {
        if (errlen > 0)
            snprintf(err, errlen, "dc_motor_hat: I2C write to motor_port %ld failed after retries",
                     port);
        goto fail;
    }
    *out = &h->base;
    return 0;

fail:
    if (rc == -ENOMEM && errlen > 0)
        snprintf(err, errlen, "dc_motor_hat: out of memory");
    if (claimed)
        pca9685_channels_release(chip, hat_mask(&h->ch));
    free(h);
    pca9685_release(chip);
    return rc;
}

static json_t *hat_describe(const struct motor *m)
{
    const struct hat_motor *h = (const struct hat_motor *)m;
    char address[8];

    snprintf(address, sizeof address, "0x%02x", pca9685_address(h->chip));
    return json_pack("{s:s, s:i, s:i, s:s, s:o, s:s}", "plugin", "dc_motor_hat", "motor_port",
                     h->port, "i2c_bus", pca9685_bus_number(h->chip), "i2c_address", address,
                     "speed", h->speed < 0 ? json_null() : json_integer(h->speed), "direction",
                     h->direction_known ? motor_direction_name(h->direction) : "UNKNOWN");
}

const struct motor_ops motor_dc_motor_hat_ops = {
    .name = "dc_motor_hat",
    .open = hat_open,
    .set = hat_set,
    .stop = hat_stop,
    .close = hat_close,
    .describe = hat_describe,
};
