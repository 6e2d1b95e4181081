/* Strict parsing of numbers and option values: the whole string must be consumed, ranges are
 * checked, and nothing is written on failure. All return 0 or -EINVAL / -ERANGE. */
#ifndef ROUNDHOUSE_PARSE_H
#define ROUNDHOUSE_PARSE_H

#include <stdbool.h>
#include <stddef.h>

int parse_long(const char *s, long min, long max, long *out);
int parse_int(const char *s, int min, int max, int *out);
int parse_double(const char *s, double min, double max, double *out);
/* true/false, yes/no, on/off, 1/0 (case-insensitive). */
int parse_bool(const char *s, bool *out);
/* "host:port", "[v6]:port". Host copied into host (hostlen bytes); port 0-65535. */
int parse_host_port(const char *s, char *host, size_t hostlen, int *port);
/* "N/MIN" or "N" (per minute), N >= 1. */
int parse_rate_per_min(const char *s, long *out);

#endif
