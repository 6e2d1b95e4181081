/* Appending to a growing heap buffer: formatted text (Prometheus expositions and the like) or
 * raw bytes (HTTP bodies as they arrive). *buf is malloc'd with capacity *cap and *len bytes
 * used (plus a NUL); it grows as needed, doubling. 0, or -ENOMEM / -EINVAL with the buffer
 * left as it was. *buf may start NULL with *cap 0. */
#ifndef ROUNDHOUSE_STRBUF_H
#define ROUNDHOUSE_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

int strbuf_appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int strbuf_vappendf(char **buf, size_t *len, size_t *cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Formats an error message into a fixed caller buffer (truncated to fit); a NULL or empty
 * buffer is ignored. */
int strbuf_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n);

/* Room for n more bytes (and the NUL) without another allocation: 0 or -ENOMEM. */
int strbuf_reserve(char **buf, const size_t *len, size_t *cap, size_t n);

void strbuf_errorf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
