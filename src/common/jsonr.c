/* jsonr.h. Hand-written because the one JSON library this project uses, jansson, reads a
 * byte at a time through its stream and buffer functions; a request body of 170 bytes cost
 * 23,000 instructions there, more than the registration's SQL. This reads only a subset,
 * and gives everything else to jansson, so there is one JSON grammar and one set of error
 * messages: jansson's. fuzz/fuzz_json.c checks that whatever this reads, jansson reads to
 * an equal value. */
#include "jsonr.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Where a read is: the text left, and the nesting depth. */
struct reader {
    const char *p, *end;
    int depth;
};

static void skip_space(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

/* Whether the value just read ends where JSON lets it: at the end, at whitespace or at
 * the next structural character. */
static bool at_delimiter(const struct reader *r)
{
    if (r->p == r->end)
        return true;
    char c = *r->p;
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == ',' || c == ']' || c == '}';
}

/* A string of printable ASCII without escapes, r->p at its opening quote: its bytes, or
 * NULL. */
static const char *read_string(struct reader *r, size_t *len)
{
    const char *start = ++r->p;
    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            *len = (size_t)(r->p - start);
            r->p++;
            return start;
        }
        if (c < 0x20 || c >= 0x80 || c == '\\')
            return NULL;
        r->p++;
    }
    return NULL;
}

/* -?(0|[1-9][0-9]*) of at most 18 digits, which fits any json_int_t. */
static json_t *read_integer(struct reader *r)
{
    bool negative = *r->p == '-';
    if (negative)
        r->p++;
    const char *digits = r->p;
    int64_t v = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9' && r->p - digits < 18) {
        v = v * 10 + (*r->p - '0');
        r->p++;
    }
    size_t n = (size_t)(r->p - digits);
    /* A 19th digit is not a delimiter: jansson's. */
    if (n == 0 || (n > 1 && *digits == '0') || !at_delimiter(r))
        return NULL;
    return json_integer(negative ? -v : v);
}

static json_t *read_literal(struct reader *r, const char *word, size_t n, json_t *value)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return NULL;
    r->p += n;
    return at_delimiter(r) ? value : NULL;
}

static json_t *read_value(struct reader *r);

/* An object or an array, r->p at its opening bracket. */
static json_t *read_container(struct reader *r, bool object)
{
    if (++r->depth > JSONR_DEPTH_MAX)
        return NULL;
    char close = object ? '}' : ']';
    json_t *out = object ? json_object() : json_array();
    r->p++;
    skip_space(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        r->depth--;
        return out;
    }
    while (out != NULL) {
        const char *key = NULL;
        size_t keylen = 0;
        if (object) {
            if (r->p == r->end || *r->p != '"' || (key = read_string(r, &keylen)) == NULL ||
                json_object_getn(out, key, keylen) != NULL) /* a duplicate: jansson's rule */
                break;
            skip_space(r);
            if (r->p == r->end || *r->p != ':')
                break;
            r->p++;
            skip_space(r);
        }
        json_t *v = read_value(r);
        if (v == NULL || (object ? json_object_setn_new_nocheck(out, key, keylen, v)
                                 : json_array_append_new(out, v)) < 0)
            break;
        skip_space(r);
        if (r->p < r->end && *r->p == close) {
            r->p++;
            r->depth--;
            return out;
        }
        if (r->p == r->end || *r->p != ',')
            break;
        r->p++;
        skip_space(r);
    }
    json_decref(out);
    return NULL;
}

static json_t *read_value(struct reader *r)
{
    if (r->p == r->end)
        return NULL;
    switch (*r->p) {
    case '{':
        return read_container(r, true);
    case '[':
        return read_container(r, false);
    case '"': {
        size_t len;
        const char *s = read_string(r, &len);
        return s != NULL ? json_stringn_nocheck(s, len) : NULL;
    }
    case 't':
        return read_literal(r, "true", 4, json_true());
    case 'f':
        return read_literal(r, "false", 5, json_false());
    case 'n':
        return read_literal(r, "null", 4, json_null());
    default:
        return *r->p == '-' || (*r->p >= '0' && *r->p <= '9') ? read_integer(r) : NULL;
    }
}

json_t *jsonr_subset(const char *text, size_t len)
{
    struct reader r = {text, text + len, 0};
    skip_space(&r);
    if (r.p == r.end || *r.p != '{')
        return NULL;
    json_t *doc = read_container(&r, true);
    skip_space(&r);
    if (doc != NULL && r.p != r.end) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

json_t *jsonr_loadb(const char *text, size_t len, size_t flags, json_error_t *err)
{
    /* Flags that change what a text reads as are jansson's alone. */
    const size_t same = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;
    json_t *doc = (flags & ~same) == 0 ? jsonr_subset(text, len) : NULL;
    return doc != NULL ? doc : json_loadb(text, len, flags, err);
}
