/* Which central the edge talks to. Configured (--central A,B,...): the first, and the next
 * after a request that got no answer at all. None configured: the _roundhouse._tcp services
 * DNS-SD finds (dnssd.h), in the same way; a new set from the network keeps the central in
 * use while it is still in it, and a set that empties keeps it too (it may still answer).
 * central_choice_* are pure (no clocks, no sockets: unit-tested); discover_* run the DNS-SD
 * browser on Avahi's thread and log what it finds, so the edge's loop only copies a list. */
#ifndef ROUNDHOUSE_EDGE_DISCOVER_H
#define ROUNDHOUSE_EDGE_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>

#define CENTRAL_CHOICE_MAX 16
#define CENTRAL_URL_MAX 512

struct central_choice {
    char urls[CENTRAL_CHOICE_MAX][CENTRAL_URL_MAX];
    size_t n;
    size_t idx; /* the one in use, when n > 0 */
};

/* Replaces the candidates (at most CENTRAL_CHOICE_MAX are kept; n 0 keeps the old ones).
 * Returns true when the current URL changed. */
bool central_choice_set(struct central_choice *c, const char *const *urls, size_t n);
/* A request to url got no answer: the next candidate, if url is still the current one.
 * Several requests in flight to a central that died all fail; only the first moves on, or
 * with two candidates the second failure would go back to the dead one. NULL url: the
 * current one. Returns true when the current URL changed (false with fewer than two). */
bool central_choice_failed(struct central_choice *c, const char *url);
/* The URL to use, NULL while there is none. */
const char *central_choice_current(const struct central_choice *c);

struct discover;

/* Starts browsing. 0 or a negative errno (-ENOMEM); a missing avahi-daemon is not an error
 * (it is logged once, as dnssd_unavailable, and retried in the background). */
int discover_start(struct discover **out);
/* Copies what was found into c when it changed since the last call. Returns true when the
 * current URL changed. Never blocks. */
bool discover_poll(struct discover *d, struct central_choice *c);
void discover_free(struct discover *d);

#endif
