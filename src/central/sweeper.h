/* The central's housekeeping thread: every 250 ms it expires parked long polls; every 15 s it
 * writes event stream keepalives; every second it watches presence. Presence is computed from time,
 * so a controller goes from online to stale to offline without any message arriving; the sweeper
 * notices those transitions, counts them for /metrics and publishes them on the event stream.
 * With several centrals on one database the presence watch is a cluster-wide duty: only the
 * instance that holds it (cluster.h) watches; the rest of the housekeeping runs on every one. */
#ifndef ROUNDHOUSE_SWEEPER_H
#define ROUNDHOUSE_SWEEPER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct central;
struct sweeper;

int sweeper_start(struct central *c, struct sweeper **out);
void sweeper_stop(struct sweeper *sw);
/* What the presence pass remembers between passes. */
struct presence_tracker {
    json_t *states; /* controller id -> pass number << 3 | presence */
    /* Controllers that went offline but whose trains could not be released (the database
     * write failed): id -> true, retried on every pass while they stay offline. */
    json_t *unreleased;
    uint64_t pass;
    bool primed; /* a complete pass recorded every controller */
};
void presence_tracker_init(struct presence_tracker *t);
void presence_tracker_free(struct presence_tracker *t);
/* One pass (also run once at start, which only records the states), reading through st
 * (the sweeper's own connection, or the central's store). */
struct store;
void sweeper_presence_pass(struct central *c, struct presence_tracker *t, struct store *st);

#endif
