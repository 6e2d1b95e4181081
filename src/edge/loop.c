/* The daemon's single event loop: the one poll(2) over the signal self-pipe, the MQTT
 * socket, the sockets of the HTTP requests to the central and those of the health server,
 * with the timeout set by the nearest deadline (ramp step, status message, sync timer,
 * keepalive, fail-safe, request timeouts). Signal handlers only write to the pipe. Each pass
 * also tells systemd that the loop is alive (sdnotify.h). The shutdown's last messages are
 * waited for here too (edge_loop_flush). */
#include "edge_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "health.h"
#include "log.h"
#include "sdnotify.h"
#include "timeutil.h"

#define LOOP_MAX_FDS 40
#define LOOP_MAX_SLEEP_MS 1000
#define LOOP_SHUTDOWN_FLUSH_MS 2000

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    ssize_t n = write(sig_pipe[1], &c, 1);
    (void)n; /* a full pipe already holds a pending signal */
    errno = saved;
}

int edge_signals_init(void)
{
    struct sigaction sa;
    if (pipe(sig_pipe) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        if (fcntl(sig_pipe[i], F_SETFL, O_NONBLOCK) < 0 ||
            fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC) < 0)
            return -errno;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
        return -errno;
    /* A peer closing a socket must not kill a process that drives motors, nor a file-size
     * limit (a quota, ulimit -f) reached by a state file: that write fails with EFBIG and is
     * reported (/health), while the motors stay under control. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGXFSZ, &sa, NULL);
    return 0;
}

static void signals_teardown(void)
{
    for (int i = 0; i < 2; i++) {
        if (sig_pipe[i] >= 0)
            close(sig_pipe[i]);
        sig_pipe[i] = -1;
    }
}

/* READY=1 once the edge is settled (or has waited long enough), with what it runs; after
 * that a new STATUS= whenever what it runs has changed (the first boot's "waiting for the
 * central API" must not stay once the central has answered). */
static void ready_check(struct sdnotify *sdn, const struct edge *e, int64_t now)
{
    char status[SDNOTIFY_STATUS_MAX + 1], msg[SDNOTIFY_STATUS_MAX + 32];
    if (sdn->ready_sent) {
        if (!sdnotify_status_check_due(sdn, now))
            return;
        edge_settled(e, status, sizeof status);
        if (sdnotify_status_changed(sdn, status)) {
            snprintf(msg, sizeof msg, "STATUS=%s", status);
            sdnotify_send(msg);
        }
        return;
    }
    bool settled = edge_settled(e, status, sizeof status);
    if (!sdnotify_ready_due(sdn, settled, now))
        return;
    sdnotify_status_changed(sdn, status);
    snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", status);
    int rc = sdnotify_send(msg);
    log_event(RH_LOG_INFO, "edge_ready", "{s:s, s:b, s:b}", "status", status, "settled", settled,
              "systemd", rc == 0);
}

/* The poll timeout: the nearest of the tick's, the health server's and the HTTP client's
 * deadlines, at most LOOP_MAX_SLEEP_MS. */
static int pass_timeout(const struct edge *e, int64_t wake, int64_t now)
{
    int64_t timeout = LOOP_MAX_SLEEP_MS;
    if (wake >= 0 && wake - now < timeout)
        timeout = wake - now;
    int64_t ht = health_timeout_ms(e->health);
    if (ht >= 0 && ht < timeout)
        timeout = ht;
    int64_t at = api_client_timeout_ms(e->api);
    if (at >= 0 && at < timeout)
        timeout = at;
    return timeout < 0 ? 0 : (int)timeout;
}

static int poll_once(struct pollfd *fds, unsigned n, int timeout)
{
    if (poll(fds, (nfds_t)n, timeout) >= 0)
        return 0;
    int rc = errno == EINTR ? 0 : -errno;
    for (unsigned i = 0; i < n; i++)
        fds[i].revents = 0;
    return rc;
}

int edge_run(struct edge *e)
{
    struct pollfd fds[LOOP_MAX_FDS];
    struct sdnotify sdn;
    int stop_sig = 0;
    int rc;
    if (sig_pipe[0] < 0) {
        rc = edge_signals_init();
        if (rc < 0) {
            log_event(RH_LOG_ERROR, "signal_setup_failed", "{s:s}", "error", strerror(-rc));
            signals_teardown();
            return rc;
        }
    }

    sdnotify_init(&sdn, timeutil_mono_ms());
    while (stop_sig == 0) {
        int64_t now = timeutil_mono_ms();
        int64_t wake = edge_tick(e, now);
        /* Fed from the pass itself: a loop stuck anywhere stops feeding it. */
        if (sdnotify_watchdog_due(&sdn, now))
            sdnotify_send("WATCHDOG=1");
        ready_check(&sdn, e, now);

        unsigned n = 0;
        fds[n++] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
        int mfd = mqtt_link_fd(e->mqtt);
        int mqtt_slot = -1;
        if (mfd >= 0) {
            mqtt_slot = (int)n;
            fds[n++] = (struct pollfd){.fd = mfd, .events = mqtt_link_events(e->mqtt)};
        }
        unsigned api_slot = n;
        n += api_client_fds(e->api, fds + n, LOOP_MAX_FDS - n);
        unsigned health_slot = n;
        n += health_fds(e->health, fds + n, LOOP_MAX_FDS - n);

        rc = poll_once(fds, n, pass_timeout(e, wake, now));
        if (rc < 0) {
            log_event(RH_LOG_ERROR, "poll_failed", "{s:i}", "errno", -rc);
            usleep(10000); /* never spin on a persistent error */
        }
        /* The answers first, as before the loop owned poll: their callbacks may start the
         * next requests, picked up by the next pass. */
        api_client_handle(e->api, fds + api_slot, health_slot - api_slot);
        if (fds[0].revents != 0) {
            unsigned char c;
            while (read(sig_pipe[0], &c, 1) == 1)
                stop_sig = c;
        }
        /* POLLHUP and POLLERR come through as they are: mqtt_link_handle reads on them, so
         * a dead socket is noticed (the read fails) rather than making poll return at once
         * forever. */
        if (mqtt_slot >= 0 && mqtt_link_fd(e->mqtt) == mfd)
            mqtt_link_handle(e->mqtt, fds[mqtt_slot].revents, timeutil_mono_ms());
        health_run(e->health, fds + health_slot, n - health_slot);
    }

    log_event(RH_LOG_INFO, "shutdown_requested", "{s:s}", "signal",
              stop_sig == SIGINT ? "SIGINT" : "SIGTERM");
    sdnotify_send("STOPPING=1\nSTATUS=stopping the motors");
    edge_shutdown(e, LOOP_SHUTDOWN_FLUSH_MS);
    signals_teardown();
    return 0;
}

void edge_loop_flush(struct edge *e, int64_t timeout_ms)
{
    struct pollfd fds[LOOP_MAX_FDS];
    int64_t deadline = timeutil_mono_ms() + timeout_ms;
    while (e->n_pending > 0 && mqtt_link_connected(e->mqtt) && timeutil_mono_ms() < deadline) {
        unsigned n = 0;
        fds[n++] =
            (struct pollfd){.fd = mqtt_link_fd(e->mqtt), .events = mqtt_link_events(e->mqtt)};
        if (fds[0].fd < 0)
            break;
        n += api_client_fds(e->api, fds + n, LOOP_MAX_FDS - n);
        int64_t left = deadline - timeutil_mono_ms();
        int timeout = left < 50 ? (int)left : 50;
        int64_t at = api_client_timeout_ms(e->api);
        if (at >= 0 && at < timeout)
            timeout = (int)at;
        poll_once(fds, n, timeout < 0 ? 0 : timeout);
        api_client_handle(e->api, fds + 1, n - 1);
        mqtt_link_handle(e->mqtt, fds[0].revents, timeutil_mono_ms());
        mqtt_link_tick(e->mqtt, timeutil_mono_ms());
    }
}
