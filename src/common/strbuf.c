#include "strbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

int strbuf_reserve(char **buf, const size_t *len, size_t *cap, size_t n)
{
    if (n > SIZE_MAX / 2 - *len - 1)
        return -ENOMEM;
    size_t need = *len + n + 1;
    if (need > *cap) {
        size_t ncap = *cap ? *cap : 1024;
        while (ncap < need)
            ncap *= 2;
        char *nb = realloc(*buf, ncap);
        if (nb == NULL)
            return -ENOMEM;
        *buf = nb;
        *cap = ncap;
    }
    return 0;
}

int strbuf_append_grow(char **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
    if (strbuf_reserve(buf, len, cap, n) < 0)
        return -ENOMEM;
    if (n > 0)
        memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
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
