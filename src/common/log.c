#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "jsonw.h"
#include "strbuf.h"
#include "timeutil.h"

static enum log_level min_level = RH_LOG_INFO;
static enum log_format out_format = LOG_FORMAT_JSON;

static const char *const level_names[] = {"debug", "info", "warning", "error"};

void log_setup(enum log_level level, enum log_format format)
{
    min_level = level;
    out_format = format;
}

int log_level_parse(const char *s, enum log_level *out)
{
    if (s == NULL)
        return -EINVAL;
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warn") == 0) {
        *out = RH_LOG_WARNING;
        return 0;
    }
    return -EINVAL;
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (s != NULL && strcasecmp(s, "json") == 0) {
        *out = LOG_FORMAT_JSON;
        return 0;
    }
    if (s != NULL && strcasecmp(s, "text") == 0) {
        *out = LOG_FORMAT_TEXT;
        return 0;
    }
    return -EINVAL;
}

bool log_enabled(enum log_level level)
{
    return level >= min_level;
}

static void write_all(const char *p, size_t left)
{
    while (left > 0) {
        ssize_t n = write(STDERR_FILENO, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        p += n;
        left -= (size_t)n;
    }
}

/* The lines a thread holds between log_hold and log_release, whole lines only. */
#define HOLD_MAX 65536
struct held_lines {
    /* cppcheck-suppress unusedStructMember ; used through a _Thread_local, unseen by cppcheck */
    bool on;
    /* cppcheck-suppress unusedStructMember ; as above */
    char *buf;
    /* cppcheck-suppress unusedStructMember ; as above */
    size_t len;
    /* cppcheck-suppress unusedStructMember ; as above */
    size_t cap;
};
static _Thread_local struct held_lines held;

void log_hold(void)
{
    held.on = true;
}

static void flush_held(void)
{
    write_all(held.buf, held.len);
    held.len = 0;
}

void log_release(void)
{
    held.on = false;
    flush_held();
}

void log_hold_free(void)
{
    log_release();
    free(held.buf);
    held.buf = NULL;
    held.cap = 0;
}

/* One write(2) per line, or per held run of whole lines, so that lines from several threads
 * never interleave. */
static void write_line(char *line, enum log_level level)
{
    size_t len = strlen(line);
    line[len] = '\n';
    if (held.on && level < RH_LOG_WARNING && len + 1 <= HOLD_MAX) {
        if (held.len + len + 1 > HOLD_MAX)
            flush_held();
        if (strbuf_append(&held.buf, &held.len, &held.cap, line, len + 1) == 0) {
            line[len] = '\0';
            return;
        }
    }
    /* A warning or an error is not held: the lines held before it go first. */
    flush_held();
    write_all(line, len + 1);
    line[len] = '\0';
}

static void emit_text(const char *ts, enum log_level level, const char *event, json_t *fields)
{
    /* Room for the prefix whatever the event name's length: ts < 32, level 7, 2 spaces. */
    size_t cap = 256 + (event != NULL ? strlen(event) : 0), len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return;
    int n = snprintf(buf, cap, "%s %-7s %s", ts, level_names[level], event);
    len = n > 0 ? (size_t)n : 0;
    const char *key;
    json_t *value;
    json_object_foreach(fields, key, value)
    {
        char *vtext = json_is_string(value) ? strdup(json_string_value(value))
                                            : json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
        if (vtext == NULL)
            continue;
        size_t need = len + strlen(key) + strlen(vtext) + 4;
        if (need > cap) {
            size_t ncap = need * 2;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                free(vtext);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        n = snprintf(buf + len, cap - len, " %s=%s", key, vtext);
        if (n > 0)
            len += (size_t)n;
        free(vtext);
    }
    char *line = realloc(buf, len + 2);
    if (line != NULL) {
        write_line(line, level);
        free(line);
    } else {
        free(buf);
    }
}

static bool plain_name(const char *s)
{
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

/* ts, level and event first for people reading raw lines; fields keep their order. The line
 * is written as text around the fields' own dump, into a stack buffer when it fits: every
 * request logs, and building a second object for the line cost more than the dump. An event
 * name that would need escaping takes the general path. */
static void emit_json(const char *ts, enum log_level level, const char *event, json_t *fields)
{
    char stack[2048];
    char *buf = stack;
    size_t cap = sizeof stack;
    if (event == NULL || !plain_name(event)) {
        json_t *line =
            json_pack("{s:s, s:s, s:s?}", "ts", ts, "level", level_names[level], "event", event);
        json_object_update(line, fields);
        char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(line);
        if (text != NULL) {
            size_t len = strlen(text);
            char *grown = realloc(text, len + 2);
            if (grown != NULL)
                write_line(grown, level);
            free(grown != NULL ? grown : text);
        }
        return;
    }
    int head = snprintf(buf, cap, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"%s\"", ts,
                        level_names[level], event);
    if (head < 0 || (size_t)head >= cap)
        return;
    /* The fields' dump is "{...}": its inside follows the head, after a comma. */
    size_t room = cap - (size_t)head - 2;
    size_t n = json_dumpb(fields, buf + head, room, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (n == 0)
        return;
    if (n > room) {
        cap = (size_t)head + n + 2;
        buf = malloc(cap);
        if (buf == NULL)
            return;
        memcpy(buf, stack, (size_t)head);
        if (json_dumpb(fields, buf + head, n, JSON_COMPACT | JSON_PRESERVE_ORDER) != n) {
            free(buf);
            return;
        }
    }
    size_t len;
    if (n > 2) {
        buf[head] = ','; /* over its '{'; its '}' closes the line */
        len = (size_t)head + n;
    } else {
        buf[head] = '}'; /* "{}": no fields */
        len = (size_t)head + 1;
    }
    buf[len] = '\0'; /* write_line puts its newline here */
    write_line(buf, level);
    if (buf != stack)
        free(buf);
}

/* The JSON line of a format jsonw writes, without a tree: 0 written, -1 when the format is one
 * it does not write (nothing consumed). Fields that cannot be written (a string that is not
 * UTF-8) give the line json_pack's failure gives below: log_fields_error. */
static int emit_json_direct(const char *ts, enum log_level level, const char *event,
                            const char *fields_fmt, va_list *ap)
{
    if (event == NULL || !plain_name(event))
        return -1;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    /* The three are plain: the timestamp's digits, a level name, plain_name. */
    const char *head[] = {
        "{\"ts\":\"", ts, "\",\"level\":\"", level_names[level], "\",\"event\":\"", event, "\""};
    int rc = 0;
    for (size_t i = 0; i < sizeof head / sizeof head[0] && rc == 0; i++)
        rc = strbuf_append(&buf, &len, &cap, head[i], strlen(head[i]));
    if (rc == 0 && fields_fmt != NULL)
        rc = jsonw_vmembers(&buf, &len, &cap, 0, fields_fmt, ap);
    if (rc == -ENOTSUP) {
        free(buf);
        return -1;
    }
    if (rc == -EINVAL) {
        rc = strbuf_append(&buf, &len, &cap, ",\"log_fields_error\":", 20);
        if (rc == 0)
            rc = jsonw_string(&buf, &len, &cap, fields_fmt, strlen(fields_fmt));
    }
    if (rc == 0 && strbuf_append(&buf, &len, &cap, "}", 1) == 0)
        write_line(buf, level);
    free(buf);
    return 0;
}

void log_event(enum log_level level, const char *event, const char *fields_fmt, ...)
{
    if (!log_enabled(level))
        return;
    char ts[32];
    if (timeutil_format_ms(timeutil_now_ms(), ts, sizeof ts) < 0)
        ts[0] = '\0';

    va_list ap;
    va_start(ap, fields_fmt);
    if (out_format == LOG_FORMAT_JSON && emit_json_direct(ts, level, event, fields_fmt, &ap) == 0) {
        va_end(ap);
        return;
    }
    json_t *fields = NULL;
    if (fields_fmt != NULL) {
        json_error_t jerr;
        fields = json_vpack_ex(&jerr, 0, fields_fmt, ap);
    }
    va_end(ap);
    if (fields == NULL || !json_is_object(fields)) {
        json_decref(fields);
        fields = json_object();
        if (fields_fmt != NULL)
            json_object_set_new(fields, "log_fields_error", json_string(fields_fmt));
    }

    if (out_format == LOG_FORMAT_TEXT) {
        emit_text(ts, level, event, fields);
        json_decref(fields);
        return;
    }

    emit_json(ts, level, event, fields);
    json_decref(fields);
}
