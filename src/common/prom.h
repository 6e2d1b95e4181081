/* The Prometheus text exposition (format 0.0.4) that every program's /metrics writes, and
 * the one histogram type they observe durations into.
 *
 * Hand-written: Debian packages no C client library for Prometheus, and the text format is
 * a handful of line shapes. The writer only formats; the counters live with their owners.
 *
 * A writer's errors are sticky: after the first failed append (out of memory) the rest are
 * skipped and prom_finish() reports it, so a caller writes its whole exposition and checks
 * once. */
#ifndef ROUNDHOUSE_PROM_H
#define ROUNDHOUSE_PROM_H

#include <stddef.h>
#include <stdint.h>

struct prom {
    char *buf; /* malloc'd, NUL-terminated */
    size_t len, cap;
    int rc; /* 0, or the first error (-ENOMEM) */
};

/* An empty exposition; p->rc is -ENOMEM when even that failed. */
void prom_init(struct prom *p);
/* The text (the caller frees it), or NULL when an append failed (the buffer is freed). */
char *prom_finish(struct prom *p);

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge or histogram). */
void prom_family(struct prom *p, const char *name, const char *type, const char *help);
/* One sample: "name{labels} value"; labels is the text between the braces, already escaped
 * (our label values are fixed words and route patterns), or NULL for none. */
void prom_u64(struct prom *p, const char *name, const char *labels, uint64_t value);
void prom_i64(struct prom *p, const char *name, const char *labels, int64_t value);
/* A family of one unlabelled sample. */
void prom_counter(struct prom *p, const char *name, const char *help, uint64_t value);
void prom_gauge(struct prom *p, const char *name, const char *help, int64_t value);

#define PROM_BUCKETS_MAX 16

/* Upper bounds in seconds, ascending; the +Inf bucket is implied. */
struct prom_buckets {
    const double *le;
    size_t n; /* <= PROM_BUCKETS_MAX */
};

struct prom_histogram {
    uint64_t counts[PROM_BUCKETS_MAX]; /* per bucket, not cumulative; above the last: count only */
    uint64_t count;
    double sum;
};

/* Records one duration; a negative one counts as 0, NaN is ignored. */
void prom_observe(struct prom_histogram *h, const struct prom_buckets *b, double seconds);
/* The cumulative name_bucket{labels,le="..."} lines up to +Inf, name_sum and name_count of
 * one histogram (the family's HELP and TYPE are the caller's, written once). */
void prom_histogram(struct prom *p, const char *name, const char *labels,
                    const struct prom_histogram *h, const struct prom_buckets *b);

#endif
