/* Local /health and /metrics of the edge: a small HTTP/1.1 server whose sockets are watched
 * by the daemon's poll loop, so the documents it serves are built from the daemon's state
 * without locks. It knows nothing of that state: the owner hands it a health_source. GET and HEAD
 * of /health (200, or 503 when unhealthy) and /metrics (Prometheus text); 404 for other
 * paths, 405 for other methods, 400/413/431 for malformed or oversized requests. One request
 * per connection ("Connection: close"); connections are capped in number and time. */
#ifndef ROUNDHOUSE_EDGE_HEALTH_H
#define ROUNDHOUSE_EDGE_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include <poll.h>

#include <jansson.h>

struct health;

/* What the server answers with, built when a request asks for it. */
struct health_source {
    /* The /health document (the server takes the reference); *http_status receives 200 or
     * 503. NULL: out of memory, answered with 500. */
    json_t *(*health)(void *ctx, int64_t now_ms, int *http_status);
    /* The /metrics text (malloc'd, the server frees it). NULL: out of memory (500). */
    char *(*metrics)(void *ctx, int64_t now_ms);
    void *ctx;
};

/* Listens on host:port (port 0: the kernel picks; *bound_port receives the real one); src is
 * copied. 0 or negative errno. */
int health_start(struct health **out, const char *host, int port, const struct health_source *src,
                 int *bound_port);
void health_stop(struct health *h);
/* Appends the server's descriptors to fds (at most max). Returns how many were added. */
unsigned health_fds(struct health *h, struct pollfd *fds, unsigned max);
/* Serves whatever is ready, without blocking: fds are those health_fds added, with revents
 * from poll. Also closes connections past their time. */
void health_run(struct health *h, const struct pollfd *fds, unsigned nfds);
/* Milliseconds until the server has timed work (connection timeouts), -1 for none. */
int64_t health_timeout_ms(struct health *h);

#endif
