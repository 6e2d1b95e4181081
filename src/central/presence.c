#include "presence.h"

#include <string.h>

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

int presence_parse(const char *name)
{
    static const enum presence all[] = {PRESENCE_UNKNOWN, PRESENCE_ONLINE, PRESENCE_STALE,
                                        PRESENCE_OFFLINE};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, presence_name(all[i])) == 0)
            return (int)all[i];
    return -1;
}

/* now - age, or INT64_MAX (nothing is after it) when no last_seen can be younger than age:
 * the age is clamped at 0, so a threshold of 0 or less is never met. Saturating, so that
 * no rule makes the database compute past the range of its integers. */
static int64_t younger_than(int64_t now, int64_t age)
{
    if (age <= 0)
        return INT64_MAX;
    return now < INT64_MIN + age ? INT64_MIN : now - age;
}

void presence_bounds(int64_t now, const struct presence_rules *rules, struct presence_bounds *out)
{
    out->future_after =
        now > INT64_MAX - PRESENCE_CLOCK_SLACK_S ? INT64_MAX : now + PRESENCE_CLOCK_SLACK_S;
    out->online_after = younger_than(now, rules->stale_after);
    out->stale_after = younger_than(now, rules->offline_after);
}

enum presence presence_from_bounds(int64_t last_seen, bool went_offline,
                                   const struct presence_bounds *b)
{
    if (last_seen < 0)
        return PRESENCE_UNKNOWN;
    if (went_offline)
        return PRESENCE_OFFLINE;
    if (last_seen > b->future_after)
        return PRESENCE_STALE;
    if (last_seen > b->online_after)
        return PRESENCE_ONLINE;
    if (last_seen > b->stale_after)
        return PRESENCE_STALE;
    return PRESENCE_OFFLINE;
}
