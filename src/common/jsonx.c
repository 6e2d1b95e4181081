#include "jsonx.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "uuidstr.h"

void jsonx_err_set(struct jsonx_err *err, const char *field, const char *fmt, ...)
{
    if (err == NULL)
        return;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
}

static json_t *lookup(const json_t *obj, const char *key)
{
    return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

int jsonx_string(const json_t *obj, const char *key, size_t minlen, size_t maxlen, bool allow_null,
                 const char **out, struct jsonx_err *err)
{
    json_t *v = lookup(obj, key);
    if (v == NULL)
        return 0;
    if (json_is_null(v) && allow_null) {
        *out = NULL;
        return 1;
    }
    if (!json_is_string(v)) {
        jsonx_err_set(err, key, "'%s' must be a string", key);
        return -1;
    }
    size_t bytes = json_string_length(v);
    const char *text = json_string_value(v);
    /* Lengths are characters (UTF-8 code points; jansson has validated the encoding), as
     * people count them in a name field. */
    size_t len = 0;
    for (size_t i = 0; i < bytes; i++)
        len += ((unsigned char)text[i] & 0xC0) != 0x80;
    if (len < minlen || len > maxlen || strlen(text) != bytes) {
        if (strlen(text) != bytes)
            jsonx_err_set(err, key, "'%s' must not contain NUL characters", key);
        else
            jsonx_err_set(err, key, "'%s' must be %zu to %zu characters long", key, minlen, maxlen);
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

int jsonx_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
              struct jsonx_err *err)
{
    json_t *v = lookup(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_integer(v)) {
        jsonx_err_set(err, key, "'%s' must be an integer", key);
        return -1;
    }
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        jsonx_err_set(err, key, "'%s' must be between %lld and %lld", key, (long long)min,
                      (long long)max);
        return -1;
    }
    *out = (int64_t)i;
    return 1;
}

int jsonx_bool(const json_t *obj, const char *key, bool *out, struct jsonx_err *err)
{
    json_t *v = lookup(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v)) {
        jsonx_err_set(err, key, "'%s' must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

int jsonx_object(const json_t *obj, const char *key, bool allow_null, json_t **out,
                 struct jsonx_err *err)
{
    json_t *v = lookup(obj, key);
    if (v == NULL)
        return 0;
    if (json_is_null(v) && allow_null) {
        *out = NULL;
        return 1;
    }
    if (!json_is_object(v)) {
        jsonx_err_set(err, key, "'%s' must be an object", key);
        return -1;
    }
    *out = v;
    return 1;
}

int jsonx_uuid(const json_t *obj, const char *key, bool allow_null, char out[37], bool *is_null,
               struct jsonx_err *err)
{
    json_t *v = lookup(obj, key);
    if (v == NULL)
        return 0;
    if (json_is_null(v) && allow_null) {
        if (is_null)
            *is_null = true;
        return 1;
    }
    if (!json_is_string(v) || uuidstr_normalize(json_string_value(v), out) < 0) {
        jsonx_err_set(err, key, "'%s' must be a UUID (8-4-4-4-12 hex digits)", key);
        return -1;
    }
    if (is_null)
        *is_null = false;
    return 1;
}
