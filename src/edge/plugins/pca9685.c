/* PCA9685 driver: shared chip objects, one-time initialisation, retried register access. */
#include "plugins/pca9685.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "plugins/i2c_bus.h"

struct pca9685 {
    struct i2c_bus *bus;
    int bus_number;
    uint8_t address;
    unsigned refs;
    uint16_t claimed;
    struct pca9685 *next;
};

/* Every chip acquired in this process: what makes initialisation happen once per chip. */
static struct pca9685 *chips;

uint8_t pca9685_prescale(unsigned freq_hz)
{
    if (freq_hz == 0)
        return 255;
    uint64_t div = 4096ull * freq_hz;
    uint64_t rounded = ((uint64_t)PCA9685_OSC_HZ + div / 2) / div;
    if (rounded < 4)
        return 3;
    if (rounded > 256)
        return 255;
    return (uint8_t)(rounded - 1);
}

/* ADR-002 of the earlier system: about a quarter of stop commands hit transient bus errors
 * before retries existed. Delays 10, 20, 40 ms. */
static int chip_write_reg(struct pca9685 *c, uint8_t reg, uint8_t value)
{
    const uint8_t buf[2] = {reg, value};
    unsigned delay = PCA9685_RETRY_FIRST_MS;

    for (int attempt = 0;; attempt++) {
        if (i2c_bus_write(c->bus, c->address, buf, sizeof buf) == 0)
            return 0;
        if (attempt == PCA9685_RETRIES)
            return -EIO;
        i2c_bus_sleep_ms(c->bus, delay);
        delay *= 2;
    }
}

static int chip_read_reg(struct pca9685 *c, uint8_t reg, uint8_t *value)
{
    unsigned delay = PCA9685_RETRY_FIRST_MS;

    for (int attempt = 0;; attempt++) {
        if (i2c_bus_read_reg(c->bus, c->address, reg, value, 1) == 0)
            return 0;
        if (attempt == PCA9685_RETRIES)
            return -EIO;
        i2c_bus_sleep_ms(c->bus, delay);
        delay *= 2;
    }
}

static int chip_init(struct pca9685 *c)
{
    const uint8_t prescale = pca9685_prescale(PCA9685_PWM_HZ);
    uint8_t mode1 = 0;
    uint8_t current = 0;
    int rc;

    rc = chip_read_reg(c, PCA9685_MODE1, &mode1);
    if (rc < 0)
        return rc;
    rc = chip_read_reg(c, PCA9685_PRESCALE, &current);
    if (rc < 0)
        return rc;
    /* Awake at our frequency: another process is (or may be) driving a motor on this chip.
     * Touching MODE1 or PRESCALE now would stall its PWM (the earlier system did, and stopped every
     * other motor). */
    if (!(mode1 & PCA9685_MODE1_SLEEP) && current == prescale)
        return 0;

    if ((rc = chip_write_reg(c, PCA9685_MODE2, PCA9685_MODE2_OUTDRV)) < 0)
        return rc;
    /* The prescaler can only be written while the oscillator is off (SLEEP). */
    if ((rc = chip_write_reg(c, PCA9685_MODE1, PCA9685_MODE1_SLEEP | PCA9685_MODE1_ALLCALL)) < 0)
        return rc;
    if ((rc = chip_write_reg(c, PCA9685_PRESCALE, prescale)) < 0)
        return rc;
    if ((rc = chip_write_reg(c, PCA9685_MODE1, PCA9685_MODE1_ALLCALL)) < 0)
        return rc;
    /* The oscillator needs up to 500 us after leaving SLEEP before RESTART. */
    i2c_bus_sleep_ms(c->bus, 5);
    return chip_write_reg(c, PCA9685_MODE1, PCA9685_MODE1_RESTART | PCA9685_MODE1_ALLCALL);
}

int pca9685_acquire(int bus_number, uint8_t address, struct pca9685 **out)
{
    struct pca9685 *c = NULL;
    int rc;

    if (!out || bus_number < 0 || address > 0x7f)
        return -EINVAL;
    for (c = chips; c; c = c->next) {
        if (c->bus_number == bus_number && c->address == address) {
            c->refs++;
            *out = c;
            return 0;
        }
    }

    c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->bus_number = bus_number;
    c->address = address;
    c->refs = 1;
    rc = i2c_bus_open(bus_number, &c->bus);
    if (rc < 0)
        goto fail;
    rc = chip_init(c);
    if (rc < 0)
        goto fail;
    c->next = chips;
    chips = c;
    *out = c;
    return 0;

fail:
    i2c_bus_free(c->bus);
    free(c);
    return rc;
}

void pca9685_release(struct pca9685 *chip)
{
    struct pca9685 **p;

    if (!chip || --chip->refs > 0)
        return;
    for (p = &chips; *p; p = &(*p)->next) {
        if (*p == chip) {
            *p = chip->next;
            break;
        }
    }
    i2c_bus_free(chip->bus);
    free(chip);
}

int pca9685_channels_claim(struct pca9685 *chip, uint16_t mask)
{
    if (chip->claimed & mask)
        return -EBUSY;
    chip->claimed |= mask;
    return 0;
}

void pca9685_channels_release(struct pca9685 *chip, uint16_t mask)
{
    chip->claimed &= (uint16_t)~mask;
}

static uint8_t channel_reg(unsigned channel, unsigned offset)
{
    return (uint8_t)(PCA9685_LED0_ON_L + 4 * channel + offset);
}

int pca9685_channel_set(struct pca9685 *chip, unsigned channel, unsigned on, unsigned off)
{
    const uint8_t values[4] = {on & 0xff, (on >> 8) & 0x1f, off & 0xff, (off >> 8) & 0x1f};

    if (channel >= PCA9685_CHANNELS || on > PCA9685_FULL || off > PCA9685_FULL)
        return -EINVAL;
    for (unsigned i = 0; i < 4; i++) {
        int rc = chip_write_reg(chip, channel_reg(channel, i), values[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int pca9685_channel_full_off(struct pca9685 *chip, unsigned channel)
{
    if (channel >= PCA9685_CHANNELS)
        return -EINVAL;
    return chip_write_reg(chip, channel_reg(channel, 3), PCA9685_FULL_BIT);
}

int pca9685_channel_full_on(struct pca9685 *chip, unsigned channel)
{
    return pca9685_channel_set(chip, channel, PCA9685_FULL, 0);
}

int pca9685_channel_duty(struct pca9685 *chip, unsigned channel, unsigned count)
{
    if (count == 0)
        return pca9685_channel_full_off(chip, channel);
    if (count >= PCA9685_FULL)
        return pca9685_channel_full_on(chip, channel);
    return pca9685_channel_set(chip, channel, 0, count);
}

int pca9685_bus_number(const struct pca9685 *chip)
{
    return chip->bus_number;
}

uint8_t pca9685_address(const struct pca9685 *chip)
{
    return chip->address;
}
