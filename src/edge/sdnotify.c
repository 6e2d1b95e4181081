#include "sdnotify.h"

#include <systemd/sd-daemon.h>

void sdnotify_init(struct sdnotify *n, int64_t now_ms)
{
    n->ready_sent = false;
    n->started_ms = now_ms;
    n->watchdog_last_ms = -1;
}

bool sdnotify_ready_due(struct sdnotify *n, bool settled, int64_t now_ms)
{
    if (n->ready_sent)
        return false;
    if (!settled && now_ms - n->started_ms < SDNOTIFY_READY_MAX_MS)
        return false;
    n->ready_sent = true;
    return true;
}

bool sdnotify_watchdog_due(struct sdnotify *n, int64_t now_ms)
{
    /* A clock step backwards (it is monotonic, but be safe) must not silence the watchdog. */
    if (n->watchdog_last_ms >= 0 && now_ms >= n->watchdog_last_ms &&
        now_ms - n->watchdog_last_ms < SDNOTIFY_WATCHDOG_GAP_MS)
        return false;
    n->watchdog_last_ms = now_ms;
    return true;
}

int sdnotify_send(const char *state)
{
    /* unset_environment 0: every later notification needs NOTIFY_SOCKET too. sd_notify
     * returns 0 when it is not set, > 0 when sent. */
    int rc = sd_notify(0, state);
    if (rc < 0)
        return rc;
    return rc == 0 ? 1 : 0;
}
