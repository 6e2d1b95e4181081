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
    IDENTITY_NONE,       /* neither: the central assigns one at the first registration */
};

const char *identity_origin_name(enum identity_origin o);

/* Pure: the UUID of an identity file's text. 0 or -EINVAL. */
int identity_parse(const char *text, size_t len, char uuid[UUIDSTR_LEN + 1]);

/* Loads identity.json; when it is missing or corrupt, uses fallback_uuid (the UUID of an
 * intact cached config, may be NULL) and writes the file. With neither, uuid is "" and
 * origin IDENTITY_NONE: the edge registers without a UUID and keeps the one the central
 * answers (identity_save), so that a brand-new controller is "registered", and a rebuilt
 * one that lost its volume can be matched by name ("existing"), instead of presenting an
 * invented UUID as a "restored" one. 0 or negative errno (state directory not writable: the
 * recovered UUID is still returned, since driving trains matters more than persisting it). */
int identity_load(const char *dir, const char *fallback_uuid, int64_t now_ms,
                  char uuid[UUIDSTR_LEN + 1], enum identity_origin *origin);

/* Writes identity.json atomically. 0 or negative errno. */
int identity_save(const char *dir, const char *uuid, int64_t now_ms);

#endif
