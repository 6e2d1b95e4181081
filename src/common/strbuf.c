#include "strbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int strbuf_appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = strbuf_vappendf(buf, len, cap, fmt, ap);
    va_end(ap);
    return rc;
}

int strbuf_vappendf(char **buf, size_t *len, size_t *cap, const char *fmt, va_list args)
{
    for (;;) {
        va_list ap;
        va_copy(ap, args);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            (*buf)[*len] = '\0';
            return -EINVAL;
        }
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return 0;
        }
        size_t ncap = *cap * 2 + (size_t)n + 1;
        char *nb = realloc(*buf, ncap);
        if (nb == NULL) {
            (*buf)[*len] = '\0';
            return -ENOMEM;
        }
        *buf = nb;
        *cap = ncap;
    }
}

void strbuf_errorf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
