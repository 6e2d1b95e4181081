/* Host-name lookups off the loop, the edge's one way of resolving a name (the central's host
 * in api_client.c, the broker's in mqtt_link.c): each lookup runs getaddrinfo on a
 * short-lived detached thread of its own, because getaddrinfo blocks for seconds when DNS is
 * unreachable, and the loop must keep ramping, stopping and answering signals. The loop asks
 * whether it is done (resolve_done) on its own timer. A lookup whose answer is no longer
 * wanted is abandoned, never waited for: whichever of the loop and the thread lets go last
 * frees it. IP literals need no lookup; callers convert them themselves. */
#ifndef ROUNDHOUSE_EDGE_RESOLVE_H
#define ROUNDHOUSE_EDGE_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#include <netdb.h>
#include <sys/socket.h>

#define RESOLVE_ADDRS_MAX 4

struct resolve_addr {
    struct sockaddr_storage sa;
    socklen_t len;
};

struct resolve_job;

/* Starts looking up host for TCP (port: a numeric service, or NULL for none). 0 with *out
 * set, or a negative errno (-ENOMEM, -EINVAL for a name longer than a DNS name, or why the
 * thread could not start). */
int resolve_start(const char *host, const char *port, struct resolve_job **out);
/* Whether the lookup is over (resolve_result may then be asked). */
bool resolve_done(const struct resolve_job *j);
/* Once done: 0 with the first IPv4/IPv6 addresses (at most max) in out and their number in
 * *n, EAI_NONAME when there was none, or getaddrinfo's error (EAI_*, for gai_strerror). */
int resolve_result(const struct resolve_job *j, struct resolve_addr *out, size_t max, size_t *n);
/* Done with j, finished or not (an unfinished lookup is abandoned). NULL: a no-op. */
void resolve_drop(struct resolve_job *j);

/* The IPv4 and IPv6 entries of ai (at most max) into dst; returns how many. */
size_t resolve_addrs_copy(struct resolve_addr *dst, size_t max, const struct addrinfo *ai);

#endif
