/* A Prometheus histogram of durations in seconds with fixed buckets (5 ms to 10 s: from a
 * config download on the same LAN to the client's total timeout), and its text exposition.
 * Pure: no clocks inside; the caller measures and observes. */
#ifndef ROUNDHOUSE_EDGE_HISTOGRAM_H
#define ROUNDHOUSE_EDGE_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define HISTOGRAM_BUCKETS 11

struct histogram {
    uint64_t
        counts[HISTOGRAM_BUCKETS]; /* per bucket (not cumulative); above the last: only count */
    uint64_t count;
    double sum;
};

/* Upper bound of bucket i (0 <= i < HISTOGRAM_BUCKETS). */
double histogram_bound(size_t i);
/* Records one value; negative values count as 0, NaN is ignored. */
void histogram_observe(struct histogram *h, double seconds);
/* Appends "# HELP", "# TYPE name histogram", the cumulative name_bucket{le="..."} lines up to
 * le="+Inf", name_sum and name_count to a strbuf buffer (strbuf.h). 0 or -ENOMEM. */
int histogram_render(const struct histogram *h, const char *name, const char *help, char **buf,
                     size_t *len, size_t *cap);

#endif
