#include "paging.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "parse.h"
#include "presence.h"
#include "protocol.h"

static int refuse(struct paging_err *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(struct paging_err *err, const char *field, const char *fmt, ...)
{
    snprintf(err->field, sizeof err->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
    return -1;
}

static int parse_limit(const char *s, int *out, struct paging_err *err)
{
    /* Digits only: "+5", " 5" or "5.0" are refused rather than read as 5. */
    bool digits = s[0] != '\0';
    for (const char *p = s; *p; p++)
        digits = digits && *p >= '0' && *p <= '9';
    if (!digits || parse_int(s, 1, PAGING_LIMIT_MAX, out) < 0)
        return refuse(err, "limit", "'limit' must be a whole number 1-%d", PAGING_LIMIT_MAX);
    return 0;
}

/* "online,stale": a set of presence states. */
static int parse_presence(const char *s, unsigned *out, struct paging_err *err)
{
    unsigned set = 0;
    const char *p = s;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        char word[16];
        int state = -1;
        if (n < sizeof word) {
            memcpy(word, p, n);
            word[n] = '\0';
            state = presence_parse(word);
        }
        if (state < 0)
            return refuse(err, "presence",
                          "'presence' must be online, stale, offline or unknown, or several "
                          "of them separated by commas");
        set |= 1u << state;
        p += n;
        if (*p == ',' && *++p == '\0')
            return refuse(err, "presence", "'presence' must not end with a comma");
    }
    *out = set;
    return 0;
}

/* UTF-8 (jansson refuses what is not), at most PROTO_NAME_MAX characters, ASCII letters
 * lower-cased: the store matches it against names folded the same way. */
static int parse_name(const char *s, char *out, struct paging_err *err)
{
    json_t *j = json_string(s);
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        chars += (*p & 0xC0) != 0x80;
    json_decref(j);
    if (j == NULL || chars > PROTO_NAME_MAX || strlen(s) > PAGING_KEY_MAX)
        return refuse(err, "name", "'name' must be UTF-8 text of at most %d characters",
                      PROTO_NAME_MAX);
    size_t i = 0;
    for (; s[i] != '\0'; i++)
        out[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
    out[i] = '\0';
    return 0;
}

static int copy_key(const json_t *v, char *out)
{
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) > PAGING_KEY_MAX || strlen(s) != json_string_length(v))
        return -1;
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static int parse_cursor(char kind, const char *s, struct paging_args *a, struct paging_err *err)
{
    size_t len = strlen(s);
    unsigned char *raw = NULL;
    size_t rawlen = 0;
    json_t *doc = NULL;
    int rc = -1;
    if (len > 0 && len <= PAGING_CURSOR_MAX && (raw = malloc(len)) != NULL &&
        sodium_base642bin(raw, len, s, len, NULL, &rawlen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0)
        doc = json_loadb((const char *)raw, rawlen, 0, NULL);
    const char *k = json_string_value(json_array_get(doc, 0));
    if (json_is_array(doc) && json_array_size(doc) == 3 && k != NULL && k[0] == kind &&
        k[1] == '\0' && copy_key(json_array_get(doc, 1), a->after_name) == 0 &&
        copy_key(json_array_get(doc, 2), a->after_id) == 0)
        rc = 0;
    free(raw);
    json_decref(doc);
    if (rc < 0)
        return refuse(err, "cursor",
                      "'cursor' must be the next_cursor of an earlier page of this list, "
                      "unchanged");
    a->has_after = true;
    return 0;
}

int paging_parse(char kind, const char *limit, const char *cursor, const char *presence,
                 const char *name, struct paging_args *out, struct paging_err *err)
{
    if (limit == NULL && cursor == NULL && presence == NULL && name == NULL)
        return 0;
    struct paging_args a = {0};
    a.limit = PAGING_LIMIT_DEFAULT;
    if (limit != NULL && parse_limit(limit, &a.limit, err) < 0)
        return -1;
    if (cursor != NULL && parse_cursor(kind, cursor, &a, err) < 0)
        return -1;
    if (presence != NULL && parse_presence(presence, &a.presence, err) < 0)
        return -1;
    if (name != NULL && parse_name(name, a.name_part, err) < 0)
        return -1;
    *out = a;
    return 1;
}

char *paging_cursor(char kind, const char *name, const char *id)
{
    if (strlen(name) > PAGING_KEY_MAX || strlen(id) > PAGING_KEY_MAX)
        return NULL;
    char k[2] = {kind, '\0'};
    json_t *doc = json_pack("[s, s, s]", k, name, id);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL)
        return NULL;
    size_t len = strlen(text);
    size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(cap);
    if (out != NULL)
        sodium_bin2base64(out, cap, (const unsigned char *)text, len,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    free(text);
    return out;
}
