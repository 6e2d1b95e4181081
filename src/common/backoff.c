#include "backoff.h"

int64_t backoff_ceiling_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms)
{
    int64_t ceil = base_ms;
    /* Stop at the cap before doubling past it: ceil * 2 could overflow for caps near
     * INT64_MAX, and a non-positive base never grows, whatever the attempt number. */
    for (unsigned i = 0; i < attempt && ceil > 0 && ceil < cap_ms; i++)
        ceil = ceil > cap_ms / 2 ? cap_ms : ceil * 2;
    return ceil > cap_ms ? cap_ms : ceil;
}

int64_t backoff_delay_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms, uint64_t rnd)
{
    int64_t ceil = backoff_ceiling_ms(attempt, base_ms, cap_ms);
    if (ceil <= 0)
        return 0;
    return (int64_t)(rnd % ((uint64_t)ceil + 1));
}

uint64_t backoff_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}
