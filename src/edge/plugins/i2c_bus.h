/* I2C bus behind a small interface, so the PCA9685 driver runs unchanged on Linux i2c-dev and
 * on the recording fake bus of the unit tests (no hardware, no real sleeping).
 *
 * Ownership: i2c_bus_open()/i2c_bus_new() return a bus owned by the caller, released with
 * i2c_bus_free() (NULL is a no-op). Errors: 0 or a negative errno; a short transfer is -EIO.
 * Not thread-safe: one bus object is used from one thread. */
#ifndef ROUNDHOUSE_I2C_BUS_H
#define ROUNDHOUSE_I2C_BUS_H

#include <stddef.h>
#include <stdint.h>

struct i2c_bus;

struct i2c_bus_ops {
    /* One write transaction of len bytes to the 7-bit address addr. */
    int (*write)(void *ctx, uint8_t addr, const uint8_t *data, size_t len);
    /* Register read: writes reg, then reads len bytes. */
    int (*read_reg)(void *ctx, uint8_t addr, uint8_t reg, uint8_t *data, size_t len);
    /* Waits ms milliseconds (retry back-off, oscillator start-up). */
    void (*sleep_ms)(void *ctx, unsigned ms);
    /* Releases ctx; may be NULL. */
    void (*close)(void *ctx);
};

/* Opens bus number `number`: /dev/i2c-<number>, unless an opener is installed (tests).
 * -EINVAL for a negative number, else the errno of open(2) (-ENOENT: no such bus). */
int i2c_bus_open(int number, struct i2c_bus **out);

/* A bus over custom operations; ctx is handed to every op and released by ops->close. */
int i2c_bus_new(const struct i2c_bus_ops *ops, void *ctx, int number, struct i2c_bus **out);
void i2c_bus_free(struct i2c_bus *bus);

int i2c_bus_number(const struct i2c_bus *bus);
int i2c_bus_write(struct i2c_bus *bus, uint8_t addr, const uint8_t *data, size_t len);
int i2c_bus_read_reg(struct i2c_bus *bus, uint8_t addr, uint8_t reg, uint8_t *data, size_t len);
void i2c_bus_sleep_ms(struct i2c_bus *bus, unsigned ms);

/* Replaces how i2c_bus_open() opens a bus number (NULL restores /dev/i2c-N). For tests. */
typedef int (*i2c_bus_opener_fn)(int number, struct i2c_bus **out, void *arg);
void i2c_bus_set_opener(i2c_bus_opener_fn opener, void *arg);

/* ---- Recording fake bus (tests) ----
 * A register file of 256 bytes per 7-bit address, a log of every transaction and sleep, and
 * failure injection. Writes store data[1..] from register data[0] upwards; reads return the
 * stored registers. Every bus it opens (any number) shares the same registers and log. */
enum i2c_fake_kind { I2C_FAKE_OPEN, I2C_FAKE_CLOSE, I2C_FAKE_WRITE, I2C_FAKE_READ, I2C_FAKE_SLEEP };

#define I2C_FAKE_MAX_DATA 8

struct i2c_fake_op {
    enum i2c_fake_kind kind;
    int bus; /* bus number */
    uint8_t addr;
    uint8_t reg;                     /* WRITE: data[0]; READ: the register read */
    uint8_t data[I2C_FAKE_MAX_DATA]; /* WRITE: the bytes after the register */
    size_t len;                      /* WRITE: number of bytes in data; READ: bytes read */
    unsigned ms;                     /* SLEEP */
    int failed;                      /* WRITE/READ: 1 when this attempt was made to fail */
};

struct i2c_fake;

struct i2c_fake *i2c_fake_new(void);
/* Also uninstalls it when it is the installed opener. NULL is a no-op. */
void i2c_fake_free(struct i2c_fake *f);
/* Makes every later i2c_bus_open() return a bus backed by f. */
void i2c_fake_install(struct i2c_fake *f);
/* The next n write (read) attempts fail with err (a negative errno) and change nothing. */
void i2c_fake_fail_writes(struct i2c_fake *f, unsigned n, int err);
void i2c_fake_fail_reads(struct i2c_fake *f, unsigned n, int err);
/* Makes i2c_bus_open() fail with err (negative errno) while err != 0. */
void i2c_fake_fail_open(struct i2c_fake *f, int err);
uint8_t i2c_fake_reg(const struct i2c_fake *f, uint8_t addr, uint8_t reg);
void i2c_fake_reg_set(struct i2c_fake *f, uint8_t addr, uint8_t reg, uint8_t value);
size_t i2c_fake_op_count(const struct i2c_fake *f);
const struct i2c_fake_op *i2c_fake_op_at(const struct i2c_fake *f, size_t i);
void i2c_fake_log_clear(struct i2c_fake *f);
/* Buses opened from f and not yet freed. */
int i2c_fake_open_buses(const struct i2c_fake *f);

#endif
