/* Atomic writes, bounded whole-file reads and mkdir -p, each test in its own temp directory. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"

struct tmp {
    char dir[64];
    mode_t old_umask;
};

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d != NULL) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char child[PATH_MAX];
                snprintf(child, sizeof child, "%s/%s", path, e->d_name);
                rm_rf(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int setup(void **state)
{
    struct tmp *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/rh-test-fileio-XXXXXX");
    if (mkdtemp(t->dir) == NULL) {
        free(t);
        return -1;
    }
    /* A known umask so that created modes are predictable. */
    t->old_umask = umask(022);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tmp *t = *state;
    umask(t->old_umask);
    rm_rf(t->dir);
    free(t);
    return 0;
}

static const char *path_in(const struct tmp *t, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", t->dir, name);
    return buf;
}

static size_t count_entries(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

static void write_plain(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void assert_content(const char *path, const void *data, size_t len)
{
    char *buf = NULL;
    size_t got = 0;
    assert_int_equal(fileio_read_all(path, 1 << 20, &buf, &got), 0);
    assert_int_equal(got, len);
    assert_memory_equal(buf, data, len);
    assert_int_equal(buf[len], '\0');
    free(buf);
}

static void test_write_atomic_replaces(void **state)
{
    struct tmp *t = *state;
    char p[PATH_MAX];
    path_in(t, "cache.json", p, sizeof p);

    assert_int_equal(fileio_write_atomic(p, "first version", 13, 0644), 0);
    assert_content(p, "first version", 13);
    assert_int_equal(fileio_write_atomic(p, "second, longer version", 22, 0644), 0);
    assert_content(p, "second, longer version", 22);
    /* Shorter content leaves nothing of the old file behind. */
    assert_int_equal(fileio_write_atomic(p, "x", 1, 0644), 0);
    assert_content(p, "x", 1);
    assert_int_equal(fileio_write_atomic(p, "", 0, 0644), 0);
    assert_content(p, "", 0);
    static const char bin[] = {'a', '\0', 'b', '\n', '\xff', '\0'};
    assert_int_equal(fileio_write_atomic(p, bin, sizeof bin, 0644), 0);
    assert_content(p, bin, sizeof bin);

    assert_int_equal(count_entries(t->dir), 1); /* no temp file left */
}

static void test_write_atomic_mode(void **state)
{
    struct tmp *t = *state;
    char p[PATH_MAX], q[PATH_MAX];
    struct stat st;
    path_in(t, "secret", p, sizeof p);
    assert_int_equal(fileio_write_atomic(p, "k", 1, 0600), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    path_in(t, "shared", q, sizeof q);
    assert_int_equal(fileio_write_atomic(q, "k", 1, 0640), 0);
    assert_int_equal(stat(q, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);

    /* Replacing a file gives the new file the requested mode, not the old one. */
    write_plain(p, "old", 3);
    assert_int_equal(chmod(p, 0666), 0);
    assert_int_equal(fileio_write_atomic(p, "new", 3, 0600), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(count_entries(t->dir), 2);
}

static void test_write_atomic_failures(void **state)
{
    struct tmp *t = *state;
    char p[PATH_MAX];
    assert_int_equal(fileio_write_atomic(path_in(t, "missing/f", p, sizeof p), "x", 1, 0644),
                     -ENOENT);
    assert_int_equal(count_entries(t->dir), 0);

    /* rename() onto a non-empty directory fails; the temp file must be removed. */
    char sub[PATH_MAX], inner[PATH_MAX];
    path_in(t, "sub", sub, sizeof sub);
    assert_int_equal(mkdir(sub, 0755), 0);
    path_in(t, "sub/keep", inner, sizeof inner);
    write_plain(inner, "k", 1);
    int rc = fileio_write_atomic(sub, "x", 1, 0644);
    assert_true(rc < 0);
    assert_int_equal(count_entries(t->dir), 1);
}

/* A path without a slash is relative to the working directory. */
static void test_write_atomic_relative(void **state)
{
    struct tmp *t = *state;
    char cwd[PATH_MAX], p[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(t->dir), 0);
    int rc = fileio_write_atomic("plain.txt", "rel", 3, 0644);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    assert_content(path_in(t, "plain.txt", p, sizeof p), "rel", 3);
    assert_int_equal(count_entries(t->dir), 1);
}

static void test_read_all_limits(void **state)
{
    struct tmp *t = *state;
    char p[PATH_MAX];
    path_in(t, "data", p, sizeof p);
    write_plain(p, "0123456789", 10);

    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(fileio_read_all(p, 10, &buf, &len), 0); /* exactly max */
    assert_int_equal(len, 10);
    assert_string_equal(buf, "0123456789");
    free(buf);

    buf = (char *)"untouched";
    len = 99;
    assert_int_equal(fileio_read_all(p, 9, &buf, &len), -EFBIG);
    assert_string_equal(buf, "untouched");
    assert_int_equal(len, 99);
    assert_int_equal(fileio_read_all(p, 0, &buf, &len), -EFBIG);
    assert_string_equal(buf, "untouched");

    buf = NULL;
    assert_int_equal(fileio_read_all(p, 11, &buf, NULL), 0); /* len is optional */
    assert_string_equal(buf, "0123456789");
    free(buf);
}

static void test_read_all_missing_and_dir(void **state)
{
    struct tmp *t = *state;
    char p[PATH_MAX];
    char *buf = (char *)"untouched";
    size_t len = 99;
    assert_int_equal(fileio_read_all(path_in(t, "nope", p, sizeof p), 100, &buf, &len), -ENOENT);
    assert_int_equal(fileio_read_all(path_in(t, "nope/x", p, sizeof p), 100, &buf, &len), -ENOENT);
    assert_true(fileio_read_all(t->dir, 100, &buf, &len) < 0); /* a directory */
    assert_string_equal(buf, "untouched");
    assert_int_equal(len, 99);
}

static void test_read_all_empty_and_binary(void **state)
{
    struct tmp *t = *state;
    char p[PATH_MAX];
    path_in(t, "empty", p, sizeof p);
    write_plain(p, "", 0);
    char *buf = NULL;
    size_t len = 99;
    assert_int_equal(fileio_read_all(p, 0, &buf, &len), 0);
    assert_non_null(buf);
    assert_int_equal(len, 0);
    assert_int_equal(buf[0], '\0');
    free(buf);

    static const char bin[] = {'\0', 'x', '\0', '\n'};
    write_plain(p, bin, sizeof bin);
    buf = NULL;
    assert_int_equal(fileio_read_all(p, sizeof bin, &buf, &len), 0);
    assert_int_equal(len, sizeof bin);
    assert_memory_equal(buf, bin, sizeof bin);
    free(buf);
}

static void test_read_all_large(void **state)
{
    struct tmp *t = *state;
    char p[PATH_MAX];
    path_in(t, "large", p, sizeof p);
    size_t n = 300000;
    char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)('a' + i % 26);
    assert_int_equal(fileio_write_atomic(p, data, n, 0644), 0);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(fileio_read_all(p, n, &buf, &len), 0);
    assert_int_equal(len, n);
    assert_memory_equal(buf, data, n);
    free(buf);
    assert_int_equal(fileio_read_all(p, n - 1, &buf, &len), -EFBIG);
    free(data);
}

/* Files in /proc report size 0 but have content: the read loop has to grow the buffer, and
 * still respect max (SIZE_MAX meaning "no practical limit" included). */
static void test_read_all_grows_past_stat_size(void **state)
{
    const char *p = "/proc/self/status";
    struct stat st;
    if (stat(p, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != 0)
        skip();
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(fileio_read_all(p, 1 << 20, &buf, &len), 0);
    assert_true(len > 10);
    assert_int_equal(strlen(buf), len);
    assert_non_null(strstr(buf, "Name:"));
    free(buf);

    buf = NULL;
    assert_int_equal(fileio_read_all(p, 10, &buf, &len), -EFBIG);
    assert_null(buf);

    assert_int_equal(fileio_read_all(p, SIZE_MAX, &buf, &len), 0);
    assert_non_null(strstr(buf, "Name:"));
    assert_int_equal(strlen(buf), len);
    free(buf);
}

static void assert_dir_mode(const char *path, mode_t mode)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, mode);
}

static void test_mkdirs_nested(void **state)
{
    struct tmp *t = *state;
    char p[PATH_MAX], q[PATH_MAX];
    path_in(t, "a/b/c/d", p, sizeof p);
    assert_int_equal(fileio_mkdirs(p, 0750), 0);
    assert_dir_mode(p, 0750);
    assert_dir_mode(path_in(t, "a", q, sizeof q), 0750);
    assert_dir_mode(path_in(t, "a/b/c", q, sizeof q), 0750);
    /* Existing directories are fine, again and again. */
    assert_int_equal(fileio_mkdirs(p, 0750), 0);
    assert_int_equal(fileio_mkdirs(t->dir, 0700), 0);
    /* Trailing and doubled slashes. */
    assert_int_equal(fileio_mkdirs(path_in(t, "x//y/", q, sizeof q), 0755), 0);
    assert_dir_mode(path_in(t, "x/y", q, sizeof q), 0755);
}

static void test_mkdirs_errors(void **state)
{
    struct tmp *t = *state;
    char f[PATH_MAX], p[PATH_MAX];
    path_in(t, "file", f, sizeof f);
    write_plain(f, "x", 1);
    assert_int_equal(fileio_mkdirs(f, 0755), -ENOTDIR);
    assert_int_equal(fileio_mkdirs(path_in(t, "file/sub", p, sizeof p), 0755), -ENOTDIR);
    assert_int_equal(fileio_mkdirs(path_in(t, "file/sub/deeper", p, sizeof p), 0755), -ENOTDIR);
    assert_int_equal(fileio_mkdirs("", 0755), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_atomic_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic_relative, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_all_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_all_missing_and_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_all_empty_and_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_all_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_all_grows_past_stat_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdirs_nested, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdirs_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
