/* I2C bus: the Linux i2c-dev implementation and the recording fake used by the unit tests. */
#include "plugins/i2c_bus.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/i2c-dev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

struct i2c_bus {
    const struct i2c_bus_ops *ops;
    void *ctx;
    int number;
};

static i2c_bus_opener_fn bus_opener;
static void *bus_opener_arg;

int i2c_bus_new(const struct i2c_bus_ops *ops, void *ctx, int number, struct i2c_bus **out)
{
    struct i2c_bus *bus;

    if (!ops || !ops->write || !ops->read_reg || !ops->sleep_ms || !out)
        return -EINVAL;
    bus = calloc(1, sizeof *bus);
    if (!bus)
        return -ENOMEM;
    bus->ops = ops;
    bus->ctx = ctx;
    bus->number = number;
    *out = bus;
    return 0;
}

void i2c_bus_free(struct i2c_bus *bus)
{
    if (!bus)
        return;
    if (bus->ops->close)
        bus->ops->close(bus->ctx);
    free(bus);
}

int i2c_bus_number(const struct i2c_bus *bus)
{
    return bus->number;
}

int i2c_bus_write(struct i2c_bus *bus, uint8_t addr, const uint8_t *data, size_t len)
{
    return bus->ops->write(bus->ctx, addr, data, len);
}

int i2c_bus_read_reg(struct i2c_bus *bus, uint8_t addr, uint8_t reg, uint8_t *data, size_t len)
{
    return bus->ops->read_reg(bus->ctx, addr, reg, data, len);
}

void i2c_bus_sleep_ms(struct i2c_bus *bus, unsigned ms)
{
    bus->ops->sleep_ms(bus->ctx, ms);
}

void i2c_bus_set_opener(i2c_bus_opener_fn opener, void *arg)
{
    bus_opener = opener;
    bus_opener_arg = arg;
}

/* ---- Linux i2c-dev ---- */

struct dev_bus {
    int fd;
    int slave; /* address last selected with I2C_SLAVE, -1 none */
};

static int dev_select(struct dev_bus *d, uint8_t addr)
{
    if (d->slave == addr)
        return 0;
    /* I2C_SLAVE, not I2C_SLAVE_FORCE: if a kernel driver owns the address, failing (EBUSY)
     * is better than fighting it. */
    if (ioctl(d->fd, I2C_SLAVE, (unsigned long)addr) < 0)
        return -errno;
    d->slave = addr;
    return 0;
}

static int dev_write(void *ctx, uint8_t addr, const uint8_t *data, size_t len)
{
    struct dev_bus *d = ctx;
    ssize_t n;
    int rc = dev_select(d, addr);

    if (rc < 0)
        return rc;
    do {
        n = write(d->fd, data, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

static int dev_read_reg(void *ctx, uint8_t addr, uint8_t reg, uint8_t *data, size_t len)
{
    struct dev_bus *d = ctx;
    ssize_t n;
    int rc = dev_write(ctx, addr, &reg, 1);

    if (rc < 0)
        return rc;
    do {
        n = read(d->fd, data, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

static void dev_sleep_ms(void *ctx, unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void dev_close(void *ctx)
{
    struct dev_bus *d = ctx;

    close(d->fd);
    free(d);
}

static const struct i2c_bus_ops dev_ops = {
    .write = dev_write,
    .read_reg = dev_read_reg,
    .sleep_ms = dev_sleep_ms,
    .close = dev_close,
};

int i2c_bus_open(int number, struct i2c_bus **out)
{
    char path[32];
    struct dev_bus *d = NULL;
    int n;
    int rc;

    if (number < 0 || !out)
        return -EINVAL;
    if (bus_opener)
        return bus_opener(number, out, bus_opener_arg);

    n = snprintf(path, sizeof path, "/dev/i2c-%d", number);
    if (n < 0 || (size_t)n >= sizeof path)
        return -EINVAL;
    d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->slave = -1;
    d->fd = open(path, O_RDWR | O_CLOEXEC);
    if (d->fd < 0) {
        rc = -errno;
        free(d);
        return rc;
    }
    rc = i2c_bus_new(&dev_ops, d, number, out);
    if (rc < 0)
        dev_close(d);
    return rc;
}

/* ---- Recording fake ---- */

struct i2c_fake {
    uint8_t regs[128][256];
    struct i2c_fake_op *ops;
    size_t nops;
    size_t cap;
    unsigned fail_writes;
    int fail_write_err;
    unsigned fail_reads;
    int fail_read_err;
    int fail_open_err;
    int open_buses;
};

struct fake_bus {
    struct i2c_fake *fake;
    int number;
};

static void fake_log(struct i2c_fake *f, const struct i2c_fake_op *op)
{
    if (f->nops == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        struct i2c_fake_op *p = realloc(f->ops, cap * sizeof *p);
        /* A test fake out of memory: losing log entries makes the test fail visibly. */
        if (!p)
            return;
        f->ops = p;
        f->cap = cap;
    }
    f->ops[f->nops++] = *op;
}

static int fake_write(void *ctx, uint8_t addr, const uint8_t *data, size_t len)
{
    struct fake_bus *b = ctx;
    struct i2c_fake *f = b->fake;
    struct i2c_fake_op op = {.kind = I2C_FAKE_WRITE, .bus = b->number, .addr = addr};

    if (len == 0 || addr > 0x7f)
        return -EINVAL;
    op.reg = data[0];
    op.len = len - 1 < I2C_FAKE_MAX_DATA ? len - 1 : I2C_FAKE_MAX_DATA;
    memcpy(op.data, data + 1, op.len);
    if (f->fail_writes > 0) {
        f->fail_writes--;
        op.failed = 1;
        fake_log(f, &op);
        return f->fail_write_err;
    }
    for (size_t i = 1; i < len; i++)
        f->regs[addr][(uint8_t)(data[0] + i - 1)] = data[i];
    fake_log(f, &op);
    return 0;
}

static int fake_read_reg(void *ctx, uint8_t addr, uint8_t reg, uint8_t *data, size_t len)
{
    struct fake_bus *b = ctx;
    struct i2c_fake *f = b->fake;
    struct i2c_fake_op op = {
        .kind = I2C_FAKE_READ, .bus = b->number, .addr = addr, .reg = reg, .len = len};

    if (addr > 0x7f)
        return -EINVAL;
    if (f->fail_reads > 0) {
        f->fail_reads--;
        op.failed = 1;
        fake_log(f, &op);
        return f->fail_read_err;
    }
    for (size_t i = 0; i < len; i++)
        data[i] = f->regs[addr][(uint8_t)(reg + i)];
    fake_log(f, &op);
    return 0;
}

static void fake_sleep_ms(void *ctx, unsigned ms)
{
    struct fake_bus *b = ctx;
    struct i2c_fake_op op = {.kind = I2C_FAKE_SLEEP, .bus = b->number, .ms = ms};

    fake_log(b->fake, &op);
}

static void fake_close(void *ctx)
{
    struct fake_bus *b = ctx;
    struct i2c_fake_op op = {.kind = I2C_FAKE_CLOSE, .bus = b->number};

    fake_log(b->fake, &op);
    b->fake->open_buses--;
    free(b);
}

static const struct i2c_bus_ops fake_ops = {
    .write = fake_write,
    .read_reg = fake_read_reg,
    .sleep_ms = fake_sleep_ms,
    .close = fake_close,
};

static int fake_open(int number, struct i2c_bus **out, void *arg)
{
    struct i2c_fake *f = arg;
    struct fake_bus *b;
    struct i2c_fake_op op = {.kind = I2C_FAKE_OPEN, .bus = number};
    int rc;

    if (f->fail_open_err != 0)
        return f->fail_open_err;
    b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->fake = f;
    b->number = number;
    rc = i2c_bus_new(&fake_ops, b, number, out);
    if (rc < 0) {
        free(b);
        return rc;
    }
    f->open_buses++;
    fake_log(f, &op);
    return 0;
}

struct i2c_fake *i2c_fake_new(void)
{
    return calloc(1, sizeof(struct i2c_fake));
}

void i2c_fake_free(struct i2c_fake *f)
{
    if (!f)
        return;
    if (bus_opener == fake_open && bus_opener_arg == f)
        i2c_bus_set_opener(NULL, NULL);
    free(f->ops);
    free(f);
}

void i2c_fake_install(struct i2c_fake *f)
{
    i2c_bus_set_opener(fake_open, f);
}

void i2c_fake_fail_writes(struct i2c_fake *f, unsigned n, int err)
{
    f->fail_writes = n;
    f->fail_write_err = err < 0 ? err : -EIO;
}

void i2c_fake_fail_reads(struct i2c_fake *f, unsigned n, int err)
{
    f->fail_reads = n;
    f->fail_read_err = err < 0 ? err : -EIO;
}

void i2c_fake_fail_open(struct i2c_fake *f, int err)
{
    f->fail_open_err = err;
}

uint8_t i2c_fake_reg(const struct i2c_fake *f, uint8_t addr, uint8_t reg)
{
    return f->regs[addr & 0x7f][reg];
}

void i2c_fake_reg_set(struct i2c_fake *f, uint8_t addr, uint8_t reg, uint8_t value)
{
    f->regs[addr & 0x7f][reg] = value;
}

size_t i2c_fake_op_count(const struct i2c_fake *f)
{
    return f->nops;
}

const struct i2c_fake_op *i2c_fake_op_at(const struct i2c_fake *f, size_t i)
{
    return i < f->nops ? &f->ops[i] : NULL;
}

void i2c_fake_log_clear(struct i2c_fake *f)
{
    f->nops = 0;
}

int i2c_fake_open_buses(const struct i2c_fake *f)
{
    return f->open_buses;
}
