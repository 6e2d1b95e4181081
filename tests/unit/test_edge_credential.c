/* The controller secret in the state directory (credential.json): survives a reload, is
 * written with mode 0600, belongs to one UUID, and a corrupt or unreadable file is reported
 * as such rather than failing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "credential.h"
#include "fileio.h"

#define NOW 1795000000000LL
#define UUID "0b8a3f6e-4a59-4c1e-9d2b-1f6c2f3e4a5b"
#define OTHER "1c9b4f7e-5b6a-4d2f-8e3c-2a7d3f4b5c6d"

static char dir[64];

static int dir_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rh-edge-cred-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static void path_of(char *p, size_t n)
{
    snprintf(p, n, "%s/%s", dir, CREDENTIAL_FILE);
}

static int dir_teardown(void **state)
{
    (void)state;
    char p[128];
    path_of(p, sizeof p);
    unlink(p);
    return rmdir(dir);
}

static void test_missing_then_saved(void **state)
{
    (void)state;
    char p[128], secret[SECRET_HEX_LEN + 1], got[SECRET_HEX_LEN + 1], why[512];
    path_of(p, sizeof p);
    unlink(p);
    assert_int_equal(credential_load(dir, UUID, got, why, sizeof why), CREDENTIAL_NONE);
    assert_string_equal(got, "");
    assert_int_equal(secret_generate(secret), 0);
    assert_int_equal(credential_save(dir, UUID, secret, NOW), 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(credential_load(dir, UUID, got, why, sizeof why), CREDENTIAL_LOADED);
    assert_string_equal(got, secret);
    /* Another identity's secret is not ours. */
    assert_int_equal(credential_load(dir, OTHER, got, why, sizeof why), CREDENTIAL_NONE);
    assert_string_equal(got, "");
    assert_non_null(strstr(why, UUID));
    /* Nothing malformed is written. */
    assert_int_equal(credential_save(dir, UUID, "short", NOW), -EINVAL);
    assert_int_equal(credential_save(dir, "not-a-uuid", secret, NOW), -EINVAL);
}

static void test_corrupt(void **state)
{
    (void)state;
    char p[128], secret[SECRET_HEX_LEN + 1], got[SECRET_HEX_LEN + 1], why[512];
    path_of(p, sizeof p);
    assert_int_equal(secret_generate(secret), 0);
    assert_int_equal(credential_save(dir, UUID, secret, NOW), 0);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(fileio_read_all(p, CREDENTIAL_FILE_MAX, &text, &len), 0);
    /* One digit of the secret changed: the checksum no longer matches. */
    char *s = strstr(text, secret);
    assert_non_null(s);
    s[0] = s[0] == 'a' ? 'b' : 'a';
    assert_int_equal(fileio_write_atomic(p, text, len, 0600), 0);
    free(text);
    assert_int_equal(credential_load(dir, UUID, got, why, sizeof why), CREDENTIAL_INVALID);
    assert_string_equal(got, "");
    assert_non_null(strstr(why, "corrupt"));
    assert_int_equal(fileio_write_atomic(p, "{", 1, 0600), 0);
    assert_int_equal(credential_load(dir, UUID, got, why, sizeof why), CREDENTIAL_INVALID);
    char u[UUIDSTR_LEN + 1];
    assert_int_equal(credential_parse("", 0, u, got), -EINVAL);
    assert_int_equal(credential_parse("[]", 2, u, got), -EINVAL);
    unlink(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_then_saved),
        cmocka_unit_test(test_corrupt),
    };
    return cmocka_run_group_tests(tests, dir_setup, dir_teardown);
}
