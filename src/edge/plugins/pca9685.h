/* PCA9685 16-channel 12-bit PWM controller (the chip of the DC-motor HAT), over i2c_bus.
 *
 * One chip object per (bus number, address) per process, shared and reference-counted: every
 * motor on a HAT acquires the same object, and the chip's mode and prescale are set up at most
 * once per process. If the chip is already awake at 1600 Hz (another process drives a motor on
 * it) it is left exactly as it is. No function here writes the ALL_LED registers or any
 * channel other than the one it is given: starting one motor must not stop the others (the
 * earlier system zeroed every channel at start).
 *
 * Every register write and read is retried PCA9685_RETRIES times, after 10, 20 and 40 ms
 * (slept through the bus, so tests record instead of sleeping), then fails with -EIO.
 * Errors: 0 or a negative errno. Not thread-safe: use from the event loop thread. */
#ifndef ROUNDHOUSE_PCA9685_H
#define ROUNDHOUSE_PCA9685_H

#include <stdint.h>

#define PCA9685_MODE1 0x00
#define PCA9685_MODE2 0x01
#define PCA9685_LED0_ON_L 0x06 /* channel c: ON_L, ON_H, OFF_L, OFF_H at 0x06 + 4c .. +3 */
#define PCA9685_PRESCALE 0xFE

#define PCA9685_MODE1_RESTART 0x80
#define PCA9685_MODE1_SLEEP 0x10
#define PCA9685_MODE1_ALLCALL 0x01
#define PCA9685_MODE2_OUTDRV 0x04 /* totem-pole outputs */
#define PCA9685_FULL_BIT 0x10     /* bit 4 of ON_H / OFF_H: full on / full off */

#define PCA9685_CHANNELS 16
#define PCA9685_FULL 4096 /* on or off count meaning "full" */
#define PCA9685_OSC_HZ 25000000
#define PCA9685_PWM_HZ 1600
#define PCA9685_DEFAULT_ADDRESS 0x6F
#define PCA9685_RETRIES 3
#define PCA9685_RETRY_FIRST_MS 10

struct pca9685;

/* round(25 MHz / (4096 * freq_hz)) - 1, limited to the chip's 3..255 (3 for 1600 Hz). */
uint8_t pca9685_prescale(unsigned freq_hz);

/* The shared chip at address on bus bus_number, opening the bus and initialising the chip (at
 * PCA9685_PWM_HZ) on first use. Errors: -EINVAL bad address, the bus's open errno (-ENOENT,
 * -EACCES...), -EIO chip not answering, -ENOMEM. *out untouched on failure. */
int pca9685_acquire(int bus_number, uint8_t address, struct pca9685 **out);
/* Drops one reference; the last closes the bus. Channel outputs are left as they are (motors
 * stop themselves before releasing). NULL is a no-op. */
void pca9685_release(struct pca9685 *chip);

/* Reserves channels (bit c = channel c) for one user in this process: -EBUSY if any is taken,
 * so two motor objects can never drive the same port. */
int pca9685_channels_claim(struct pca9685 *chip, uint16_t mask);
void pca9685_channels_release(struct pca9685 *chip, uint16_t mask);

/* Raw ON/OFF counts (0..4095, or PCA9685_FULL for full on / full off), written ON_L, ON_H,
 * OFF_L, OFF_H one register per transaction: that works whatever the auto-increment bit
 * another process left in MODE1, and the full-off bit is cleared last. -EINVAL bad values. */
int pca9685_channel_set(struct pca9685 *chip, unsigned channel, unsigned on, unsigned off);
/* Full off: one write of OFF_H = 0x10. Full off overrides every other setting of the channel,
 * so a single transaction cuts the output, the safest way to stop a motor. */
int pca9685_channel_full_off(struct pca9685 *chip, unsigned channel);
/* Full on: ON = 4096, OFF = 0. */
int pca9685_channel_full_on(struct pca9685 *chip, unsigned channel);
/* Duty cycle in counts: 0 = full off, 1..4095 = ON 0 / OFF count, >= 4096 = full on. */
int pca9685_channel_duty(struct pca9685 *chip, unsigned channel, unsigned count);

int pca9685_bus_number(const struct pca9685 *chip);
uint8_t pca9685_address(const struct pca9685 *chip);

#endif
