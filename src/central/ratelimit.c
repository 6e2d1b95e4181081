#include "ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bucket {
    char key[64];
    double tokens;
    int64_t updated_ms;
};

struct ratelimit {
    double per_ms;
    double burst;
    unsigned max_keys;
    unsigned used;
    struct bucket *buckets;
    pthread_mutex_t lock;
};

struct ratelimit *ratelimit_new(long rate_per_min, long burst, unsigned max_keys)
{
    /* No bucket to put a key in, no refill (the retry time would divide by zero), or a
     * bucket that can never hold a token: refused rather than a limiter that misbehaves. */
    if (max_keys == 0 || rate_per_min < 1 || burst < 1) {
        errno = EINVAL;
        return NULL;
    }
    struct ratelimit *rl = calloc(1, sizeof *rl);
    if (rl == NULL)
        return NULL;
    rl->buckets = calloc(max_keys, sizeof *rl->buckets);
    if (rl->buckets == NULL) {
        free(rl);
        return NULL;
    }
    rl->per_ms = (double)rate_per_min / 60000.0;
    rl->burst = (double)burst;
    rl->max_keys = max_keys;
    pthread_mutex_init(&rl->lock, NULL);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->buckets);
    free(rl);
}

static void refill(struct ratelimit *rl, struct bucket *b, int64_t now_ms)
{
    if (now_ms > b->updated_ms) {
        b->tokens += (double)(now_ms - b->updated_ms) * rl->per_ms;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
        b->updated_ms = now_ms;
    }
}

/* Linear scan: the number of distinct registering addresses is small (one per controller
 * host, or one NAT address), and the table is bounded. */
static struct bucket *find(struct ratelimit *rl, const char *key, int64_t now_ms)
{
    struct bucket *oldest = &rl->buckets[0]; /* max_keys >= 1 (ratelimit_new) */
    for (unsigned i = 0; i < rl->used; i++) {
        struct bucket *b = &rl->buckets[i];
        /* Keys are kept cut to the bucket's size: compared the same way, so that a long key
         * finds its bucket again instead of a fresh (full) one on every call. */
        if (strncmp(b->key, key, sizeof b->key - 1) == 0)
            return b;
        if (b->updated_ms < oldest->updated_ms)
            oldest = b;
    }
    /* A new key takes a free bucket, or recycles the least recently used one (it had refilled
     * the longest). */
    struct bucket *b = rl->used < rl->max_keys ? &rl->buckets[rl->used++] : oldest;
    snprintf(b->key, sizeof b->key, "%s", key);
    b->tokens = rl->burst;
    b->updated_ms = now_ms;
    return b;
}

bool ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms, int *retry_after_s)
{
    pthread_mutex_lock(&rl->lock);
    struct bucket *b = find(rl, key, now_ms);
    refill(rl, b, now_ms);
    bool ok = b->tokens >= 1.0;
    if (ok) {
        b->tokens -= 1.0;
    } else if (retry_after_s != NULL) {
        double wait_ms = (1.0 - b->tokens) / rl->per_ms;
        int s = (int)((wait_ms + 999.0) / 1000.0);
        *retry_after_s = s < 1 ? 1 : s;
    }
    pthread_mutex_unlock(&rl->lock);
    return ok;
}

bool ratelimit_available(struct ratelimit *rl, const char *key, int64_t now_ms, int *retry_after_s)
{
    bool ok = true;
    pthread_mutex_lock(&rl->lock);
    for (unsigned i = 0; i < rl->used; i++) {
        struct bucket *b = &rl->buckets[i];
        if (strncmp(b->key, key, sizeof b->key - 1) != 0)
            continue;
        refill(rl, b, now_ms);
        ok = b->tokens >= 1.0;
        if (!ok && retry_after_s != NULL) {
            double wait_ms = (1.0 - b->tokens) / rl->per_ms;
            int s = (int)((wait_ms + 999.0) / 1000.0);
            *retry_after_s = s < 1 ? 1 : s;
        }
        break;
    }
    pthread_mutex_unlock(&rl->lock);
    return ok;
}
