#include "prom.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

#include "strbuf.h"

void prom_init(struct prom *p)
{
    p->len = 0;
    p->cap = 4096;
    p->buf = malloc(p->cap);
    p->rc = p->buf != NULL ? 0 : -ENOMEM;
    if (p->buf != NULL)
        p->buf[0] = '\0';
}

char *prom_finish(struct prom *p)
{
    char *text = p->buf;
    if (p->rc != 0) {
        free(text);
        text = NULL;
    }
    p->buf = NULL;
    p->len = p->cap = 0;
    return text;
}

static void add(struct prom *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct prom *p, const char *fmt, ...)
{
    if (p->rc != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    p->rc = strbuf_vappendf(&p->buf, &p->len, &p->cap, fmt, ap);
    va_end(ap);
}

void prom_family(struct prom *p, const char *name, const char *type, const char *help)
{
    add(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_name(struct prom *p, const char *name, const char *labels)
{
    if (labels != NULL && labels[0] != '\0')
        add(p, "%s{%s} ", name, labels);
    else
        add(p, "%s ", name);
}

void prom_u64(struct prom *p, const char *name, const char *labels, uint64_t value)
{
    sample_name(p, name, labels);
    add(p, "%" PRIu64 "\n", value);
}

void prom_i64(struct prom *p, const char *name, const char *labels, int64_t value)
{
    sample_name(p, name, labels);
    add(p, "%" PRId64 "\n", value);
}

void prom_counter(struct prom *p, const char *name, const char *help, uint64_t value)
{
    prom_family(p, name, "counter", help);
    prom_u64(p, name, NULL, value);
}

void prom_gauge(struct prom *p, const char *name, const char *help, int64_t value)
{
    prom_family(p, name, "gauge", help);
    prom_i64(p, name, NULL, value);
}

void prom_observe(struct prom_histogram *h, const struct prom_buckets *b, double seconds)
{
    if (isnan(seconds))
        return;
    if (seconds < 0)
        seconds = 0;
    for (size_t i = 0; i < b->n && i < PROM_BUCKETS_MAX; i++) {
        if (seconds <= b->le[i]) {
            h->counts[i]++;
            break;
        }
    }
    h->count++;
    h->sum += seconds;
}

void prom_histogram(struct prom *p, const char *name, const char *labels,
                    const struct prom_histogram *h, const struct prom_buckets *b)
{
    const char *sep = labels != NULL && labels[0] != '\0' ? "," : "";
    if (labels == NULL)
        labels = "";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < b->n && i < PROM_BUCKETS_MAX; i++) {
        cumulative += h->counts[i];
        add(p, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, labels, sep, b->le[i], cumulative);
    }
    add(p, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, h->count);
    const char *open = labels[0] != '\0' ? "{" : "", *close = labels[0] != '\0' ? "}" : "";
    add(p, "%s_sum%s%s%s %.6f\n", name, open, labels, close, h->sum);
    add(p, "%s_count%s%s%s %" PRIu64 "\n", name, open, labels, close, h->count);
}
