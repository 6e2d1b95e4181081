#include "histogram.h"

#include <errno.h>
#include <math.h>

#include "strbuf.h"

static const double bounds[HISTOGRAM_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                 0.5,   1.0,  2.5,   5.0,  10.0};

double histogram_bound(size_t i)
{
    return i < HISTOGRAM_BUCKETS ? bounds[i] : INFINITY;
}

void histogram_observe(struct histogram *h, double seconds)
{
    if (isnan(seconds))
        return;
    if (seconds < 0)
        seconds = 0;
    for (size_t i = 0; i < HISTOGRAM_BUCKETS; i++) {
        if (seconds <= bounds[i]) {
            h->counts[i]++;
            break;
        }
    }
    h->count++;
    h->sum += seconds;
}

int histogram_render(const struct histogram *h, const char *name, const char *help, char **buf,
                     size_t *len, size_t *cap)
{
    uint64_t cumulative = 0;
    int rc = strbuf_appendf(buf, len, cap, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < HISTOGRAM_BUCKETS && rc == 0; i++) {
        cumulative += h->counts[i];
        rc = strbuf_appendf(buf, len, cap, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                            (unsigned long long)cumulative);
    }
    if (rc == 0)
        rc = strbuf_appendf(
            buf, len, cap, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
            (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
    return rc < 0 ? -ENOMEM : 0;
}
