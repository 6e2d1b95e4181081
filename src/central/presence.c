#include "presence.h"

enum presence presence_state(int64_t last_seen, int64_t now, bool went_offline,
                             const struct presence_rules *rules)
{
    if (last_seen < 0)
        return PRESENCE_UNKNOWN;
    if (went_offline)
        return PRESENCE_OFFLINE;
    int64_t age = now - last_seen;
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
