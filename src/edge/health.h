/* Local /health and /metrics of the edge (libmicrohttpd without its own thread: its sockets
 * are watched by the daemon's poll loop, so handlers read the daemon's state without locks). */
#ifndef ROUNDHOUSE_EDGE_HEALTH_H
#define ROUNDHOUSE_EDGE_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include <poll.h>

struct edge;
struct health;

/* Listens on host:port (port 0: the kernel picks; *bound_port receives the real one).
 * 0 or negative errno. */
int health_start(struct health **out, const char *host, int port, struct edge *e, int *bound_port);
void health_stop(struct health *h);
/* Appends the server's descriptors to fds (at most max). Returns how many were added. */
unsigned health_fds(struct health *h, struct pollfd *fds, unsigned max);
/* Serves whatever is ready, without blocking. */
void health_run(struct health *h);
/* Milliseconds until the server has timed work (connection timeouts), -1 for none. */
int64_t health_timeout_ms(struct health *h);

#endif
