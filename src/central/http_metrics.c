#include "http_metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

#define MAX_SERIES 96
#define MAX_CODES 12

static const double bucket_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
#define NBUCKETS (sizeof bucket_le / sizeof bucket_le[0])

static const char *const methods[] = {"GET",    "POST",    "PUT",  "PATCH",
                                      "DELETE", "OPTIONS", "HEAD", "other"};

struct series {
    const char *method; /* one of methods[] */
    const char *route;
    unsigned codes[MAX_CODES];
    unsigned long code_counts[MAX_CODES];
    unsigned long buckets[NBUCKETS]; /* cumulative at render time */
    unsigned long count;
    double sum;
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
    for (size_t b = 0; b < NBUCKETS; b++)
        if (seconds <= bucket_le[b]) {
            s->buckets[b]++;
            break;
        }
    s->count++;
    s->sum += seconds;
    pthread_mutex_unlock(&m->lock);
}

int http_metrics_render(struct http_metrics *m, char **buf, size_t *len, size_t *cap)
{
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    rc |= strbuf_appendf(buf, len, cap,
                         "# HELP roundhouse_http_requests_total HTTP requests by method, route and "
                         "status code.\n# TYPE roundhouse_http_requests_total counter\n");
    for (unsigned i = 0; i < m->nseries; i++) {
        const struct series *s = &m->series[i];
        for (unsigned c = 0; c < MAX_CODES && s->codes[c] != 0; c++)
            rc |= strbuf_appendf(
                buf, len, cap,
                "roundhouse_http_requests_total{method=\"%s\",route=\"%s\",code=\"%u\"} "
                "%lu\n",
                s->method, s->route, s->codes[c], s->code_counts[c]);
    }
    rc |= strbuf_appendf(
        buf, len, cap,
        "# HELP roundhouse_http_request_duration_seconds Time to handle a request, by "
        "route.\n# TYPE roundhouse_http_request_duration_seconds histogram\n");
    for (unsigned i = 0; i < m->nseries; i++) {
        const struct series *s = &m->series[i];
        unsigned long cumulative = 0;
        for (size_t b = 0; b < NBUCKETS; b++) {
            cumulative += s->buckets[b];
            rc |= strbuf_appendf(
                buf, len, cap,
                "roundhouse_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\","
                "le=\"%g\"} %lu\n",
                s->method, s->route, bucket_le[b], cumulative);
        }
        rc |= strbuf_appendf(
            buf, len, cap,
            "roundhouse_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\","
            "le=\"+Inf\"} %lu\n"
            "roundhouse_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} "
            "%.6f\n"
            "roundhouse_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} "
            "%lu\n",
            s->method, s->route, s->count, s->method, s->route, s->sum, s->method, s->route,
            s->count);
    }
    pthread_mutex_unlock(&m->lock);
    return rc ? -ENOMEM : 0;
}
