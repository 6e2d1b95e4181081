/* The edge's systemd notifications (sdnotify.h): READY once, when settled or after the
 * longest wait; WATCHDOG from the first loop pass on, at most once a second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdnotify.h"

/* A datagram socket standing in for systemd's; name is a path, or "@..." for the abstract
 * namespace. Receives without waiting: the datagram is queued before sendto returns. */
static int listener(const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    assert_true(len < sizeof sa.sun_path);
    memcpy(sa.sun_path, name, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
        0);
    return fd;
}

static void expect_datagram(int fd, const char *want)
{
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    assert_true(n >= 0);
    assert_int_equal((size_t)n, strlen(want));
    assert_memory_equal(buf, want, (size_t)n);
}

static void test_ready_when_settled(void **state)
{
    (void)state;
    struct sdnotify n;
    sdnotify_init(&n, 1000);
    assert_false(sdnotify_ready_due(&n, false, 1000));
    assert_false(sdnotify_ready_due(&n, false, 1500));
    assert_true(sdnotify_ready_due(&n, true, 1600));
    /* Once only. */
    assert_false(sdnotify_ready_due(&n, true, 1700));
    assert_false(sdnotify_ready_due(&n, false, 1000 + SDNOTIFY_READY_MAX_MS * 2));
}

static void test_ready_after_longest_wait(void **state)
{
    (void)state;
    struct sdnotify n;
    sdnotify_init(&n, 1000);
    /* A broker that cannot be reached must not keep the unit from starting. */
    assert_false(sdnotify_ready_due(&n, false, 1000 + SDNOTIFY_READY_MAX_MS - 1));
    assert_true(sdnotify_ready_due(&n, false, 1000 + SDNOTIFY_READY_MAX_MS));
    assert_false(sdnotify_ready_due(&n, true, 1000 + SDNOTIFY_READY_MAX_MS + 1));
}

static void test_watchdog_rate(void **state)
{
    (void)state;
    struct sdnotify n;
    sdnotify_init(&n, 5000);
    assert_true(sdnotify_watchdog_due(&n, 5000)); /* the first pass */
    assert_false(sdnotify_watchdog_due(&n, 5001));
    assert_false(sdnotify_watchdog_due(&n, 5000 + SDNOTIFY_WATCHDOG_GAP_MS - 1));
    assert_true(sdnotify_watchdog_due(&n, 5000 + SDNOTIFY_WATCHDOG_GAP_MS));
    /* A busy loop (many passes a second) still sends about once a second. */
    int sent = 0;
    for (int64_t t = 7000; t < 17000; t += 7)
        sent += sdnotify_watchdog_due(&n, t);
    assert_in_range(sent, 9, 11);
    /* A late pass sends at once. */
    assert_true(sdnotify_watchdog_due(&n, 60000));
    /* A clock that went backwards does not silence it. */
    assert_true(sdnotify_watchdog_due(&n, 100));
}

static void test_status_after_ready(void **state)
{
    (void)state;
    struct sdnotify n;
    sdnotify_init(&n, 0);
    /* Before READY=1 the status goes with it, not on its own. */
    assert_false(sdnotify_status_check_due(&n, 0));
    assert_true(sdnotify_ready_due(&n, true, 10));
    assert_true(sdnotify_status_changed(&n, "no runtime config; waiting for the central API"));
    /* Looked at again at most once a second; sent only when it changed. */
    assert_true(sdnotify_status_check_due(&n, 20));
    assert_false(sdnotify_status_check_due(&n, 20 + SDNOTIFY_STATUS_GAP_MS - 1));
    assert_false(sdnotify_status_changed(&n, "no runtime config; waiting for the central API"));
    assert_true(sdnotify_status_check_due(&n, 20 + SDNOTIFY_STATUS_GAP_MS));
    assert_true(sdnotify_status_changed(&n, "config 2, 1 train(s), broker b connected"));
    assert_false(sdnotify_status_changed(&n, "config 2, 1 train(s), broker b connected"));
}

static void test_send_outside_systemd(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sdnotify_send("WATCHDOG=1"), 1);
    /* A socket that does not exist: an error, not a crash. */
    setenv("NOTIFY_SOCKET", "/nonexistent/rh-notify.sock", 1);
    assert_true(sdnotify_send("READY=1") < 0);
    unsetenv("NOTIFY_SOCKET");
}

static void test_send_to_path_socket(void **state)
{
    (void)state;
    char dir[] = "/tmp/rh-sdnotify-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/notify.sock", dir);
    int fd = listener(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(sdnotify_send("READY=1\nSTATUS=config 3, 1 train(s)"), 0);
    expect_datagram(fd, "READY=1\nSTATUS=config 3, 1 train(s)");
    /* Every notification is one datagram of its own, with no terminator added. */
    assert_int_equal(sdnotify_send("WATCHDOG=1"), 0);
    assert_int_equal(sdnotify_send("STOPPING=1"), 0);
    expect_datagram(fd, "WATCHDOG=1");
    expect_datagram(fd, "STOPPING=1");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
    unlink(path);
    rmdir(dir);
}

static void test_send_to_abstract_socket(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof name, "@rh-sdnotify-test-%ld", (long)getpid());
    int fd = listener(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(sdnotify_send("READY=1"), 0);
    expect_datagram(fd, "READY=1");
    /* The same name as a path is another socket, which does not exist. */
    char path[80];
    snprintf(path, sizeof path, "/%s", name + 1);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(sdnotify_send("READY=1"), -ENOENT);
    unsetenv("NOTIFY_SOCKET");
    close(fd);
}

static void test_send_rejects_bad_addresses(void **state)
{
    (void)state;
    char longpath[200];
    setenv("NOTIFY_SOCKET", "relative/notify.sock", 1);
    assert_int_equal(sdnotify_send("READY=1"), -EAFNOSUPPORT);
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    setenv("NOTIFY_SOCKET", longpath, 1);
    assert_int_equal(sdnotify_send("READY=1"), -E2BIG);
    setenv("NOTIFY_SOCKET", "@rh-anything", 1);
    assert_int_equal(sdnotify_send(""), -EINVAL);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_when_settled),
        cmocka_unit_test(test_ready_after_longest_wait),
        cmocka_unit_test(test_watchdog_rate),
        cmocka_unit_test(test_status_after_ready),
        cmocka_unit_test(test_send_outside_systemd),
        cmocka_unit_test(test_send_to_path_socket),
        cmocka_unit_test(test_send_to_abstract_socket),
        cmocka_unit_test(test_send_rejects_bad_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
