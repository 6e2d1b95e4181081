/* The central's housekeeping thread: every 250 ms it expires parked long polls; every 15 s it
 * writes event stream keepalives; every second it watches presence. Presence is computed from time, so a controller
 * goes from online to stale to offline without any message arriving; the sweeper notices
 * those transitions, counts them for /metrics and publishes them on the event stream. */
#ifndef ROUNDHOUSE_SWEEPER_H
#define ROUNDHOUSE_SWEEPER_H

#include <jansson.h>

struct central;
struct sweeper;

int sweeper_start(struct central *c, struct sweeper **out);
void sweeper_stop(struct sweeper *sw);
/* One pass (also used by tests and after start). */
void sweeper_presence_pass(struct central *c, json_t *last_states);

#endif
