/* The controller's session epoch across restarts (session.json): every process start takes
 * the next one, a corrupt or foreign file never yields an epoch, and the will is re-armed
 * exactly when the central's answer differs from the armed one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "epoch.h"
#include "fileio.h"

#define NOW 1795000000000LL
#define UUID "0b8a3f6e-4a59-4c1e-9d2b-1f6c2f3e4a5b"
#define OTHER "1c9b4f7e-5b6a-4d2f-8e3c-2a7d3f4b5c6d"

static char dir[64];

static int dir_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rh-edge-epoch-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static void path_of(char *p, size_t n)
{
    snprintf(p, n, "%s/%s", dir, EPOCH_FILE);
}

static int dir_teardown(void **state)
{
    (void)state;
    char p[128];
    path_of(p, sizeof p);
    unlink(p);
    return rmdir(dir);
}

static char *file_text(size_t *len)
{
    char p[128];
    char *text = NULL;
    path_of(p, sizeof p);
    assert_int_equal(fileio_read_all(p, EPOCH_FILE_MAX, &text, len), 0);
    return text;
}

static void test_next_and_rearm(void **state)
{
    (void)state;
    assert_true(epoch_next(0) == 1);
    assert_true(epoch_next(-5) == 1);
    assert_true(epoch_next(1) == 2);
    assert_true(epoch_next(41) == 42);
    assert_true(epoch_next(EPOCH_MAX) == EPOCH_MAX);
    /* Booted from the cache with epoch 5 in the will; the central answers 6 (it had adopted
     * 5 from the birth already): the will must change, or a crash would go unnoticed. */
    assert_true(epoch_rearm_needed(5, 6));
    assert_false(epoch_rearm_needed(5, 5));
    assert_true(epoch_rearm_needed(-1, 3)); /* nothing armed yet */
    assert_false(epoch_rearm_needed(5, 0)); /* no epoch in the answer */
}

static void test_load_save(void **state)
{
    (void)state;
    int64_t e = -1;
    char p[128];
    path_of(p, sizeof p);
    unlink(p);
    assert_int_equal(epoch_load(dir, UUID, &e), -ENOENT);
    assert_true(e == -1);
    assert_int_equal(epoch_save(dir, UUID, 7, NOW), 0);
    assert_int_equal(epoch_load(dir, UUID, &e), 0);
    assert_true(e == 7);
    /* Another controller's epoch (a copied state directory) does not count. */
    assert_int_equal(epoch_load(dir, OTHER, &e), -EINVAL);
    /* Overwritten atomically with a higher one. */
    assert_int_equal(epoch_save(dir, UUID, 8, NOW + 1), 0);
    assert_int_equal(epoch_load(dir, UUID, &e), 0);
    assert_true(e == 8);
    assert_int_equal(epoch_save(dir, "nope", 1, NOW), -EINVAL);
    assert_int_equal(epoch_save(dir, UUID, -1, NOW), -EINVAL);
}

static void test_corruption(void **state)
{
    (void)state;
    size_t len = 0;
    int64_t e = 0;
    assert_int_equal(epoch_save(dir, UUID, 12, NOW), 0);
    char *text = file_text(&len);
    assert_int_equal(epoch_parse(text, len, UUID, &e), 0);
    assert_true(e == 12);
    /* Every prefix and every flipped byte is refused, never a wrong epoch. */
    for (size_t n = 0; n < len; n++) {
        int64_t got = -1;
        if (epoch_parse(text, n, UUID, &got) == 0)
            assert_true(got == 12); /* only trailing whitespace may be cut */
    }
    for (size_t i = 0; i < len; i++) {
        int64_t got = -1;
        text[i] ^= 0x01;
        if (epoch_parse(text, len, UUID, &got) == 0)
            assert_true(got == 12);
        text[i] ^= 0x01;
    }
    free(text);
    /* A hand-edited epoch without a matching checksum is not trusted. */
    const char *forged = "{\"checksum\":\"sha256:00\",\"format\":1,\"session_epoch\":99,"
                         "\"uuid\":\"" UUID "\"}";
    assert_int_equal(epoch_parse(forged, strlen(forged), UUID, &e), -EINVAL);
    assert_int_equal(epoch_parse("", 0, UUID, &e), -EINVAL);
    assert_int_equal(epoch_parse("[]", 2, UUID, &e), -EINVAL);
    assert_int_equal(epoch_parse("{}", 2, NULL, &e), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_and_rearm),
        cmocka_unit_test(test_load_save),
        cmocka_unit_test(test_corruption),
    };
    return cmocka_run_group_tests(tests, dir_setup, dir_teardown);
}
