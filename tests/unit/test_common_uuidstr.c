/* UUID strings: strict validation, normalisation of user input, generation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "uuidstr.h"

#define GOOD "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"

static void test_valid(void **state)
{
    assert_true(uuidstr_valid(GOOD));
    assert_true(uuidstr_valid("00000000-0000-0000-0000-000000000000"));
    assert_true(uuidstr_valid("ffffffff-ffff-ffff-ffff-ffffffffffff"));
}

static void test_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "6F1C2A9E-3B4D-4E5F-8A7B-9C0D1E2F3A4B", /* upper case is not canonical */
        "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3A4b",
        "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4",   /* 35 */
        "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b0", /* 37 */
        "6f1c2a9e3b4d4e5f8a7b9c0d1e2f3a4b",      /* no dashes */
        "6f1c2a9e3-b4d-4e5f-8a7b-9c0d1e2f3a4b",  /* dash moved right */
        "6f1c2a9-e3b4d-4e5f-8a7b-9c0d1e2f3a4b",  /* dash moved left */
        "6f1c2a9e-3b4d-4e5f-8a7b9c0d1e2f3a-4b",
        "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4g", /* not hex */
        "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4 ",
        " 6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b",
        "{6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4}",
        "6f1c2a9e_3b4d_4e5f_8a7b_9c0d1e2f3a4b",
        "------------------------------------",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (uuidstr_valid(bad[i]))
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_false(uuidstr_valid(NULL));
}

static void check_normalize(const char *in, const char *expected)
{
    char out[UUIDSTR_LEN + 1];
    memset(out, 'x', sizeof out);
    assert_int_equal(uuidstr_normalize(in, out), 0);
    assert_string_equal(out, expected);
}

static void test_normalize(void **state)
{
    check_normalize(GOOD, GOOD);
    check_normalize("6F1C2A9E-3B4D-4E5F-8A7B-9C0D1E2F3A4B", GOOD);
    check_normalize("6f1C2a9E-3B4d-4E5f-8A7b-9C0d1E2f3A4b", GOOD);
    check_normalize("  \t6F1C2A9E-3B4D-4E5F-8A7B-9C0D1E2F3A4B\r\n ", GOOD);
    check_normalize("\n" GOOD, GOOD);
}

static void test_normalize_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "   ",
        "6F1C2A9E-3B4D-4E5F-8A7B-9C0D1E2F3A4",
        "6F1C2A9E-3B4D-4E5F-8A7B-9C0D1E2F3A4BB",
        "6F1C2A9E3B4D4E5F8A7B9C0D1E2F3A4B",
        "6F1C2A9E-3B4D-4E5F-8A7B9-C0D1E2F3A4B",
        "6F1C2A9E-3B4D-4E5F-8A7B-9C0D1E2F3A4G",
        "6F1C2A9E-3B4D-4E5F-8A7B-9C0D 1E2F3A4",
        "{6F1C2A9E-3B4D-4E5F-8A7B-9C0D1E2F3A4B}",
        "urn:uuid:6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[UUIDSTR_LEN + 1] = "untouched";
        if (uuidstr_normalize(bad[i], out) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_string_equal(out, "untouched");
    }
    char out[UUIDSTR_LEN + 1] = "untouched";
    assert_int_equal(uuidstr_normalize(NULL, out), -EINVAL);
    assert_string_equal(out, "untouched");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_generate(void **state)
{
    enum { N = 1000 };
    char(*ids)[UUIDSTR_LEN + 1] = calloc(N, sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < N; i++) {
        uuidstr_generate(ids[i]);
        if (!uuidstr_valid(ids[i]))
            fail_msg("generated invalid \"%s\"", ids[i]);
        assert_int_equal(ids[i][14], '4'); /* version 4 (random) */
        assert_non_null(strchr("89ab", ids[i][19]));
    }
    qsort(ids, N, sizeof *ids, cmp_str);
    for (size_t i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),     cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_normalize), cmocka_unit_test(test_normalize_rejects),
        cmocka_unit_test(test_generate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
