/* The daemon's single event loop: one poll (through api_client_poll, which also drives the
 * HTTP requests) over the signal self-pipe, the MQTT socket and the health server, with the
 * timeout set by the nearest deadline (ramp step, status message, sync timer, keepalive,
 * fail-safe). Signal handlers only write to the pipe. Each pass also tells systemd that the
 * loop is alive (sdnotify.h). */
#include "edge.h"

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
    log_event(LOG_INFO, "edge_ready", "{s:s, s:b, s:b}", "status", status, "settled", settled,
              "systemd", rc == 0);
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
            log_event(LOG_ERROR, "signal_setup_failed", "{s:s}", "error", strerror(-rc));
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
        int64_t timeout = LOOP_MAX_SLEEP_MS;
        if (wake >= 0 && wake - now < timeout)
            timeout = wake - now;
        int64_t ht = health_timeout_ms(e->health);
        if (ht >= 0 && ht < timeout)
            timeout = ht;
        if (timeout < 0)
            timeout = 0;

        unsigned n = 0;
        fds[n++] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
        int mfd = mqtt_link_fd(e->mqtt);
        int mqtt_slot = -1;
        if (mfd >= 0) {
            mqtt_slot = (int)n;
            fds[n++] = (struct pollfd){.fd = mfd, .events = mqtt_link_events(e->mqtt)};
        }
        unsigned health_slot = n;
        n += health_fds(e->health, fds + n, LOOP_MAX_FDS - n);

        rc = api_client_poll(e->api, fds, n, (int)timeout);
        if (rc < 0) {
            log_event(LOG_ERROR, "poll_failed", "{s:i}", "errno", -rc);
            usleep(10000); /* never spin on a persistent error */
        }
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

    log_event(LOG_INFO, "shutdown_requested", "{s:s}", "signal",
              stop_sig == SIGINT ? "SIGINT" : "SIGTERM");
    sdnotify_send("STOPPING=1\nSTATUS=stopping the motors");
    edge_shutdown(e, LOOP_SHUTDOWN_FLUSH_MS);
    signals_teardown();
    return 0;
}
