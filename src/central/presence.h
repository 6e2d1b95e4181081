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
/* The state named name ("online", ...), or -1. */
int presence_parse(const char *name);

/* The same rule as thresholds on last_seen, for a database to apply in a query (a paged list
 * filtered by presence): with last_seen known and the will not received,
 *   last_seen > future_after -> stale, else last_seen > online_after -> online,
 *   else last_seen > stale_after -> stale, else offline.
 * A threshold that nothing passes is INT64_MAX. */
struct presence_bounds {
    int64_t future_after;
    int64_t online_after;
    int64_t stale_after;
};
void presence_bounds(int64_t now, const struct presence_rules *rules, struct presence_bounds *out);
/* presence_state through the bounds (what the query computes), for the tests to hold the two
 * against each other. */
enum presence presence_from_bounds(int64_t last_seen, bool went_offline,
                                   const struct presence_bounds *b);

#endif
