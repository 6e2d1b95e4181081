/* YAML documents as jansson trees: the central's bootstrap file and the edge's config file.
 *
 * Mapping -> object, sequence -> array. Plain (unquoted) scalars are resolved by the YAML 1.2
 * core schema:
 *   null, Null, NULL, ~, empty          -> null
 *   true, True, TRUE, false, False, FALSE -> boolean ("yes"/"on" are strings, as in YAML 1.2)
 *   [-+]?[0-9]+, 0x[0-9a-fA-F]+, 0o[0-7]+ -> integer (outside the json_int_t range: error)
 *   [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)? -> real
 *   .inf, .nan and friends               -> error: JSON cannot represent them
 *   anything else                        -> string
 * Quoted and block (| >) scalars are always strings. Mapping keys must be scalars and are taken
 * as their text (so `1: x` gives the key "1"); a key repeated in one mapping is an error.
 * Explicit core tags (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq) are honoured; other
 * tags are an error. Aliases (*name) are rejected: they make small files expand into huge
 * trees; anchors (&name) alone are accepted and ignored. Scalars containing NUL characters are
 * rejected. Nesting deeper than YAMLJSON_MAX_DEPTH is an error.
 *
 * Only the first document of a stream is read; a stream without any document (empty file,
 * only comments) is an error. A document consisting of `---` alone loads as JSON null.
 *
 * Errors: 0 on success with *out set to a new reference the caller owns (json_decref). On
 * failure *out is untouched and err (if non-NULL) receives "NAME:LINE:COLUMN: problem"
 * (NAME is the path for files; buffers have no NAME prefix), e.g.
 *   "config.yaml:12:3: duplicate key 'name'". Codes: -EINVAL malformed or unsupported YAML,
 * -EFBIG file larger than max_bytes, -ENOMEM, or the negative errno of reading the file
 * (-ENOENT, -EACCES, ...). */
#ifndef ROUNDHOUSE_YAMLJSON_H
#define ROUNDHOUSE_YAMLJSON_H

#include <jansson.h>
#include <stddef.h>

#define YAMLJSON_MAX_DEPTH 64

int yamljson_load_buffer(const char *buf, size_t len, json_t **out, char *err, size_t errlen);
int yamljson_load_file(const char *path, size_t max_bytes, json_t **out, char *err, size_t errlen);

#endif
