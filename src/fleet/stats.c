#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"

void stats_init(struct stats *s, size_t max_samples)
{
    memset(s, 0, sizeof *s);
    s->max_samples = max_samples > 0 ? max_samples : 1;
    s->rng = 0x9e3779b97f4a7c15ULL;
}

void stats_free(struct stats *s)
{
    if (s == NULL)
        return;
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

void stats_reset(struct stats *s)
{
    s->n = 0;
    s->count = 0;
    s->max_us = 0;
    s->sum_us = 0;
}

void stats_add(struct stats *s, int64_t us)
{
    if (us < 0)
        us = 0;
    s->count++;
    s->sum_us += (double)us;
    if (us > s->max_us)
        s->max_us = us;
    if (s->n < s->max_samples) {
        if (s->n == s->cap) {
            size_t ncap = s->cap ? s->cap * 2 : 1024;
            if (ncap > s->max_samples)
                ncap = s->max_samples;
            int64_t *nv = realloc(s->v, ncap * sizeof *nv);
            if (nv == NULL) {
                s->oom = 1;
                return;
            }
            s->v = nv;
            s->cap = ncap;
        }
        s->v[s->n++] = us;
        return;
    }
    /* Reservoir: the k-th value replaces a random slot with probability max/k. */
    uint64_t j = backoff_rand(&s->rng) % s->count;
    if (j < s->max_samples)
        s->v[j] = us;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t stats_percentile_sorted(const int64_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    if (p <= 0)
        return sorted[0];
    double rank = ceil(p / 100.0 * (double)n);
    size_t idx = rank < 1 ? 0 : (size_t)rank - 1;
    if (idx >= n)
        idx = n - 1;
    return sorted[idx];
}

void stats_summarize(struct stats *s, struct stats_summary *out)
{
    memset(out, 0, sizeof *out);
    out->count = s->count;
    if (s->count == 0 || s->n == 0)
        return;
    qsort(s->v, s->n, sizeof *s->v, cmp_i64);
    out->mean_ms = s->sum_us / (double)s->count / 1000.0;
    out->p50_ms = (double)stats_percentile_sorted(s->v, s->n, 50) / 1000.0;
    out->p90_ms = (double)stats_percentile_sorted(s->v, s->n, 90) / 1000.0;
    out->p99_ms = (double)stats_percentile_sorted(s->v, s->n, 99) / 1000.0;
    out->max_ms = (double)s->max_us / 1000.0;
}
