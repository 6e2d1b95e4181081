/* Prometheus metrics of the HTTP front: requests by method, route and status code, and a
 * latency histogram per route. Routes are the patterns of the route table (static strings,
 * so the set of series is bounded); requests that matched no route count as "unmatched".
 * Thread-safe. */
#ifndef ROUNDHOUSE_HTTP_METRICS_H
#define ROUNDHOUSE_HTTP_METRICS_H

#include <stddef.h>

struct http_metrics;

struct http_metrics *http_metrics_new(void);
void http_metrics_free(struct http_metrics *m);
/* route: a static string (NULL = "unmatched"); method: any request method. */
void http_metrics_observe(struct http_metrics *m, const char *method, const char *route,
                          unsigned status, double seconds);
struct prom;
/* Appends the two families (requests by code, duration histogram by route). */
void http_metrics_render(struct http_metrics *m, struct prom *p);

#endif
