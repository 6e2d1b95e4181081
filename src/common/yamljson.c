/* YAML -> jansson through libyaml's event parser. The tree is built with an explicit stack of
 * open containers, so input nesting never turns into C recursion. */
#include "yamljson.h"

#include "fileio.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TAG_STR "tag:yaml.org,2002:str"
#define TAG_INT "tag:yaml.org,2002:int"
#define TAG_FLOAT "tag:yaml.org,2002:float"
#define TAG_BOOL "tag:yaml.org,2002:bool"
#define TAG_NULL "tag:yaml.org,2002:null"
#define TAG_MAP "tag:yaml.org,2002:map"
#define TAG_SEQ "tag:yaml.org,2002:seq"

/* How much of a scalar or key is quoted back in an error message. */
#define QUOTE_MAX 40

struct frame {
    json_t *node; /* borrowed: owned by the parent container or by the root */
    char *key;    /* mappings only: the key waiting for its value, or NULL */
};

struct builder {
    const char *name; /* file name for messages, or NULL */
    char *err;
    size_t errlen;
    json_t *root;
    struct frame stack[YAMLJSON_MAX_DEPTH];
    int depth;
};

static void err_vset(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void err_vset(char *err, size_t errlen, const char *fmt, va_list ap)
{
    int n;

    if (!err || errlen == 0)
        return;
    n = vsnprintf(err, errlen, fmt, ap);
    /* A cut message still names the place; mark the cut instead of failing. */
    if (n >= 0 && (size_t)n >= errlen && errlen > 4)
        memcpy(err + errlen - 4, "...", 4);
}

static void err_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void err_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_vset(err, errlen, fmt, ap);
    va_end(ap);
}

/* "NAME:LINE:COL: message" (libyaml marks are 0-based). */
static int fail(struct builder *b, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct builder *b, yaml_mark_t mark, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    err_vset(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (b->name)
        err_set(b->err, b->errlen, "%s:%zu:%zu: %s", b->name, mark.line + 1, mark.column + 1, msg);
    else
        err_set(b->err, b->errlen, "%zu:%zu: %s", mark.line + 1, mark.column + 1, msg);
    return -EINVAL;
}

static bool all_in(const char *s, const char *set)
{
    if (*s == '\0')
        return false;
    return s[strspn(s, set)] == '\0';
}

static bool is_null_word(const char *s)
{
    return !strcmp(s, "") || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

static bool is_bool_word(const char *s, bool *value)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        *value = true;
        return true;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        *value = false;
        return true;
    }
    return false;
}

/* 1: s is a core-schema integer (stored in *value), 0: it is not, -ERANGE: it is one but does
 * not fit json_int_t. */
static int int_match(const char *s, json_int_t *value)
{
    const char *digits = s;
    char *end = NULL;
    long long v;

    if (!strncmp(s, "0x", 2) || !strncmp(s, "0o", 2)) {
        int base = s[1] == 'x' ? 16 : 8;
        unsigned long long u;

        if (!all_in(s + 2, base == 16 ? "0123456789abcdefABCDEF" : "01234567"))
            return 0;
        errno = 0;
        u = strtoull(s + 2, &end, base);
        if (*end != '\0')
            return 0;
        if (errno == ERANGE || u > (unsigned long long)LLONG_MAX)
            return -ERANGE;
        *value = (json_int_t)u;
        return 1;
    }
    if (*digits == '+' || *digits == '-')
        digits++;
    if (!all_in(digits, "0123456789"))
        return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0')
        return 0;
    if (errno == ERANGE)
        return -ERANGE;
    *value = (json_int_t)v;
    return 1;
}

/* Core schema float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool float_syntax(const char *s)
{
    size_t n;

    if (*s == '+' || *s == '-')
        s++;
    if (*s == '.') {
        n = strspn(s + 1, "0123456789");
        if (n == 0)
            return false;
        s += 1 + n;
    } else {
        n = strspn(s, "0123456789");
        if (n == 0)
            return false;
        s += n;
        if (*s == '.') {
            s++;
            s += strspn(s, "0123456789");
        }
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        n = strspn(s, "0123456789");
        if (n == 0)
            return false;
        s += n;
    }
    return *s == '\0';
}

static bool is_inf_nan_word(const char *s)
{
    if (*s == '+' || *s == '-') {
        s++;
        return !strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF");
    }
    return !strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF") || !strcmp(s, ".nan") ||
           !strcmp(s, ".NaN") || !strcmp(s, ".NAN");
}

enum want { WANT_ANY, WANT_NULL, WANT_BOOL, WANT_INT, WANT_FLOAT };

/* Resolves a plain scalar (or one with an explicit core tag: want) into a new JSON value. */
static int scalar_resolve(struct builder *b, const char *s, enum want want, yaml_mark_t mark,
                          json_t **out)
{
    json_int_t iv = 0;
    bool bv = false;

    if ((want == WANT_ANY || want == WANT_NULL) && is_null_word(s)) {
        *out = json_null();
        return 0;
    }
    if ((want == WANT_ANY || want == WANT_BOOL) && is_bool_word(s, &bv)) {
        *out = json_boolean(bv);
        return 0;
    }
    if (want == WANT_ANY || want == WANT_INT || want == WANT_FLOAT) {
        int rc = int_match(s, &iv);
        if (rc == -ERANGE && want != WANT_FLOAT)
            return fail(b, mark, "integer '%.*s' is out of range", QUOTE_MAX, s);
        if (rc == 1 && want != WANT_FLOAT) {
            *out = json_integer(iv);
            return *out ? 0 : -ENOMEM;
        }
    }
    if (want == WANT_ANY || want == WANT_FLOAT) {
        if (is_inf_nan_word(s))
            return fail(b, mark, "'%s' (infinity or NaN) cannot be represented in JSON", s);
        if (float_syntax(s)) {
            double d;

            errno = 0;
            d = strtod(s, NULL);
            if (errno == ERANGE && isinf(d))
                return fail(b, mark, "number '%.*s' is out of range", QUOTE_MAX, s);
            *out = json_real(d);
            return *out ? 0 : -ENOMEM;
        }
    }
    if (want != WANT_ANY) {
        static const char *const names[] = {"", "!!null", "!!bool", "!!int", "!!float"};

        return fail(b, mark, "'%.*s' is not a valid %s", QUOTE_MAX, s, names[want]);
    }
    *out = json_string(s);
    return *out ? 0 : -ENOMEM;
}

static int scalar_value(struct builder *b, const yaml_event_t *ev, json_t **out)
{
    const char *s = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    enum want want = WANT_ANY;

    if (!tag || !strcmp(tag, "!")) {
        if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || tag) {
            *out = json_string(s);
            return *out ? 0 : -ENOMEM;
        }
        return scalar_resolve(b, s, WANT_ANY, ev->start_mark, out);
    }
    if (!strcmp(tag, TAG_STR)) {
        *out = json_string(s);
        return *out ? 0 : -ENOMEM;
    }
    if (!strcmp(tag, TAG_NULL))
        want = WANT_NULL;
    else if (!strcmp(tag, TAG_BOOL))
        want = WANT_BOOL;
    else if (!strcmp(tag, TAG_INT))
        want = WANT_INT;
    else if (!strcmp(tag, TAG_FLOAT))
        want = WANT_FLOAT;
    else
        return fail(b, ev->start_mark, "unsupported tag '%.*s'", QUOTE_MAX, tag);
    return scalar_resolve(b, s, want, ev->start_mark, out);
}

/* Attaches v (a new reference, always consumed) to the open container or makes it the root. */
static int value_attach(struct builder *b, json_t *v)
{
    struct frame *top;
    int rc = 0;

    if (b->depth == 0) {
        b->root = v;
        return 0;
    }
    top = &b->stack[b->depth - 1];
    if (json_is_array(top->node)) {
        if (json_array_append_new(top->node, v) < 0)
            rc = -ENOMEM;
    } else {
        if (json_object_set_new(top->node, top->key, v) < 0)
            rc = -ENOMEM;
        free(top->key);
        top->key = NULL;
    }
    return rc;
}

static bool expecting_key(const struct builder *b)
{
    const struct frame *top;

    if (b->depth == 0)
        return false;
    top = &b->stack[b->depth - 1];
    return json_is_object(top->node) && !top->key;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    json_t *v = NULL;
    int rc;

    if (memchr(s, '\0', len))
        return fail(b, ev->start_mark, "NUL characters in scalars are not supported");
    if (expecting_key(b)) {
        struct frame *top = &b->stack[b->depth - 1];

        if (json_object_get(top->node, s))
            return fail(b, ev->start_mark, "duplicate key '%.*s'", QUOTE_MAX, s);
        top->key = strdup(s);
        return top->key ? 0 : -ENOMEM;
    }
    rc = scalar_value(b, ev, &v);
    if (rc < 0)
        return rc;
    return value_attach(b, v);
}

static int on_container_start(struct builder *b, const yaml_event_t *ev, bool mapping)
{
    const char *tag = mapping ? (const char *)ev->data.mapping_start.tag
                              : (const char *)ev->data.sequence_start.tag;
    json_t *node = NULL;
    int rc;

    if (expecting_key(b))
        return fail(b, ev->start_mark, "mapping keys must be scalars, not %s",
                    mapping ? "mappings" : "sequences");
    if (tag && strcmp(tag, "!") != 0 && strcmp(tag, mapping ? TAG_MAP : TAG_SEQ) != 0)
        return fail(b, ev->start_mark, "unsupported tag '%.*s'", QUOTE_MAX, tag);
    if (b->depth >= YAMLJSON_MAX_DEPTH)
        return fail(b, ev->start_mark, "nesting deeper than %d levels", YAMLJSON_MAX_DEPTH);
    node = mapping ? json_object() : json_array();
    if (!node)
        return -ENOMEM;
    rc = value_attach(b, node);
    if (rc < 0)
        return rc;
    b->stack[b->depth].node = node;
    b->stack[b->depth].key = NULL;
    b->depth++;
    return 0;
}

static int parser_fail(struct builder *b, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "malformed YAML";
    const char *name = b->name ? b->name : "";
    const char *sep = b->name ? ":" : "";

    switch (p->error) {
    case YAML_MEMORY_ERROR:
        err_set(b->err, b->errlen, "%s%sout of memory", name, b->name ? ": " : "");
        return -ENOMEM;
    case YAML_READER_ERROR:
        err_set(b->err, b->errlen, "%s%sbyte %zu: %s", name, b->name ? ": " : "", p->problem_offset,
                problem);
        return -EINVAL;
    default:
        break;
    }
    if (p->context)
        err_set(b->err, b->errlen, "%s%s%zu:%zu: %s (%s at %zu:%zu)", name, sep,
                p->problem_mark.line + 1, p->problem_mark.column + 1, problem, p->context,
                p->context_mark.line + 1, p->context_mark.column + 1);
    else
        err_set(b->err, b->errlen, "%s%s%zu:%zu: %s", name, sep, p->problem_mark.line + 1,
                p->problem_mark.column + 1, problem);
    return -EINVAL;
}

static int load(const char *name, const char *buf, size_t len, json_t **out, char *err,
                size_t errlen)
{
    struct builder b = {.name = name, .err = err, .errlen = errlen};
    yaml_parser_t parser;
    yaml_event_t ev;
    bool have_event = false;
    bool done = false;
    int rc = 0;
    int i;

    if (!buf || !out)
        return -EINVAL;
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);

    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parser_fail(&b, &parser);
            goto out;
        }
        have_event = true;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            rc = fail(&b, ev.start_mark, "no YAML document (empty input)");
            goto out;
        case YAML_DOCUMENT_END_EVENT:
            /* Later documents are not read: the first one is the configuration. */
            done = true;
            break;
        case YAML_ALIAS_EVENT:
            rc = fail(&b, ev.start_mark, "aliases (*%.*s) are not supported", QUOTE_MAX,
                      (const char *)ev.data.alias.anchor);
            goto out;
        case YAML_SCALAR_EVENT:
            rc = on_scalar(&b, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = on_container_start(&b, &ev, false);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = on_container_start(&b, &ev, true);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            b.depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        have_event = false;
        if (rc < 0)
            goto out;
    }
    if (!b.root) {
        rc = -EINVAL; /* libyaml always emits a node per document; be safe anyway */
        err_set(err, errlen, "%s%sno YAML document", name ? name : "", name ? ": " : "");
        goto out;
    }
    *out = b.root;
    b.root = NULL;
out:
    if (rc == -ENOMEM && err && errlen)
        err_set(err, errlen, "%s%sout of memory", name ? name : "", name ? ": " : "");
    if (have_event)
        yaml_event_delete(&ev);
    for (i = 0; i < b.depth; i++)
        free(b.stack[i].key);
    json_decref(b.root);
    yaml_parser_delete(&parser);
    return rc;
}

int yamljson_load_buffer(const char *buf, size_t len, json_t **out, char *err, size_t errlen)
{
    return load(NULL, buf, len, out, err, errlen);
}

int yamljson_load_file(const char *path, size_t max_bytes, json_t **out, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    char reason[128];
    int rc;

    if (!path || !out)
        return -EINVAL;
    rc = fileio_read_all(path, max_bytes, &buf, &len);
    if (rc == -EFBIG) {
        err_set(err, errlen, "%s: file is larger than %zu bytes", path, max_bytes);
        goto out;
    }
    if (rc == -EINVAL) {
        err_set(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    if (rc < 0) {
        if (strerror_r(-rc, reason, sizeof(reason)) != 0)
            snprintf(reason, sizeof(reason), "error %d", -rc);
        err_set(err, errlen, "%s: cannot read: %s", path, reason);
        goto out;
    }
    rc = load(path, buf, len, out, err, errlen);
out:
    free(buf);
    return rc;
}
