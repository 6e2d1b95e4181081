#include "sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void sdnotify_init(struct sdnotify *n, int64_t now_ms)
{
    n->ready_sent = false;
    n->started_ms = now_ms;
    n->watchdog_last_ms = -1;
    n->status_checked_ms = -1;
    n->status[0] = '\0';
}

bool sdnotify_status_check_due(struct sdnotify *n, int64_t now_ms)
{
    if (!n->ready_sent)
        return false;
    if (n->status_checked_ms >= 0 && now_ms >= n->status_checked_ms &&
        now_ms - n->status_checked_ms < SDNOTIFY_STATUS_GAP_MS)
        return false;
    n->status_checked_ms = now_ms;
    return true;
}

bool sdnotify_status_changed(struct sdnotify *n, const char *status)
{
    if (strncmp(n->status, status, sizeof n->status - 1) == 0)
        return false;
    snprintf(n->status, sizeof n->status, "%s", status);
    return true;
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

/* The protocol of sd_notify(3), which systemd documents as a stable interface: one datagram
 * with the newline-separated assignments, to the AF_UNIX socket named by $NOTIFY_SOCKET (a
 * path, or the abstract namespace when it starts with '@'). Written here rather than linked
 * from libsystemd, which alone pulled five more libraries into the edge's start-up. */
int sdnotify_send(const char *state)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *path = getenv("NOTIFY_SOCKET");
    size_t len, plen;
    int fd = -1, rc;

    if (path == NULL)
        return 1;
    if (state == NULL || (len = strlen(state)) == 0)
        return -EINVAL;
    /* vsock addresses (newer systemd in VMs) are not something an edge unit is given. */
    if (path[0] != '/' && path[0] != '@')
        return -EAFNOSUPPORT;
    plen = strlen(path);
    if (plen >= sizeof sa.sun_path)
        return -E2BIG;
    memcpy(sa.sun_path, path, plen);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    /* Non-blocking: when systemd's queue is full a lost WATCHDOG=1 is better than a loop
     * that stops ramping motors while it waits. */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    ssize_t n = sendto(fd, state, len, MSG_NOSIGNAL, (const struct sockaddr *)&sa,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen));
    if (n < 0)
        rc = -errno;
    else
        rc = (size_t)n == len ? 0 : -EPROTO;
    close(fd);
    return rc;
}
