/* Host-name lookups off the loop (resolve.c): results, failures, truncation, and a lookup
 * abandoned before it ends. Only names the machine answers itself (IP literals, localhost,
 * an empty name): no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "resolve.h"

#define WAIT_LIMIT_MS 10000

static void wait_done(const struct resolve_job *j)
{
    for (int i = 0; i < WAIT_LIMIT_MS && !resolve_done(j); i++)
        usleep(1000);
    assert_true(resolve_done(j));
}

static void test_literal_with_port(void **state)
{
    (void)state;
    struct resolve_job *j = NULL;
    struct resolve_addr a[RESOLVE_ADDRS_MAX];
    size_t n = 99;
    assert_int_equal(resolve_start("127.0.0.1", "8080", &j), 0);
    wait_done(j);
    assert_int_equal(resolve_result(j, a, RESOLVE_ADDRS_MAX, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].sa.ss_family, AF_INET);
    const struct sockaddr_in *in = (const struct sockaddr_in *)&a[0].sa;
    assert_int_equal(ntohs(in->sin_port), 8080);
    assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
    assert_int_equal(a[0].len, sizeof *in);
    resolve_drop(j);
}

static void test_localhost_truncated(void **state)
{
    (void)state;
    struct resolve_job *j = NULL;
    struct resolve_addr a[1];
    size_t n = 0;
    assert_int_equal(resolve_start("localhost", NULL, &j), 0);
    wait_done(j);
    assert_int_equal(resolve_result(j, a, 1, &n), 0);
    assert_int_equal(n, 1); /* however many there are, at most max */
    assert_true(a[0].sa.ss_family == AF_INET || a[0].sa.ss_family == AF_INET6);
    resolve_drop(j);
}

static void test_failures(void **state)
{
    (void)state;
    struct resolve_job *j = NULL;
    struct resolve_addr a[RESOLVE_ADDRS_MAX];
    size_t n = 99;
    /* A service that is not a number, with AI_NUMERICSERV: refused by getaddrinfo. */
    assert_int_equal(resolve_start("127.0.0.1", "http", &j), 0);
    wait_done(j);
    assert_int_not_equal(resolve_result(j, a, RESOLVE_ADDRS_MAX, &n), 0);
    assert_int_equal(n, 0);
    resolve_drop(j);

    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    j = NULL;
    assert_int_equal(resolve_start(longname, NULL, &j), -EINVAL);
    assert_null(j);
    assert_int_equal(resolve_start("localhost", "123456789", &j), -EINVAL);
    assert_null(j);
}

/* Dropped while it may still run: the thread frees it (ASan would report a leak or a use
 * after free). */
static void test_abandoned(void **state)
{
    (void)state;
    for (int i = 0; i < 8; i++) {
        struct resolve_job *j = NULL;
        assert_int_equal(resolve_start("localhost", "80", &j), 0);
        resolve_drop(j);
    }
    resolve_drop(NULL);
    usleep(100000); /* lets the threads end before the process does */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_with_port),
        cmocka_unit_test(test_localhost_truncated),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_abandoned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
