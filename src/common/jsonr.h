/* Reading the JSON request bodies of frequent requests (registrations, heartbeats, commands)
 * without jansson's lexer, which reads a byte at a time through two function calls and costs
 * more than the rest of such a request's handler (about 150 instructions per byte).
 *
 * jsonr reads a subset of JSON whose value it can give exactly as jansson would: an object at
 * the top, nested objects and arrays up to JSONR_DEPTH_MAX deep, strings of printable ASCII
 * without escapes, integers of up to 18 digits, true, false and null, with JSON's
 * whitespace. Anything else (an escape, a byte of 0x80 or more, a fraction or exponent, a
 * duplicate key, a syntax error) is left to jansson, which gives the value or the error
 * message: the result is always json_loadb's. */
#ifndef ROUNDHOUSE_JSONR_H
#define ROUNDHOUSE_JSONR_H

#include <jansson.h>
#include <stddef.h>

#define JSONR_DEPTH_MAX 16

/* The object in text (len bytes) when it is of the subset above; NULL when it is not (or
 * memory ran out): then read it with json_loadb. */
json_t *jsonr_subset(const char *text, size_t len);

/* json_loadb(text, len, flags, err) with jsonr_subset's reading first. Flags are
 * JSON_REJECT_DUPLICATES and JSON_DECODE_ANY or neither (the subset has no duplicates and
 * an object at the top, which both read the same). */
json_t *jsonr_loadb(const char *text, size_t len, size_t flags, json_error_t *err);

#endif
