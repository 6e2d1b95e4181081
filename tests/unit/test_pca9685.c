/* PCA9685 driver against the recording fake I2C bus: exact register traffic for
 * initialisation and channel writes, shared chips, and the retry policy. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plugins/i2c_bus.h"
#include "plugins/pca9685.h"

#define ADDR 0x6F

/* Expected log entries. */
struct exp {
    enum i2c_fake_kind kind;
    uint8_t reg;
    uint8_t value;
    unsigned ms;
    int failed;
};
#define X_OPEN                                                                                     \
    {                                                                                              \
        I2C_FAKE_OPEN, 0, 0, 0, 0                                                                  \
    }
#define X_CLOSE                                                                                    \
    {                                                                                              \
        I2C_FAKE_CLOSE, 0, 0, 0, 0                                                                 \
    }
#define X_READ(r)                                                                                  \
    {                                                                                              \
        I2C_FAKE_READ, (r), 0, 0, 0                                                                \
    }
#define X_WRITE(r, v)                                                                              \
    {                                                                                              \
        I2C_FAKE_WRITE, (r), (v), 0, 0                                                             \
    }
#define X_WFAIL(r, v)                                                                              \
    {                                                                                              \
        I2C_FAKE_WRITE, (r), (v), 0, 1                                                             \
    }
#define X_SLEEP(ms)                                                                                \
    {                                                                                              \
        I2C_FAKE_SLEEP, 0, 0, (ms), 0                                                              \
    }

static void expect_log(const struct i2c_fake *f, const struct exp *e, size_t n)
{
    for (size_t i = 0; i < n && i < i2c_fake_op_count(f); i++) {
        const struct i2c_fake_op *op = i2c_fake_op_at(f, i);
        if (op->kind != e[i].kind || op->reg != e[i].reg)
            print_message("log entry %zu: kind %d reg 0x%02x\n", i, op->kind, op->reg);
        assert_int_equal(op->kind, e[i].kind);
        assert_int_equal(op->failed, e[i].failed);
        switch (op->kind) {
        case I2C_FAKE_WRITE:
            assert_int_equal(op->addr, ADDR);
            assert_int_equal(op->reg, e[i].reg);
            assert_int_equal(op->len, 1); /* one register per transaction */
            assert_int_equal(op->data[0], e[i].value);
            break;
        case I2C_FAKE_READ:
            assert_int_equal(op->addr, ADDR);
            assert_int_equal(op->reg, e[i].reg);
            break;
        case I2C_FAKE_SLEEP:
            assert_int_equal(op->ms, e[i].ms);
            break;
        default:
            break;
        }
    }
    assert_int_equal(i2c_fake_op_count(f), n);
}
#define EXPECT_LOG(f, ...)                                                                         \
    do {                                                                                           \
        const struct exp e_[] = {__VA_ARGS__};                                                     \
        expect_log((f), e_, sizeof e_ / sizeof e_[0]);                                             \
    } while (0)

/* Power-on register values of a PCA9685 (datasheet): asleep, prescale 30 (200 Hz), every
 * channel full off. */
static void chip_power_on(struct i2c_fake *f, uint8_t addr)
{
    i2c_fake_reg_set(f, addr, PCA9685_MODE1, 0x11);
    i2c_fake_reg_set(f, addr, PCA9685_MODE2, 0x04);
    i2c_fake_reg_set(f, addr, PCA9685_PRESCALE, 0x1E);
    for (unsigned c = 0; c < PCA9685_CHANNELS; c++)
        i2c_fake_reg_set(f, addr, (uint8_t)(PCA9685_LED0_ON_L + 4 * c + 3), 0x10);
}

static int setup(void **state)
{
    struct i2c_fake *f = i2c_fake_new();

    assert_non_null(f);
    chip_power_on(f, ADDR);
    i2c_fake_install(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct i2c_fake *f = *state;

    /* Every test releases what it acquired: a leaked chip would show here. */
    assert_int_equal(i2c_fake_open_buses(f), 0);
    i2c_fake_free(f);
    return 0;
}

/* A chip already initialised, log cleared. */
static struct pca9685 *chip_ready(struct i2c_fake *f)
{
    struct pca9685 *c = NULL;

    assert_int_equal(pca9685_acquire(1, ADDR, &c), 0);
    i2c_fake_log_clear(f);
    return c;
}

static void test_prescale(void **state)
{
    assert_int_equal(pca9685_prescale(1600), 3);
    assert_int_equal(pca9685_prescale(PCA9685_PWM_HZ), 3);
    assert_int_equal(pca9685_prescale(50), 121); /* 122.07 -> 122 - 1 */
    assert_int_equal(pca9685_prescale(60), 101); /* 101.73 -> 102 - 1 */
    assert_int_equal(pca9685_prescale(1000), 5); /* 6.10 -> 6 - 1 */
    assert_int_equal(pca9685_prescale(24), 253); /* 254.31 -> 254 - 1 */
    assert_int_equal(pca9685_prescale(10), 255); /* beyond the chip: limited */
    assert_int_equal(pca9685_prescale(0), 255);
    assert_int_equal(pca9685_prescale(100000), 3); /* beyond the chip: limited */
}

static void test_init_sequence_fresh_chip(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = NULL;

    assert_int_equal(pca9685_acquire(1, ADDR, &c), 0);
    assert_non_null(c);
    /* Prescale 3 written while SLEEP is set, then wake, wait, restart. No ALL_LED, no channel. */
    EXPECT_LOG(f, X_OPEN, X_READ(PCA9685_MODE1), X_READ(PCA9685_PRESCALE), X_WRITE(0x01, 0x04),
               X_WRITE(0x00, 0x11), X_WRITE(0xFE, 0x03), X_WRITE(0x00, 0x01), X_SLEEP(5),
               X_WRITE(0x00, 0x81));
    assert_int_equal(i2c_fake_op_at(f, 0)->bus, 1);
    assert_int_equal(i2c_fake_reg(f, ADDR, PCA9685_PRESCALE), 3);
    assert_int_equal(pca9685_bus_number(c), 1);
    assert_int_equal(pca9685_address(c), ADDR);
    pca9685_release(c);
}

/* Another process already drives a motor on this chip: not a single write. */
static void test_init_skipped_when_awake_at_1600(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = NULL;

    i2c_fake_reg_set(f, ADDR, PCA9685_MODE1, 0x01);
    i2c_fake_reg_set(f, ADDR, PCA9685_PRESCALE, 3);
    assert_int_equal(pca9685_acquire(1, ADDR, &c), 0);
    EXPECT_LOG(f, X_OPEN, X_READ(PCA9685_MODE1), X_READ(PCA9685_PRESCALE));
    pca9685_release(c);
}

static void test_init_when_awake_at_other_frequency(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = NULL;

    i2c_fake_reg_set(f, ADDR, PCA9685_MODE1, 0x01);
    i2c_fake_reg_set(f, ADDR, PCA9685_PRESCALE, 121);
    assert_int_equal(pca9685_acquire(1, ADDR, &c), 0);
    EXPECT_LOG(f, X_OPEN, X_READ(PCA9685_MODE1), X_READ(PCA9685_PRESCALE), X_WRITE(0x01, 0x04),
               X_WRITE(0x00, 0x11), X_WRITE(0xFE, 0x03), X_WRITE(0x00, 0x01), X_SLEEP(5),
               X_WRITE(0x00, 0x81));
    pca9685_release(c);
}

static void test_init_when_asleep_at_1600(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = NULL;

    i2c_fake_reg_set(f, ADDR, PCA9685_MODE1, 0x11);
    i2c_fake_reg_set(f, ADDR, PCA9685_PRESCALE, 3);
    assert_int_equal(pca9685_acquire(1, ADDR, &c), 0);
    EXPECT_LOG(f, X_OPEN, X_READ(PCA9685_MODE1), X_READ(PCA9685_PRESCALE), X_WRITE(0x01, 0x04),
               X_WRITE(0x00, 0x11), X_WRITE(0xFE, 0x03), X_WRITE(0x00, 0x01), X_SLEEP(5),
               X_WRITE(0x00, 0x81));
    pca9685_release(c);
}

static void test_init_never_touches_channels(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = NULL;

    assert_int_equal(pca9685_acquire(1, ADDR, &c), 0);
    for (size_t i = 0; i < i2c_fake_op_count(f); i++) {
        const struct i2c_fake_op *op = i2c_fake_op_at(f, i);
        if (op->kind != I2C_FAKE_WRITE)
            continue;
        assert_true(op->reg == PCA9685_MODE1 || op->reg == PCA9685_MODE2 ||
                    op->reg == PCA9685_PRESCALE);
    }
    /* Every channel still full off as at power-on. */
    for (unsigned ch = 0; ch < PCA9685_CHANNELS; ch++)
        assert_int_equal(i2c_fake_reg(f, ADDR, (uint8_t)(0x06 + 4 * ch + 3)), 0x10);
    pca9685_release(c);
}

/* Shared and reference-counted: initialised once per chip per process. */
static void test_acquire_shares_chip(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *a = NULL, *b = NULL, *c = NULL;

    assert_int_equal(pca9685_acquire(1, ADDR, &a), 0);
    i2c_fake_log_clear(f);
    assert_int_equal(pca9685_acquire(1, ADDR, &b), 0);
    assert_ptr_equal(a, b);
    assert_int_equal(i2c_fake_op_count(f), 0);

    pca9685_release(a);
    assert_int_equal(i2c_fake_op_count(f), 0);
    assert_int_equal(i2c_fake_open_buses(f), 1);
    pca9685_release(b);
    EXPECT_LOG(f, X_CLOSE);

    /* A new object later finds the chip running at 1600 Hz and leaves it alone. */
    i2c_fake_log_clear(f);
    assert_int_equal(pca9685_acquire(1, ADDR, &c), 0);
    EXPECT_LOG(f, X_OPEN, X_READ(PCA9685_MODE1), X_READ(PCA9685_PRESCALE));
    pca9685_release(c);
    pca9685_release(NULL);
}

static void test_distinct_chips(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *a = NULL, *b = NULL, *c = NULL;

    chip_power_on(f, 0x60);
    assert_int_equal(pca9685_acquire(1, ADDR, &a), 0);
    assert_int_equal(pca9685_acquire(1, 0x60, &b), 0);
    assert_int_equal(pca9685_acquire(2, ADDR, &c), 0);
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_int_equal(i2c_fake_open_buses(f), 3);
    assert_int_equal(i2c_fake_reg(f, 0x60, PCA9685_PRESCALE), 3);
    pca9685_release(a);
    pca9685_release(b);
    pca9685_release(c);
}

static void test_acquire_invalid(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = NULL;

    assert_int_equal(pca9685_acquire(-1, ADDR, &c), -EINVAL);
    assert_int_equal(pca9685_acquire(1, 0x80, &c), -EINVAL);
    assert_int_equal(pca9685_acquire(1, ADDR, NULL), -EINVAL);
    assert_null(c);
    assert_int_equal(i2c_fake_op_count(f), 0);
}

static void test_acquire_open_failure(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = NULL;

    i2c_fake_fail_open(f, -ENOENT);
    assert_int_equal(pca9685_acquire(1, ADDR, &c), -ENOENT);
    assert_null(c);
    i2c_fake_fail_open(f, 0);
}

static void test_acquire_chip_not_answering(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = NULL;

    i2c_fake_fail_reads(f, 4, -EREMOTEIO);
    assert_int_equal(pca9685_acquire(1, ADDR, &c), -EIO);
    assert_null(c);
    /* Reads are retried like writes; then the bus is closed again. */
    EXPECT_LOG(f, X_OPEN, {I2C_FAKE_READ, 0x00, 0, 0, 1}, X_SLEEP(10),
               {I2C_FAKE_READ, 0x00, 0, 0, 1}, X_SLEEP(20), {I2C_FAKE_READ, 0x00, 0, 0, 1},
               X_SLEEP(40), {I2C_FAKE_READ, 0x00, 0, 0, 1}, X_CLOSE);

    /* Nothing cached from the failure: the next attempt starts over. */
    i2c_fake_log_clear(f);
    assert_int_equal(pca9685_acquire(1, ADDR, &c), 0);
    assert_int_equal(i2c_fake_op_at(f, 0)->kind, I2C_FAKE_OPEN);
    pca9685_release(c);
}

static void test_channel_set_encoding(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = chip_ready(f);

    /* Channel 8: registers 0x26..0x29; 2047 = 0x7FF. ON first, OFF_H (full-off bit) last. */
    assert_int_equal(pca9685_channel_set(c, 8, 0, 2047), 0);
    EXPECT_LOG(f, X_WRITE(0x26, 0x00), X_WRITE(0x27, 0x00), X_WRITE(0x28, 0xFF),
               X_WRITE(0x29, 0x07));
    i2c_fake_log_clear(f);
    assert_int_equal(pca9685_channel_set(c, 0, 0x123, 0xABC), 0);
    EXPECT_LOG(f, X_WRITE(0x06, 0x23), X_WRITE(0x07, 0x01), X_WRITE(0x08, 0xBC),
               X_WRITE(0x09, 0x0A));
    i2c_fake_log_clear(f);
    assert_int_equal(pca9685_channel_set(c, 15, 4096, 4096), 0);
    EXPECT_LOG(f, X_WRITE(0x42, 0x00), X_WRITE(0x43, 0x10), X_WRITE(0x44, 0x00),
               X_WRITE(0x45, 0x10));
    pca9685_release(c);
}

static void test_full_off_is_one_write(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = chip_ready(f);

    assert_int_equal(pca9685_channel_full_off(c, 8), 0);
    EXPECT_LOG(f, X_WRITE(0x29, 0x10));
    i2c_fake_log_clear(f);
    assert_int_equal(pca9685_channel_full_off(c, 13), 0);
    EXPECT_LOG(f, X_WRITE(0x3D, 0x10));
    pca9685_release(c);
}

static void test_full_on(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = chip_ready(f);

    assert_int_equal(pca9685_channel_full_on(c, 10), 0);
    EXPECT_LOG(f, X_WRITE(0x2E, 0x00), X_WRITE(0x2F, 0x10), X_WRITE(0x30, 0x00),
               X_WRITE(0x31, 0x00));
    assert_int_equal(i2c_fake_reg(f, ADDR, 0x2F), 0x10);
    assert_int_equal(i2c_fake_reg(f, ADDR, 0x31), 0x00);
    pca9685_release(c);
}

static void test_duty(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = chip_ready(f);

    assert_int_equal(pca9685_channel_duty(c, 2, 0), 0);
    EXPECT_LOG(f, X_WRITE(0x11, 0x10));
    i2c_fake_log_clear(f);
    assert_int_equal(pca9685_channel_duty(c, 2, 4095), 0);
    EXPECT_LOG(f, X_WRITE(0x0E, 0x00), X_WRITE(0x0F, 0x00), X_WRITE(0x10, 0xFF),
               X_WRITE(0x11, 0x0F));
    i2c_fake_log_clear(f);
    assert_int_equal(pca9685_channel_duty(c, 2, 9999), 0);
    EXPECT_LOG(f, X_WRITE(0x0E, 0x00), X_WRITE(0x0F, 0x10), X_WRITE(0x10, 0x00),
               X_WRITE(0x11, 0x00));
    pca9685_release(c);
}

static void test_invalid_channel_values(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = chip_ready(f);

    assert_int_equal(pca9685_channel_set(c, 16, 0, 0), -EINVAL);
    assert_int_equal(pca9685_channel_set(c, 0, 4097, 0), -EINVAL);
    assert_int_equal(pca9685_channel_set(c, 0, 0, 4097), -EINVAL);
    assert_int_equal(pca9685_channel_full_off(c, 16), -EINVAL);
    assert_int_equal(pca9685_channel_full_on(c, 99), -EINVAL);
    assert_int_equal(i2c_fake_op_count(f), 0);
    pca9685_release(c);
}

static void test_retry_then_success(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = chip_ready(f);

    i2c_fake_fail_writes(f, 2, -EREMOTEIO);
    assert_int_equal(pca9685_channel_full_off(c, 8), 0);
    EXPECT_LOG(f, X_WFAIL(0x29, 0x10), X_SLEEP(10), X_WFAIL(0x29, 0x10), X_SLEEP(20),
               X_WRITE(0x29, 0x10));
    pca9685_release(c);
}

static void test_retry_success_on_last_attempt(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = chip_ready(f);

    i2c_fake_fail_writes(f, 3, -EIO);
    assert_int_equal(pca9685_channel_full_off(c, 8), 0);
    EXPECT_LOG(f, X_WFAIL(0x29, 0x10), X_SLEEP(10), X_WFAIL(0x29, 0x10), X_SLEEP(20),
               X_WFAIL(0x29, 0x10), X_SLEEP(40), X_WRITE(0x29, 0x10));
    pca9685_release(c);
}

static void test_retry_exhausted(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = chip_ready(f);

    i2c_fake_reg_set(f, ADDR, 0x29, 0x07);
    i2c_fake_fail_writes(f, 4, -ETIMEDOUT);
    /* Whatever the bus said, the caller sees -EIO after the 4th failure, and no 5th try. */
    assert_int_equal(pca9685_channel_full_off(c, 8), -EIO);
    EXPECT_LOG(f, X_WFAIL(0x29, 0x10), X_SLEEP(10), X_WFAIL(0x29, 0x10), X_SLEEP(20),
               X_WFAIL(0x29, 0x10), X_SLEEP(40), X_WFAIL(0x29, 0x10));
    assert_int_equal(i2c_fake_reg(f, ADDR, 0x29), 0x07);
    pca9685_release(c);
}

/* Retries are per transaction: a multi-register update retries only the failing register. */
static void test_retry_per_register(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = chip_ready(f);

    assert_int_equal(pca9685_channel_set(c, 8, 0, 1000), 0);
    i2c_fake_log_clear(f);
    i2c_fake_fail_writes(f, 1, -EIO);
    assert_int_equal(pca9685_channel_set(c, 8, 0, 2047), 0);
    EXPECT_LOG(f, X_WFAIL(0x26, 0x00), X_SLEEP(10), X_WRITE(0x26, 0x00), X_WRITE(0x27, 0x00),
               X_WRITE(0x28, 0xFF), X_WRITE(0x29, 0x07));

    /* A register that keeps failing stops the update there and reports it. */
    i2c_fake_log_clear(f);
    i2c_fake_fail_writes(f, 4, -EIO);
    assert_int_equal(pca9685_channel_set(c, 8, 0, 10), -EIO);
    EXPECT_LOG(f, X_WFAIL(0x26, 0x00), X_SLEEP(10), X_WFAIL(0x26, 0x00), X_SLEEP(20),
               X_WFAIL(0x26, 0x00), X_SLEEP(40), X_WFAIL(0x26, 0x00));
    pca9685_release(c);
}

static void test_init_write_failure(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = NULL;

    i2c_fake_fail_writes(f, 4, -EIO);
    assert_int_equal(pca9685_acquire(1, ADDR, &c), -EIO);
    assert_null(c);
    assert_int_equal(i2c_fake_open_buses(f), 0);
}

static void test_channel_claims(void **state)
{
    struct i2c_fake *f = *state;
    struct pca9685 *c = chip_ready(f);

    assert_int_equal(pca9685_channels_claim(c, 0x0700), 0);
    assert_int_equal(pca9685_channels_claim(c, 0x0100), -EBUSY);
    assert_int_equal(pca9685_channels_claim(c, 0x001C), 0);
    pca9685_channels_release(c, 0x0700);
    assert_int_equal(pca9685_channels_claim(c, 0x0100), 0);
    pca9685_channels_release(c, 0x011C);
    assert_int_equal(i2c_fake_op_count(f), 0);
    pca9685_release(c);
}

/* The real i2c-dev path, as far as a machine without the bus allows. */
static void test_real_bus_missing(void **state)
{
    struct i2c_bus *bus = NULL;

    i2c_bus_set_opener(NULL, NULL);
    assert_int_equal(i2c_bus_open(-1, &bus), -EINVAL);
    assert_int_equal(i2c_bus_open(987654, &bus), -ENOENT);
    assert_null(bus);
    i2c_bus_free(NULL);
    i2c_fake_install(*state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prescale),
        cmocka_unit_test_setup_teardown(test_init_sequence_fresh_chip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_skipped_when_awake_at_1600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_when_awake_at_other_frequency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_when_asleep_at_1600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_never_touches_channels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acquire_shares_chip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_distinct_chips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acquire_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acquire_open_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acquire_chip_not_answering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_set_encoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_off_is_one_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_channel_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_then_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_success_on_last_attempt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_exhausted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_per_register, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_write_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_bus_missing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
