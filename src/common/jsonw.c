/* Hand-written rather than jansson's json_pack + json_dumps: the tree those two build for one
 * line is thrown away at once, and on the central's busiest routes (a registration, a
 * heartbeat) building and dumping it was a fifth of the request's instructions
 * (docs/performance.md). No library writes JSON from a pack format without a tree. The
 * output is the same text; tests/unit/test_jsonw.c compares the two. */
#include "jsonw.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "strbuf.h"

/* One member of a format: its value's specifier and modifier ('?', '*' or 0). */
struct spec {
    char type, modifier;
};

/* The next member's spec at *p (past it after the call): 1 read, 0 the end ('}'), -1 not a
 * format jsonw writes. */
static int next_spec(const char **p, struct spec *out)
{
    const char *s = *p;
    while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n')
        s++;
    if (*s == '}') {
        s++;
        while (*s == ' ')
            s++;
        *p = s;
        return *s == '\0' ? 0 : -1;
    }
    if (*s++ != 's')
        return -1;
    while (*s == ' ')
        s++;
    if (*s++ != ':')
        return -1;
    while (*s == ' ')
        s++;
    out->type = *s++;
    out->modifier = 0;
    bool nullable = false; /* takes '?' and '*' */
    switch (out->type) {
    case 's':
    case 'o':
    case 'O':
        nullable = true;
        break;
    case 'i':
    case 'I':
    case 'b':
    case 'f':
    case 'n':
        break;
    default:
        return -1;
    }
    if (*s == '?' || *s == '*') {
        if (!nullable)
            return -1;
        out->modifier = *s++;
    }
    *p = s;
    return 1;
}

/* Past the opening brace: NULL when fmt does not start with one. */
static const char *open_brace(const char *fmt)
{
    while (*fmt == ' ')
        fmt++;
    return *fmt == '{' ? fmt + 1 : NULL;
}

bool jsonw_format_ok(const char *fmt)
{
    const char *p = fmt != NULL ? open_brace(fmt) : NULL;
    if (p == NULL)
        return false;
    struct spec sp;
    for (int rc; (rc = next_spec(&p, &sp)) != 0;)
        if (rc < 0)
            return false;
    return true;
}

/* The length of the UTF-8 sequence at p (left bytes there): 0 when it is not one. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing past U+10FFFF */
    } else {
        return 0;
    }
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

int jsonw_string(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    /* The longest it can be: every byte as \u00XX, and the quotes. */
    if (n > (SIZE_MAX / 4 - 2) / 6 || strbuf_reserve(buf, len, cap, 6 * n + 2) < 0)
        return -ENOMEM;
    const unsigned char *u = (const unsigned char *)s;
    char *out = *buf + *len;
    *out++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            /* A run of bytes written as they are, copied at once. */
            size_t run = i + 1;
            while (run < n && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' && u[run] != '\\')
                run++;
            memcpy(out, s + i, run - i);
            out += run - i;
            i = run;
        } else if (c >= 0x80) {
            size_t k = utf8_seq(u + i, n - i);
            if (k == 0) {
                (*buf)[*len] = '\0';
                return -EINVAL;
            }
            memcpy(out, s + i, k);
            out += k;
            i += k;
        } else {
            *out++ = '\\';
            switch (c) {
            case '"':
            case '\\':
                *out++ = (char)c;
                break;
            case '\b':
                *out++ = 'b';
                break;
            case '\f':
                *out++ = 'f';
                break;
            case '\n':
                *out++ = 'n';
                break;
            case '\r':
                *out++ = 'r';
                break;
            case '\t':
                *out++ = 't';
                break;
            default:
                memcpy(out, "u00", 3);
                out[3] = hex[c >> 4];
                out[4] = hex[c & 15];
                out += 5;
            }
            i++;
        }
    }
    *out++ = '"';
    *out = '\0';
    *len = (size_t)(out - *buf);
    return 0;
}

static int append_int(char **buf, size_t *len, size_t *cap, int64_t v)
{
    char digits[24];
    char *p = digits + sizeof digits;
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + m % 10);
        m /= 10;
    } while (m > 0);
    if (v < 0)
        *--p = '-';
    return strbuf_append(buf, len, cap, p, (size_t)(digits + sizeof digits - p));
}

/* As jansson writes a real: 17 significant digits, ".0" when that reads as an integer, and an
 * exponent without '+' or leading zeros. */
static int append_real(char **buf, size_t *len, size_t *cap, double v)
{
    if (!isfinite(v))
        return -EINVAL;
    char text[40];
    int n = snprintf(text, sizeof text, "%.17g", v);
    if (n < 0 || (size_t)n >= sizeof text - 2)
        return -EINVAL;
    char *e = strchr(text, 'e');
    if (e != NULL) {
        char *from = e + 1, *to = e + 1;
        if (*from == '+')
            from++;
        else if (*from == '-')
            *to++ = *from++;
        while (*from == '0' && from[1] != '\0')
            from++;
        memmove(to, from, strlen(from) + 1);
        n = (int)strlen(text);
    } else if (strchr(text, '.') == NULL) {
        memcpy(text + n, ".0", 3);
        n += 2;
    }
    return strbuf_append(buf, len, cap, text, (size_t)n);
}

static int append_json(char **buf, size_t *len, size_t *cap, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_INTEGER:
        return append_int(buf, len, cap, json_integer_value(j));
    case JSON_STRING:
        return jsonw_string(buf, len, cap, json_string_value(j), json_string_length(j));
    case JSON_TRUE:
        return strbuf_append(buf, len, cap, "true", 4);
    case JSON_FALSE:
        return strbuf_append(buf, len, cap, "false", 5);
    case JSON_NULL:
        return strbuf_append(buf, len, cap, "null", 4);
    default: {
        char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text == NULL)
            return -ENOMEM;
        int rc = strbuf_append(buf, len, cap, text, strlen(text));
        free(text);
        return rc;
    }
    }
}

/* One member's value from the arguments: 1 written, 0 left out (a '*' with NULL), <0. An o's
 * reference is released either way. */
static int member_value(char **buf, size_t *len, size_t *cap, struct spec sp, va_list *ap)
{
    int rc;
    switch (sp.type) {
    case 's': {
        const char *s = va_arg(*ap, const char *);
        if (s == NULL && sp.modifier == '*')
            return 0;
        rc = s == NULL ? (sp.modifier == '?' ? strbuf_append(buf, len, cap, "null", 4) : -EINVAL)
                       : jsonw_string(buf, len, cap, s, strlen(s));
        break;
    }
    case 'i':
    case 'I': {
        int64_t v = sp.type == 'i' ? va_arg(*ap, int) : (int64_t)va_arg(*ap, json_int_t);
        rc = append_int(buf, len, cap, v);
        break;
    }
    case 'b':
        rc = va_arg(*ap, int) ? strbuf_append(buf, len, cap, "true", 4)
                              : strbuf_append(buf, len, cap, "false", 5);
        break;
    case 'f':
        rc = append_real(buf, len, cap, va_arg(*ap, double));
        break;
    case 'n':
        rc = strbuf_append(buf, len, cap, "null", 4);
        break;
    default: { /* o, O */
        json_t *j = va_arg(*ap, json_t *);
        if (j == NULL && sp.modifier == '*')
            return 0;
        if (j == NULL) {
            rc = sp.modifier == '?' ? strbuf_append(buf, len, cap, "null", 4) : -EINVAL;
            break;
        }
        rc = append_json(buf, len, cap, j);
        if (sp.type == 'o')
            json_decref(j);
        break;
    }
    }
    return rc < 0 ? rc : 1;
}

int jsonw_vmembers(char **buf, size_t *len, size_t *cap, size_t start, const char *fmt, va_list *ap)
{
    if (!jsonw_format_ok(fmt))
        return -ENOTSUP;
    if (*buf == NULL && strbuf_append(buf, len, cap, "", 0) < 0)
        return -ENOMEM;
    size_t begin = *len;
    const char *p = open_brace(fmt);
    struct spec sp;
    int failed = 0;
    while (next_spec(&p, &sp) == 1) {
        const char *key = va_arg(*ap, const char *);
        size_t at = *len;
        int rc = failed < 0 ? failed : (key == NULL ? -EINVAL : 0);
        if (rc == 0 && *len > start)
            rc = strbuf_append(buf, len, cap, ",", 1);
        if (rc == 0)
            rc = jsonw_string(buf, len, cap, key, strlen(key));
        if (rc == 0)
            rc = strbuf_append(buf, len, cap, ":", 1);
        if (rc == 0) {
            rc = member_value(buf, len, cap, sp, ap);
            if (rc == 0) { /* left out: its key too */
                *len = at;
                (*buf)[at] = '\0';
            }
        } else { /* only consumed, so that every o is released */
            char *none = NULL;
            size_t nl = 0, nc = 0;
            member_value(&none, &nl, &nc, sp, ap);
            free(none);
        }
        if (rc < 0)
            failed = rc;
    }
    if (failed < 0) {
        *len = begin;
        (*buf)[begin] = '\0';
        return failed;
    }
    return 0;
}

int jsonw_pack(char **out, size_t *out_len, const char *fmt, ...)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    va_list ap;
    va_start(ap, fmt);
    int rc = strbuf_append(&buf, &len, &cap, "{", 1);
    rc = rc == 0 ? jsonw_vmembers(&buf, &len, &cap, 1, fmt, &ap) : rc;
    va_end(ap);
    if (rc == 0)
        rc = strbuf_append(&buf, &len, &cap, "}", 1);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = len;
    return 0;
}
