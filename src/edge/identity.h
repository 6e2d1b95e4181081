/* The controller's identity: <state-dir>/identity.json holds its UUID, which survives
 * container rebuilds (the state directory is a volume) and central database resets (the
 * central adopts the UUID presented). Format in docs/edge-state.md. */
#ifndef ROUNDHOUSE_EDGE_IDENTITY_H
#define ROUNDHOUSE_EDGE_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "uuidstr.h"

#define IDENTITY_FILE "identity.json"
#define IDENTITY_FILE_MAX (64 * 1024)

enum identity_origin {
    IDENTITY_LOADED = 0, /* identity.json intact */
    IDENTITY_RECOVERED,  /* identity.json missing or corrupt, UUID taken from the cache */
    IDENTITY_GENERATED,  /* first boot */
};

const char *identity_origin_name(enum identity_origin o);

/* Pure: the UUID of an identity file's text. 0 or -EINVAL. */
int identity_parse(const char *text, size_t len, char uuid[UUIDSTR_LEN + 1]);

/* Loads identity.json; when it is missing or corrupt, uses fallback_uuid (the UUID of an
 * intact cached config, may be NULL) or generates a new UUID, and writes the file.
 * 0 or negative errno (state directory not writable: the UUID is still returned, since
 * driving trains matters more than persisting it). */
int identity_load(const char *dir, const char *fallback_uuid, int64_t now_ms,
                  char uuid[UUIDSTR_LEN + 1], enum identity_origin *origin);

/* Writes identity.json atomically. 0 or negative errno. */
int identity_save(const char *dir, const char *uuid, int64_t now_ms);

#endif
