/* Clocks and ISO-8601 UTC timestamps ("2026-11-27T10:15:00Z"). */
#ifndef ROUNDHOUSE_TIMEUTIL_H
#define ROUNDHOUSE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TIMEUTIL_ISO_LEN 20 /* "YYYY-MM-DDTHH:MM:SSZ" */

/* Wall clock, milliseconds since the epoch. */
int64_t timeutil_now_ms(void);
/* Monotonic clock in milliseconds (for timers and durations), and in microseconds. */
int64_t timeutil_mono_ms(void);
int64_t timeutil_mono_us(void);
/* The CLOCK_MONOTONIC time ms milliseconds from now (ms >= 0), for pthread_cond_timedwait
 * on a condition variable set to that clock. */
struct timespec timeutil_mono_after(int64_t ms);
/* Formats seconds since the epoch as ISO-8601 UTC with Z. 0 or -EINVAL. */
int timeutil_format(int64_t unix_s, char out[TIMEUTIL_ISO_LEN + 1]);
/* Same, with milliseconds: "2026-11-27T10:15:00.123Z" (needs 25 bytes). */
int timeutil_format_ms(int64_t unix_ms, char *out, size_t outlen);
/* Parses "YYYY-MM-DDTHH:MM:SS[.fff](Z|+00:00|±HH:MM)" (also a space instead of T, and the
 * earlier system's "YYYY-MM-DD HH:MM:SS" without zone, taken as UTC) into milliseconds
 * since the epoch. 0 or -EINVAL. */
int timeutil_parse_ms(const char *s, int64_t *out_ms);

#endif
