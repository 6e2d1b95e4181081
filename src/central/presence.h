/* Presence of a controller, derived at read time (never a stored flag that can get stuck).
 *
 * Rule, with age = now - last_seen in seconds:
 *   never seen (last_seen unknown)     -> unknown
 *   age < -PRESENCE_CLOCK_SLACK_S      -> stale    (the clock stepped back: age unknown;
 *                                                   not online, not released either)
 *   age <  stale_after                 -> online
 *   stale_after <= age < offline_after -> stale
 *   age >= offline_after               -> offline
 *   went_offline (the edge's MQTT will was received for its current session, see the live
 *   presence issue) -> offline whatever the age. */
#ifndef ROUNDHOUSE_PRESENCE_H
#define ROUNDHOUSE_PRESENCE_H

#include <stdbool.h>
#include <stdint.h>

enum presence { PRESENCE_UNKNOWN = 0, PRESENCE_ONLINE, PRESENCE_STALE, PRESENCE_OFFLINE };

/* A last_seen this far ahead of now is still taken as age 0 (rounding of whole seconds). */
#define PRESENCE_CLOCK_SLACK_S 1

struct presence_rules {
    int64_t stale_after;   /* seconds */
    int64_t offline_after; /* seconds, > stale_after */
};

/* last_seen < 0 means never seen. */
enum presence presence_state(int64_t last_seen, int64_t now, bool went_offline,
                             const struct presence_rules *rules);
const char *presence_name(enum presence p);

#endif
