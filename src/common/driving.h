/* A train's driving settings, as the central keeps them and the runtime config carries them
 * to the edge's ramp: one rule set for both, so that the central never accepts settings an
 * edge would refuse (protocol.h says why that matters).
 *
 *   {"acceleration_s": 0-600, "braking_s": 0-600, "min_speed": 0-99, "max_speed": 1-100,
 *    "start_resumes": bool}
 *
 * Every key is optional (null counts as absent). acceleration_s / braking_s: seconds for a full
 * 0->100 / 100->0 change, a smaller change taking its share; 0 = at once; absent = the default
 * ramp (3 s for any change). min_speed / max_speed: the motor output for speed 1 and 100
 * (min_speed below max_speed). start_resumes: `start` returns to the last speed before a stop
 * instead of 50. Unknown keys are refused. */
#ifndef ROUNDHOUSE_DRIVING_H
#define ROUNDHOUSE_DRIVING_H

#include <jansson.h>
#include <stddef.h>

#define DRIVING_MOMENTUM_MAX_S 600

/* 0 when d (an object) follows the rules; else -EINVAL, with the key at fault in field (may be
 * NULL) and the reason in why. */
int driving_check(const json_t *d, char *field, size_t fieldlen, char *why, size_t whylen);

#endif
