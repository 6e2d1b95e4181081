/* Per-key token buckets (registration rate limit per client IP): capacity = burst, refilled
 * at rate_per_min / 60 tokens per second. Pure apart from its own memory: the caller passes
 * the time. Bounded: at most max_keys buckets; the least recently used full bucket is
 * recycled, so a flood of source addresses cannot grow memory. Thread-safe. */
#ifndef ROUNDHOUSE_RATELIMIT_H
#define ROUNDHOUSE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit;

/* NULL (errno EINVAL) unless max_keys >= 1, rate_per_min >= 1 and burst >= 1; NULL (ENOMEM)
 * when out of memory. Keys longer than 63 bytes are told apart by their first 63. */
struct ratelimit *ratelimit_new(long rate_per_min, long burst, unsigned max_keys);
void ratelimit_free(struct ratelimit *rl);
/* Takes one token for key at now_ms. Returns true when allowed; otherwise false and
 * *retry_after_s is how long until a token is available (>= 1). */
bool ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms, int *retry_after_s);
/* Whether ratelimit_take would allow key at now_ms, without taking a token (the login limit
 * counts only failures, but refuses every attempt once they are used up). A key never seen
 * is allowed and takes no bucket. */
bool ratelimit_available(struct ratelimit *rl, const char *key, int64_t now_ms, int *retry_after_s);

#endif
