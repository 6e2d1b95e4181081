/* Appending to a growing heap buffer: formatted text (Prometheus expositions and the like) or
 * raw bytes (HTTP bodies as they arrive). *buf is malloc'd with capacity *cap and *len bytes
 * used (plus a NUL); it grows as needed, doubling. 0, or -ENOMEM / -EINVAL with the buffer
 * left as it was. *buf may start NULL with *cap 0. */
#ifndef ROUNDHOUSE_STRBUF_H
#define ROUNDHOUSE_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int strbuf_appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int strbuf_vappendf(char **buf, size_t *len, size_t *cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Room for n more bytes (and the NUL) without another allocation: 0 or -ENOMEM. */
int strbuf_reserve(char **buf, const size_t *len, size_t *cap, size_t n);

/* strbuf_append when the buffer must grow first. */
int strbuf_append_grow(char **buf, size_t *len, size_t *cap, const void *data, size_t n);

/* Appends n bytes of data. Inline: JSON writing appends a comma or a colon at a time, and
 * the call cost more than the copy. */
static inline int strbuf_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
    if (*buf == NULL || n >= *cap - *len || n > PTRDIFF_MAX)
        return strbuf_append_grow(buf, len, cap, data, n);
    if (n > 0)
        memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* Formats an error message into a fixed caller buffer (truncated to fit); a NULL or empty
 * buffer is ignored. */
void strbuf_errorf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
