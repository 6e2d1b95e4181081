/* Deterministic identities of simulated controllers and trains.
 *
 * Every identity is a pure function of (seed, index), so a second run with the same --seed
 * presents the same UUIDs, names and train ids: to the central it is the same fleet
 * rebooting with cached identities, exactly what a real edge with a state directory does. */
#ifndef ROUNDHOUSE_FLEET_SIMID_H
#define ROUNDHOUSE_FLEET_SIMID_H

#include <stddef.h>
#include <stdint.h>

#include "uuidstr.h"

/* Longest train id the edge accepts (src/edge/cache.c): simulated ids stay well below. */
#define SIMID_TRAIN_MAX 64
#define SIMID_NAME_MAX 48

/* A canonical lower-case version-4-shaped UUID derived from SHA-256 of (seed, index). */
void simid_uuid(uint64_t seed, long index, char out[UUIDSTR_LEN + 1]);
/* Controller name "fleet-<seed>-<index>". 0 or -ENAMETOOLONG. */
int simid_name(uint64_t seed, long index, char *out, size_t outlen);
/* Name prefix shared by every controller of one seed ("fleet-<seed>-"). 0 or -ENAMETOOLONG. */
int simid_name_prefix(uint64_t seed, char *out, size_t outlen);
/* Train id "fl<seed>-c<index>-t<k>". 0 or -ENAMETOOLONG. */
int simid_train_id(uint64_t seed, long index, int k, char *out, size_t outlen);

#endif
