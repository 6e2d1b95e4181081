/* Writing JSON text straight into a strbuf buffer, without building a jansson tree first: for
 * the lines and answers written on every request (a registration's log line and answer, a
 * heartbeat's answer), where building the tree and dumping it cost more than the rest of the
 * handler. The output is what json_dumps(json_pack(fmt, ...), JSON_COMPACT) gives.
 *
 * The format is jansson's pack format for one flat object, "{s:s, s:I, ...}", with these
 * value specifiers: s, s? (NULL: null), s* (NULL: the member is left out), i (int),
 * I (json_int_t), b (int, as a boolean), f (double), n (null, no argument), o, O, o?, O?, o*,
 * O* (a json_t, dumped; o steals the reference as in json_pack). Keys are s. */
#ifndef ROUNDHOUSE_JSONW_H
#define ROUNDHOUSE_JSONW_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Whether fmt is a format of the kind above (anything else is left to json_pack). */
bool jsonw_format_ok(const char *fmt);

/* Appends s (n bytes) as a JSON string, quoted and escaped. -EINVAL when it is not UTF-8
 * (nothing appended), -ENOMEM. */
int jsonw_string(char **buf, size_t *len, size_t *cap, const char *s, size_t n);

/* Appends the members of the object fmt describes, "k":v,... without the braces, each one
 * preceded by a comma when *len > start (the offset the object's text began at). Every
 * argument is consumed (an o's reference released) whatever happens, but for -ENOTSUP: fmt is
 * not jsonw_format_ok, and nothing is consumed (json_pack can take the same arguments). 0;
 * -EINVAL when a string is not UTF-8 or a number is not finite (the buffer is then back to
 * where it was); -ENOMEM. */
int jsonw_vmembers(char **buf, size_t *len, size_t *cap, size_t start, const char *fmt,
                   va_list *ap);

/* The whole object of fmt as a malloc'd, NUL-terminated text (*out_len bytes): 0 or
 * -ENOTSUP / -EINVAL / -ENOMEM as jsonw_vmembers. */
int jsonw_pack(char **out, size_t *out_len, const char *fmt, ...);

#endif
