#include "presence.h"

enum presence presence_state(int64_t last_seen, int64_t now, bool went_offline,
                             const struct presence_rules *rules)
{
    if (last_seen < 0)
        return PRESENCE_UNKNOWN;
    if (went_offline)
        return PRESENCE_OFFLINE;
    int64_t age = now - last_seen;
    /* last_seen in the future: the central's own clock stepped back since (last_seen is always
     * its own time). The age is unknown, so not online: a dead controller would otherwise
     * stay online until the clock caught up. Not offline either: its trains must not be handed
     * to another controller while it may still drive them. Its next heartbeat settles it. */
    if (age < -PRESENCE_CLOCK_SLACK_S)
        return PRESENCE_STALE;
    if (age < 0)
        age = 0;
    if (age < rules->stale_after)
        return PRESENCE_ONLINE;
    if (age < rules->offline_after)
        return PRESENCE_STALE;
    return PRESENCE_OFFLINE;
}

const char *presence_name(enum presence p)
{
    switch (p) {
    case PRESENCE_ONLINE:
        return "online";
    case PRESENCE_STALE:
        return "stale";
    case PRESENCE_OFFLINE:
        return "offline";
    default:
        return "unknown";
    }
}
