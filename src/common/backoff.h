/* Exponential backoff with full jitter (AWS architecture blog): the delay before retry n
 * (n = 0 for the first retry) is uniform in [0, min(cap, base * 2^n)]. Pure: the caller
 * passes the random source. */
#ifndef ROUNDHOUSE_BACKOFF_H
#define ROUNDHOUSE_BACKOFF_H

#include <stdint.h>

/* Upper bound of the delay for attempt n: min(cap, base * 2^n), overflow-safe. */
int64_t backoff_ceiling_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms);
/* Full-jitter delay; rnd is any uniformly distributed 64-bit value. */
int64_t backoff_delay_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms, uint64_t rnd);
/* A small xorshift64* generator for jitter (not for secrets). *state must be non-zero. */
uint64_t backoff_rand(uint64_t *state);

#endif
