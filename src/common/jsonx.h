/* Typed access to JSON request bodies with errors that name the offending key.
 *
 * Every getter returns 0 when the key is absent (output untouched, *present = false if given),
 * 1 when present and valid (output written), or a negative value when present but invalid;
 * then err->field and err->detail describe the problem for an HTTP 422 body. */
#ifndef ROUNDHOUSE_JSONX_H
#define ROUNDHOUSE_JSONX_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct jsonx_err {
    char field[64];
    char detail[192];
};

/* String of minlen..maxlen characters (UTF-8 code points; embedded NUL rejected). allow_null: JSON
 * null accepted and reported as *out = NULL with return 1. */
int jsonx_string(const json_t *obj, const char *key, size_t minlen, size_t maxlen, bool allow_null,
                 const char **out, struct jsonx_err *err);
int jsonx_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
              struct jsonx_err *err);
int jsonx_bool(const json_t *obj, const char *key, bool *out, struct jsonx_err *err);
/* A JSON object (not copied). allow_null as for strings. */
int jsonx_object(const json_t *obj, const char *key, bool allow_null, json_t **out,
                 struct jsonx_err *err);
/* A canonical UUID string; upper case is accepted and normalised. */
int jsonx_uuid(const json_t *obj, const char *key, bool allow_null, char out[37], bool *is_null,
               struct jsonx_err *err);
void jsonx_err_set(struct jsonx_err *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
