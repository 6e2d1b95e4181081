/* Latency samples and their percentiles (nearest rank). Pure: no clocks inside.
 *
 * At most max_samples values are kept; beyond that a uniform reservoir sample is kept
 * (Vitter's algorithm R with a fixed-seed generator, so runs are repeatable), while count,
 * sum and max stay exact. */
#ifndef ROUNDHOUSE_FLEET_STATS_H
#define ROUNDHOUSE_FLEET_STATS_H

#include <stddef.h>
#include <stdint.h>

struct stats {
    int64_t *v; /* microseconds */
    size_t n, cap, max_samples;
    uint64_t count;
    int64_t max_us;
    double sum_us;
    uint64_t rng;
    int oom; /* a sample could not be stored */
};

struct stats_summary {
    uint64_t count;
    double mean_ms, p50_ms, p90_ms, p99_ms, max_ms;
};

void stats_init(struct stats *s, size_t max_samples);
void stats_free(struct stats *s);
/* Forgets every sample (the buffer is kept). */
void stats_reset(struct stats *s);
void stats_add(struct stats *s, int64_t us);
/* Sorts the samples in place and fills out; all zero when there is none. */
void stats_summarize(struct stats *s, struct stats_summary *out);
/* Nearest-rank percentile of sorted values (p in 0..100); 0 for n == 0. */
int64_t stats_percentile_sorted(const int64_t *sorted, size_t n, double p);

#endif
