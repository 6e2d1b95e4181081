#include "http_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

#define MAX_SERIES 96
#define MAX_CODES 12

static const double bucket_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
static const struct prom_buckets buckets = {bucket_le, sizeof bucket_le / sizeof bucket_le[0]};

static const char *const methods[] = {"GET",    "POST",    "PUT",  "PATCH",
                                      "DELETE", "OPTIONS", "HEAD", "other"};

struct series {
    const char *method; /* one of methods[] */
    const char *route;
    unsigned codes[MAX_CODES];
    unsigned long code_counts[MAX_CODES];
    struct prom_histogram duration;
};

struct http_metrics {
    pthread_mutex_t lock;
    struct series series[MAX_SERIES];
    unsigned nseries;
    unsigned long dropped; /* observations past MAX_SERIES (should stay 0) */
};

struct http_metrics *http_metrics_new(void)
{
    struct http_metrics *m = calloc(1, sizeof *m);
    if (m != NULL)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void http_metrics_free(struct http_metrics *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static const char *method_name(const char *method)
{
    for (size_t i = 0; i + 1 < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i], method) == 0)
            return methods[i];
    return methods[sizeof methods / sizeof methods[0] - 1];
}

void http_metrics_observe(struct http_metrics *m, const char *method, const char *route,
                          unsigned status, double seconds)
{
    if (m == NULL)
        return;
    const char *mname = method_name(method ? method : "");
    if (route == NULL)
        route = "unmatched";
    pthread_mutex_lock(&m->lock);
    struct series *s = NULL;
    for (unsigned i = 0; i < m->nseries && s == NULL; i++)
        if (m->series[i].method == mname && strcmp(m->series[i].route, route) == 0)
            s = &m->series[i];
    if (s == NULL && m->nseries < MAX_SERIES) {
        s = &m->series[m->nseries++];
        s->method = mname;
        s->route = route;
    }
    if (s == NULL) {
        m->dropped++;
        pthread_mutex_unlock(&m->lock);
        return;
    }
    for (unsigned i = 0; i < MAX_CODES; i++) {
        if (s->codes[i] == status || s->codes[i] == 0) {
            s->codes[i] = status;
            s->code_counts[i]++;
            break;
        }
    }
    prom_observe(&s->duration, &buckets, seconds);
    pthread_mutex_unlock(&m->lock);
}

void http_metrics_render(struct http_metrics *m, struct prom *p)
{
    pthread_mutex_lock(&m->lock);
    prom_family(p, "roundhouse_http_requests_total", "counter",
                "HTTP requests by method, route and status code.");
    char labels[256];
    for (unsigned i = 0; i < m->nseries; i++) {
        const struct series *s = &m->series[i];
        for (unsigned c = 0; c < MAX_CODES && s->codes[c] != 0; c++) {
            snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\",code=\"%u\"", s->method,
                     s->route, s->codes[c]);
            prom_u64(p, "roundhouse_http_requests_total", labels, s->code_counts[c]);
        }
    }
    prom_family(p, "roundhouse_http_request_duration_seconds", "histogram",
                "Time to handle a request, by route.");
    for (unsigned i = 0; i < m->nseries; i++) {
        const struct series *s = &m->series[i];
        snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\"", s->method, s->route);
        prom_histogram(p, "roundhouse_http_request_duration_seconds", labels, &s->duration,
                       &buckets);
    }
    pthread_mutex_unlock(&m->lock);
}
