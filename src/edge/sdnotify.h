/* The edge's word to systemd (sd_notify(3), Type=notify units): READY=1 once the daemon is
 * ready, WATCHDOG=1 from the event loop, STOPPING=1 on SIGTERM. Outside systemd (no
 * NOTIFY_SOCKET) sending is a no-op.
 *
 * The decisions are pure functions of (state, now) so they are unit-tested; loop.c sends.
 *
 * Ready means: the loop runs, the health endpoint listens (edge_init), and a controller that
 * has a config to drive has its command topics subscribed. A broker that cannot be reached
 * must not keep the unit in "activating" until systemd gives up and restarts it (a new
 * session, and no motor control meanwhile): after SDNOTIFY_READY_MAX_MS the edge says READY
 * anyway, with the reason in STATUS.
 *
 * The watchdog is fed from the loop pass itself, at most once per SDNOTIFY_WATCHDOG_GAP_MS,
 * so a loop that is stuck (a blocking call, a spin inside one pass) stops feeding it and
 * systemd restarts the daemon. */
#ifndef ROUNDHOUSE_EDGE_SDNOTIFY_H
#define ROUNDHOUSE_EDGE_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#define SDNOTIFY_WATCHDOG_GAP_MS 1000
#define SDNOTIFY_READY_MAX_MS 10000

#define SDNOTIFY_STATUS_GAP_MS 1000
#define SDNOTIFY_STATUS_MAX 300

struct sdnotify {
    bool ready_sent;
    int64_t started_ms;
    int64_t watchdog_last_ms;             /* -1: never */
    int64_t status_checked_ms;            /* -1: never */
    char status[SDNOTIFY_STATUS_MAX + 1]; /* the STATUS= last sent */
};

void sdnotify_init(struct sdnotify *n, int64_t now_ms);
/* Whether READY=1 is due now: not sent yet, and settled (everything the edge can do
 * without the broker's help is done and, with a config, its topics are subscribed), or
 * waited long enough. Records it as sent when it returns true. */
bool sdnotify_ready_due(struct sdnotify *n, bool settled, int64_t now_ms);
/* After READY=1: whether the status is to be looked at again now (at most once per
 * SDNOTIFY_STATUS_GAP_MS). Records the look when it returns true. */
bool sdnotify_status_check_due(struct sdnotify *n, int64_t now_ms);
/* Whether status differs from the STATUS= last sent (systemctl status would show an old
 * one); records it as sent when it returns true. */
bool sdnotify_status_changed(struct sdnotify *n, const char *status);
/* Whether WATCHDOG=1 is due now (the first pass, then at most once per gap). Records it
 * as sent when it returns true. */
bool sdnotify_watchdog_due(struct sdnotify *n, int64_t now_ms);

/* Sends one notification ("READY=1\nSTATUS=..." etc.). 0 when sent, 1 when not under
 * systemd (no NOTIFY_SOCKET), or a negative errno. */
int sdnotify_send(const char *state);

#endif
