/* Motor plugins: registry and generic dispatch, the simulator (with its state file), and the
 * DC-motor HAT plugin against the recording fake I2C bus. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "plugins/i2c_bus.h"
#include "plugins/pca9685.h"
#include "plugins/plugin.h"

#define ADDR 0x6F

/* (PWM, IN2, IN1) of M1..M4, as docs/edge.md "Motor HAT" states them. */
static const unsigned port_ch[4][3] = {{8, 9, 10}, {13, 12, 11}, {2, 3, 4}, {7, 6, 5}};

static uint8_t reg_of(unsigned channel, unsigned offset)
{
    return (uint8_t)(0x06 + 4 * channel + offset);
}

/* ---- registry and generic dispatch ---- */

static void test_registry_names_and_aliases(void **state)
{
    assert_ptr_equal(motor_plugin_find("simulator"), &motor_simulator_ops);
    assert_ptr_equal(motor_plugin_find("dc_motor_hat"), &motor_dc_motor_hat_ops);
    assert_ptr_equal(motor_plugin_find("adafruit_dcmotor_hat"), &motor_dc_motor_hat_ops);
    assert_ptr_equal(motor_plugin_find("dc_motor"), &motor_dc_motor_hat_ops);
    assert_null(motor_plugin_find("stepper_hat"));
    assert_null(motor_plugin_find(""));
    assert_null(motor_plugin_find(NULL));
    assert_null(motor_plugin_find("Simulator"));
}

static void test_open_unknown_plugin(void **state)
{
    struct motor *m = (struct motor *)0x1;
    char err[128];

    assert_int_equal(motor_open("stepper_hat", NULL, &m, err, sizeof err), -ENOENT);
    assert_ptr_equal(m, (struct motor *)0x1);
    assert_non_null(strstr(err, "stepper_hat"));
    assert_int_equal(motor_open(NULL, NULL, &m, err, sizeof err), -ENOENT);
    /* No message buffer: still fails cleanly. */
    assert_int_equal(motor_open("nope", NULL, &m, NULL, 0), -ENOENT);
}

static void test_open_config_not_object(void **state)
{
    struct motor *m = NULL;
    char err[128];
    json_t *config = json_array();

    assert_int_equal(motor_open("simulator", config, &m, err, sizeof err), -EINVAL);
    assert_null(m);
    assert_true(strlen(err) > 0);
    json_decref(config);
    /* JSON null means "no config". */
    config = json_null();
    assert_int_equal(motor_open("simulator", config, &m, err, sizeof err), 0);
    motor_close(m);
}

static void test_null_motor(void **state)
{
    motor_close(NULL);
    assert_int_equal(motor_set(NULL, 10, MOTOR_FORWARD), -EINVAL);
    assert_int_equal(motor_stop(NULL), -EINVAL);
    assert_null(motor_describe(NULL));
}

static void test_direction_names(void **state)
{
    assert_string_equal(motor_direction_name(MOTOR_FORWARD), "FORWARD");
    assert_string_equal(motor_direction_name(MOTOR_REVERSE), "BACKWARD");
}

/* ---- simulator ---- */

static void expect_describe(struct motor *m, const char *plugin, int speed, const char *dir)
{
    json_t *d = motor_describe(m);

    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "plugin")), plugin);
    assert_int_equal(json_integer_value(json_object_get(d, "speed")), speed);
    assert_string_equal(json_string_value(json_object_get(d, "direction")), dir);
    json_decref(d);
}

static void test_simulator_basic(void **state)
{
    struct motor *m = NULL;
    char err[128];
    json_t *config = json_pack("{s:i, s:s}", "motor_port", 3, "i2c_address", "0x60");

    assert_int_equal(motor_open("simulator", config, &m, err, sizeof err), 0);
    json_decref(config);
    assert_ptr_equal(m->ops, &motor_simulator_ops);
    expect_describe(m, "simulator", 0, "FORWARD");
    assert_int_equal(motor_set(m, 40, MOTOR_REVERSE), 0);
    expect_describe(m, "simulator", 40, "BACKWARD");
    assert_int_equal(motor_stop(m), 0);
    expect_describe(m, "simulator", 0, "BACKWARD");
    /* The generic layer clamps and normalises. */
    assert_int_equal(motor_set(m, 150, MOTOR_FORWARD), 0);
    expect_describe(m, "simulator", 100, "FORWARD");
    assert_int_equal(motor_set(m, -3, (enum motor_direction)9), 0);
    expect_describe(m, "simulator", 0, "FORWARD");
    motor_close(m);
}

struct tmpdir {
    char path[64];
};

static void tmpdir_make(struct tmpdir *t)
{
    snprintf(t->path, sizeof t->path, "/tmp/rh-test-plugins-XXXXXX");
    assert_non_null(mkdtemp(t->path));
}

/* Removes the directory; asserts it held only `keep` (no temp file left behind). */
static void tmpdir_remove(struct tmpdir *t, const char *keep)
{
    DIR *d = opendir(t->path);
    struct dirent *e;
    char p[512];
    int files = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (!keep || strcmp(e->d_name, keep) != 0)
            print_message("unexpected file %s\n", e->d_name);
        files++;
        int n = snprintf(p, sizeof p, "%s/%s", t->path, e->d_name);
        assert_true(n > 0 && (size_t)n < sizeof p);
        unlink(p);
    }
    closedir(d);
    rmdir(t->path);
    assert_int_equal(files, keep ? 1 : 0);
}

static void expect_state_file(const char *path, int speed, const char *dir)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);

    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "speed")), speed);
    assert_string_equal(json_string_value(json_object_get(j, "direction")), dir);
    json_decref(j);
}

static void test_simulator_state_file(void **state)
{
    struct tmpdir t = {{0}};
    char file[128];
    struct motor *m = NULL;
    char err[128];
    json_t *config;

    tmpdir_make(&t);
    snprintf(file, sizeof file, "%s/motor.json", t.path);
    config = json_pack("{s:s, s:i}", "state_file", file, "motor_port", 1);
    assert_int_equal(motor_open("simulator", config, &m, err, sizeof err), 0);
    json_decref(config);
    expect_state_file(file, 0, "FORWARD");
    assert_int_equal(motor_set(m, 55, MOTOR_REVERSE), 0);
    expect_state_file(file, 55, "BACKWARD");
    assert_int_equal(motor_set(m, 56, MOTOR_REVERSE), 0);
    expect_state_file(file, 56, "BACKWARD");
    assert_int_equal(motor_stop(m), 0);
    expect_state_file(file, 0, "BACKWARD");
    assert_int_equal(motor_set(m, 20, MOTOR_FORWARD), 0);
    /* Closing stops the motor first. */
    motor_close(m);
    expect_state_file(file, 0, "FORWARD");
    tmpdir_remove(&t, "motor.json");
}

static void test_simulator_state_file_errors(void **state)
{
    struct motor *m = NULL;
    char err[256];
    json_t *config = json_pack("{s:i}", "state_file", 3);

    assert_int_equal(motor_open("simulator", config, &m, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "state_file"));
    json_decref(config);

    config = json_pack("{s:s}", "state_file", "");
    assert_int_equal(motor_open("simulator", config, &m, err, sizeof err), -EINVAL);
    json_decref(config);

    config = json_pack("{s:s}", "state_file", "/nonexistent-rh-dir/x/motor.json");
    assert_int_equal(motor_open("simulator", config, &m, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent-rh-dir/x/motor.json"));
    json_decref(config);
    assert_null(m);
}

/* ---- DC-motor HAT over the fake bus ---- */

static void chip_power_on(struct i2c_fake *f, uint8_t addr)
{
    i2c_fake_reg_set(f, addr, PCA9685_MODE1, 0x11);
    i2c_fake_reg_set(f, addr, PCA9685_MODE2, 0x04);
    i2c_fake_reg_set(f, addr, PCA9685_PRESCALE, 0x1E);
    for (unsigned c = 0; c < PCA9685_CHANNELS; c++)
        i2c_fake_reg_set(f, addr, reg_of(c, 3), 0x10);
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

    /* Every motor closed: the shared chip and its bus are gone. */
    assert_int_equal(i2c_fake_open_buses(f), 0);
    i2c_fake_free(f);
    return 0;
}

static struct motor *hat_open_port(int port, char *err, size_t errlen)
{
    struct motor *m = NULL;
    json_t *config = json_pack("{s:i}", "motor_port", port);
    int rc = motor_open("dc_motor_hat", config, &m, err, errlen);

    json_decref(config);
    assert_int_equal(rc, 0);
    return m;
}

/* Log entry i is a successful write of value to reg. */
static void expect_write(const struct i2c_fake *f, size_t i, uint8_t reg, uint8_t value)
{
    const struct i2c_fake_op *op = i2c_fake_op_at(f, i);

    assert_non_null(op);
    if (op->kind != I2C_FAKE_WRITE || op->reg != reg || op->data[0] != value)
        print_message("log entry %zu: kind %d reg 0x%02x value 0x%02x, expected 0x%02x=0x%02x\n", i,
                      op->kind, op->reg, op->data[0], reg, value);
    assert_int_equal(op->kind, I2C_FAKE_WRITE);
    assert_int_equal(op->failed, 0);
    assert_int_equal(op->addr, ADDR);
    assert_int_equal(op->len, 1);
    assert_int_equal(op->reg, reg);
    assert_int_equal(op->data[0], value);
}

/* Expected writes for one channel operation, appended at *i. */
static void expect_full_off(const struct i2c_fake *f, size_t *i, unsigned ch)
{
    expect_write(f, (*i)++, reg_of(ch, 3), 0x10);
}

static void expect_full_on(const struct i2c_fake *f, size_t *i, unsigned ch)
{
    expect_write(f, (*i)++, reg_of(ch, 0), 0x00);
    expect_write(f, (*i)++, reg_of(ch, 1), 0x10);
    expect_write(f, (*i)++, reg_of(ch, 2), 0x00);
    expect_write(f, (*i)++, reg_of(ch, 3), 0x00);
}

static void expect_pwm(const struct i2c_fake *f, size_t *i, unsigned ch, unsigned count)
{
    expect_write(f, (*i)++, reg_of(ch, 0), 0x00);
    expect_write(f, (*i)++, reg_of(ch, 1), 0x00);
    expect_write(f, (*i)++, reg_of(ch, 2), (uint8_t)(count & 0xff));
    expect_write(f, (*i)++, reg_of(ch, 3), (uint8_t)(count >> 8));
}

static void test_hat_open_default_config(void **state)
{
    struct i2c_fake *f = *state;
    struct motor *m = NULL;
    char err[128];
    size_t i = 0;

    assert_int_equal(motor_open("dc_motor_hat", NULL, &m, err, sizeof err), 0);
    assert_ptr_equal(m->ops, &motor_dc_motor_hat_ops);
    /* /dev/i2c-1, 0x6F, chip initialised, then M1: PWM off, forward (IN2 low, IN1 high). */
    assert_int_equal(i2c_fake_op_at(f, i)->kind, I2C_FAKE_OPEN);
    assert_int_equal(i2c_fake_op_at(f, i)->bus, 1);
    i++;
    assert_int_equal(i2c_fake_op_at(f, i++)->kind, I2C_FAKE_READ);
    assert_int_equal(i2c_fake_op_at(f, i++)->kind, I2C_FAKE_READ);
    expect_write(f, i++, PCA9685_MODE2, 0x04);
    expect_write(f, i++, PCA9685_MODE1, 0x11);
    expect_write(f, i++, PCA9685_PRESCALE, 0x03);
    expect_write(f, i++, PCA9685_MODE1, 0x01);
    assert_int_equal(i2c_fake_op_at(f, i)->kind, I2C_FAKE_SLEEP);
    assert_int_equal(i2c_fake_op_at(f, i++)->ms, 5);
    expect_write(f, i++, PCA9685_MODE1, 0x81);
    expect_full_off(f, &i, 8);
    expect_full_off(f, &i, 9);
    expect_full_on(f, &i, 10);
    assert_int_equal(i2c_fake_op_count(f), i);

    json_t *d = motor_describe(m);
    assert_string_equal(json_string_value(json_object_get(d, "plugin")), "dc_motor_hat");
    assert_int_equal(json_integer_value(json_object_get(d, "motor_port")), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "i2c_bus")), 1);
    assert_string_equal(json_string_value(json_object_get(d, "i2c_address")), "0x6f");
    assert_int_equal(json_integer_value(json_object_get(d, "speed")), 0);
    assert_string_equal(json_string_value(json_object_get(d, "direction")), "FORWARD");
    json_decref(d);
    motor_close(m);
}

static void test_hat_aliases(void **state)
{
    static const char *names[] = {"dc_motor_hat", "adafruit_dcmotor_hat", "dc_motor"};
    struct motor *m = NULL;
    char err[128];

    for (size_t n = 0; n < 3; n++) {
        m = NULL;
        assert_int_equal(motor_open(names[n], NULL, &m, err, sizeof err), 0);
        expect_describe(m, "dc_motor_hat", 0, "FORWARD");
        motor_close(m);
    }
}

static void test_hat_bus_and_address_config(void **state)
{
    struct i2c_fake *f = *state;
    static const char *good[] = {
        "{\"i2c_bus\": 3, \"i2c_address\": \"0x60\"}",
        "{\"i2c_bus\": 3, \"i2c_address\": 96}",
        "{\"i2c_bus\": \"3\", \"i2c_address\": \"96\", \"motor_port\": \"2\"}",
        "{\"i2c_bus\": 3, \"i2c_address\": \"0X60\", \"i2c_extra\": true}",
    };
    char err[128];

    chip_power_on(f, 0x60);
    for (size_t n = 0; n < sizeof good / sizeof good[0]; n++) {
        struct motor *m = NULL;
        json_t *config = json_loads(good[n], 0, NULL);
        assert_non_null(config);
        i2c_fake_log_clear(f);
        assert_int_equal(motor_open("dc_motor", config, &m, err, sizeof err), 0);
        json_decref(config);
        assert_int_equal(i2c_fake_op_at(f, 0)->kind, I2C_FAKE_OPEN);
        assert_int_equal(i2c_fake_op_at(f, 0)->bus, 3);
        for (size_t i = 1; i < i2c_fake_op_count(f); i++) {
            const struct i2c_fake_op *op = i2c_fake_op_at(f, i);
            if (op->kind == I2C_FAKE_WRITE || op->kind == I2C_FAKE_READ)
                assert_int_equal(op->addr, 0x60);
        }
        motor_close(m);
    }
}

static void test_hat_bad_config(void **state)
{
    static const struct {
        const char *json;
        const char *key;
    } bad[] = {
        {"{\"motor_port\": 0}", "motor_port"},
        {"{\"motor_port\": 5}", "motor_port"},
        {"{\"motor_port\": -1}", "motor_port"},
        {"{\"motor_port\": \"M1\"}", "motor_port"},
        {"{\"motor_port\": 1.5}", "motor_port"},
        {"{\"motor_port\": true}", "motor_port"},
        {"{\"motor_port\": \" 1\"}", "motor_port"},
        {"{\"motor_port\": \"\"}", "motor_port"},
        {"{\"i2c_address\": \"0xZZ\"}", "i2c_address"},
        {"{\"i2c_address\": \"0x\"}", "i2c_address"},
        {"{\"i2c_address\": \"-5\"}", "i2c_address"},
        {"{\"i2c_address\": 128}", "i2c_address"},
        {"{\"i2c_address\": \"0x6F0\"}", "i2c_address"},
        {"{\"i2c_address\": 2}", "i2c_address"},
        {"{\"i2c_bus\": -1}", "i2c_bus"},
        {"{\"i2c_bus\": \"one\"}", "i2c_bus"},
        {"{\"i2c_bus\": 99999999999}", "i2c_bus"},
    };
    struct i2c_fake *f = *state;

    for (size_t n = 0; n < sizeof bad / sizeof bad[0]; n++) {
        struct motor *m = NULL;
        char err[128] = "";
        json_t *config = json_loads(bad[n].json, 0, NULL);
        assert_non_null(config);
        assert_int_equal(motor_open("dc_motor_hat", config, &m, err, sizeof err), -EINVAL);
        json_decref(config);
        assert_null(m);
        if (!strstr(err, bad[n].key))
            print_message("config %s: message '%s'\n", bad[n].json, err);
        assert_non_null(strstr(err, bad[n].key));
    }
    /* Rejected before the bus is even opened. */
    assert_int_equal(i2c_fake_op_count(f), 0);
}

static void test_hat_bus_unavailable(void **state)
{
    struct i2c_fake *f = *state;
    struct motor *m = NULL;
    char err[128];

    i2c_fake_fail_open(f, -ENOENT);
    assert_int_equal(motor_open("dc_motor_hat", NULL, &m, err, sizeof err), -ENODEV);
    assert_null(m);
    assert_non_null(strstr(err, "/dev/i2c-1"));
    i2c_fake_fail_open(f, 0);
}

static void test_hat_chip_not_answering(void **state)
{
    struct i2c_fake *f = *state;
    struct motor *m = NULL;
    char err[128];

    i2c_fake_fail_reads(f, 100, -EREMOTEIO);
    assert_int_equal(motor_open("dc_motor_hat", NULL, &m, err, sizeof err), -EIO);
    assert_null(m);
    assert_non_null(strstr(err, "0x6f"));
    i2c_fake_fail_reads(f, 0, 0);
}

/* Speed and direction on every port: exact writes, all on that port's channels. */
static void test_hat_set_each_port(void **state)
{
    struct i2c_fake *f = *state;
    char err[128];

    for (int port = 1; port <= 4; port++) {
        const unsigned pwm = port_ch[port - 1][0];
        const unsigned in2 = port_ch[port - 1][1];
        const unsigned in1 = port_ch[port - 1][2];
        struct motor *m = hat_open_port(port, err, sizeof err);
        size_t i = 0;

        i2c_fake_log_clear(f);
        assert_int_equal(motor_set(m, 50, MOTOR_FORWARD), 0);
        expect_pwm(f, &i, pwm, 2047); /* 50 * 4095 / 100 */
        assert_int_equal(i2c_fake_op_count(f), i);

        /* Reversal: power off, IN1 low, IN2 high, then power. */
        assert_int_equal(motor_set(m, 50, MOTOR_REVERSE), 0);
        expect_full_off(f, &i, pwm);
        expect_full_off(f, &i, in1);
        expect_full_on(f, &i, in2);
        expect_pwm(f, &i, pwm, 2047);
        assert_int_equal(i2c_fake_op_count(f), i);

        /* Same direction: only the PWM channel is written. */
        assert_int_equal(motor_set(m, 100, MOTOR_REVERSE), 0);
        expect_pwm(f, &i, pwm, 4095);
        assert_int_equal(motor_set(m, 1, MOTOR_REVERSE), 0);
        expect_pwm(f, &i, pwm, 40);
        assert_int_equal(motor_set(m, 0, MOTOR_REVERSE), 0);
        expect_full_off(f, &i, pwm);
        assert_int_equal(i2c_fake_op_count(f), i);

        /* At rest, back to forward: no power write before the pins, none after for speed 0. */
        assert_int_equal(motor_set(m, 0, MOTOR_FORWARD), 0);
        expect_full_off(f, &i, in2);
        expect_full_on(f, &i, in1);
        assert_int_equal(i2c_fake_op_count(f), i);

        /* Stop: one write, PWM full off, pins unchanged. */
        assert_int_equal(motor_set(m, 70, MOTOR_FORWARD), 0);
        expect_pwm(f, &i, pwm, 2866);
        assert_int_equal(motor_stop(m), 0);
        expect_full_off(f, &i, pwm);
        assert_int_equal(i2c_fake_op_count(f), i);
        assert_int_equal(i2c_fake_reg(f, ADDR, reg_of(in1, 1)), 0x10);

        /* Close stops first (one more full-off) and then closes the bus. */
        motor_close(m);
        expect_full_off(f, &i, pwm);
        assert_int_equal(i2c_fake_op_at(f, i++)->kind, I2C_FAKE_CLOSE);
        assert_int_equal(i2c_fake_op_count(f), i);
    }
}

static int channel_of_reg(uint8_t reg)
{
    if (reg < 0x06 || reg > 0x45)
        return -1;
    return (reg - 0x06) / 4;
}

/* The earlier system zeroed every channel at start: opening one motor must not touch the others. */
static void test_hat_open_m3_touches_only_m3(void **state)
{
    struct i2c_fake *f = *state;
    struct motor *m = NULL;
    char err[128];
    int writes_m3 = 0;

    m = hat_open_port(3, err, sizeof err);
    assert_int_equal(motor_set(m, 80, MOTOR_REVERSE), 0);
    assert_int_equal(motor_set(m, 30, MOTOR_FORWARD), 0);
    motor_close(m);
    for (size_t i = 0; i < i2c_fake_op_count(f); i++) {
        const struct i2c_fake_op *op = i2c_fake_op_at(f, i);
        if (op->kind != I2C_FAKE_WRITE)
            continue;
        int ch = channel_of_reg(op->reg);
        if (ch < 0) {
            /* Only the mode and prescale registers; never ALL_LED (0xFA-0xFD). */
            assert_true(op->reg == PCA9685_MODE1 || op->reg == PCA9685_MODE2 ||
                        op->reg == PCA9685_PRESCALE);
        } else {
            if (ch != 2 && ch != 3 && ch != 4)
                print_message("write to channel %d (reg 0x%02x)\n", ch, op->reg);
            assert_true(ch == 2 || ch == 3 || ch == 4);
            writes_m3++;
        }
    }
    assert_true(writes_m3 > 0);
    /* Every other channel is still full off as at power-on. */
    for (unsigned ch = 0; ch < PCA9685_CHANNELS; ch++) {
        if (ch >= 2 && ch <= 4)
            continue;
        assert_int_equal(i2c_fake_reg(f, ADDR, reg_of(ch, 3)), 0x10);
    }
}

/* Several motors on one HAT share one chip, initialised once; a second process finding the
 * chip running leaves MODE1/PRESCALE alone (checked through a fresh acquire after close). */
static void test_hat_motors_share_chip(void **state)
{
    struct i2c_fake *f = *state;
    struct motor *m1 = NULL, *m2 = NULL, *m4 = NULL, *again = NULL;
    char err[128];
    int opens = 0, prescale_writes = 0;

    m1 = hat_open_port(1, err, sizeof err);
    assert_int_equal(motor_set(m1, 60, MOTOR_FORWARD), 0);
    m2 = hat_open_port(2, err, sizeof err);
    m4 = hat_open_port(4, err, sizeof err);
    for (size_t i = 0; i < i2c_fake_op_count(f); i++) {
        const struct i2c_fake_op *op = i2c_fake_op_at(f, i);
        opens += op->kind == I2C_FAKE_OPEN;
        prescale_writes += op->kind == I2C_FAKE_WRITE && op->reg == PCA9685_PRESCALE;
    }
    assert_int_equal(opens, 1);
    assert_int_equal(prescale_writes, 1);
    /* M1 still runs at 60 after M2 and M4 were opened. */
    assert_int_equal(i2c_fake_reg(f, ADDR, reg_of(8, 2)), 2457 & 0xff);
    assert_int_equal(i2c_fake_reg(f, ADDR, reg_of(8, 3)), 2457 >> 8);

    /* One port, one motor object. */
    json_t *config = json_pack("{s:i}", "motor_port", 2);
    assert_int_equal(motor_open("dc_motor_hat", config, &again, err, sizeof err), -EBUSY);
    assert_null(again);
    assert_non_null(strstr(err, "motor_port 2"));
    motor_close(m2);
    assert_int_equal(motor_open("dc_motor_hat", config, &again, err, sizeof err), 0);
    json_decref(config);

    motor_close(m1);
    motor_close(m4);
    assert_int_equal(i2c_fake_open_buses(f), 1);
    motor_close(again);
    assert_int_equal(i2c_fake_open_buses(f), 0);

    /* Like a second process: the chip is awake at 1600 Hz, so no mode or prescale write. */
    i2c_fake_log_clear(f);
    m1 = hat_open_port(1, err, sizeof err);
    for (size_t i = 0; i < i2c_fake_op_count(f); i++) {
        const struct i2c_fake_op *op = i2c_fake_op_at(f, i);
        if (op->kind == I2C_FAKE_WRITE)
            assert_int_not_equal(channel_of_reg(op->reg), -1);
    }
    motor_close(m1);
}

static void test_hat_write_failure(void **state)
{
    struct i2c_fake *f = *state;
    struct motor *m = NULL;
    char err[128];
    size_t i;

    m = hat_open_port(1, err, sizeof err);
    i2c_fake_log_clear(f);
    i2c_fake_fail_writes(f, 4, -EREMOTEIO);
    assert_int_equal(motor_set(m, 50, MOTOR_FORWARD), -EIO);
    json_t *d = motor_describe(m);
    assert_true(json_is_null(json_object_get(d, "speed")));
    json_decref(d);

    /* The power state is unknown now, so a reversal cuts power before switching. */
    i2c_fake_log_clear(f);
    assert_int_equal(motor_set(m, 20, MOTOR_REVERSE), 0);
    i = 0;
    expect_full_off(f, &i, 8);
    expect_full_off(f, &i, 10);
    expect_full_on(f, &i, 9);
    expect_pwm(f, &i, 8, 819);
    assert_int_equal(i2c_fake_op_count(f), i);

    /* A stop that fails is reported. */
    i2c_fake_fail_writes(f, 4, -EIO);
    assert_int_equal(motor_stop(m), -EIO);
    i2c_fake_fail_writes(f, 0, 0);
    motor_close(m);
}

static void test_hat_open_write_failure(void **state)
{
    struct i2c_fake *f = *state;
    struct motor *m = NULL;
    char err[128];

    /* Chip already running (no init writes): the first channel write of the open fails. */
    i2c_fake_reg_set(f, ADDR, PCA9685_MODE1, 0x01);
    i2c_fake_reg_set(f, ADDR, PCA9685_PRESCALE, 3);
    i2c_fake_fail_writes(f, 4, -EIO);
    assert_int_equal(motor_open("dc_motor_hat", NULL, &m, err, sizeof err), -EIO);
    assert_null(m);
    assert_non_null(strstr(err, "motor_port 1"));
    /* The port is free again afterwards. */
    m = hat_open_port(1, err, sizeof err);
    motor_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_names_and_aliases),
        cmocka_unit_test(test_open_unknown_plugin),
        cmocka_unit_test(test_open_config_not_object),
        cmocka_unit_test(test_null_motor),
        cmocka_unit_test(test_direction_names),
        cmocka_unit_test(test_simulator_basic),
        cmocka_unit_test(test_simulator_state_file),
        cmocka_unit_test(test_simulator_state_file_errors),
        cmocka_unit_test_setup_teardown(test_hat_open_default_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hat_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hat_bus_and_address_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hat_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hat_bus_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hat_chip_not_answering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hat_set_each_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hat_open_m3_touches_only_m3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hat_motors_share_chip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hat_write_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hat_open_write_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
