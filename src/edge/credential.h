/* The controller's secret (docs/security.md, "Controller credentials"): issued by the central
 * at the first registration, kept in <state-dir>/credential.json (mode 0600, written
 * atomically, sealed with a checksum like identity.json) together with the UUID it belongs
 * to, and presented as X-Controller-Secret on registration, heartbeat and config download.
 * Format in docs/edge-state.md. */
#ifndef ROUNDHOUSE_EDGE_CREDENTIAL_H
#define ROUNDHOUSE_EDGE_CREDENTIAL_H

#include <stddef.h>
#include <stdint.h>

#include "secret.h"
#include "uuidstr.h"

#define CREDENTIAL_FILE "credential.json"
#define CREDENTIAL_FILE_MAX (16 * 1024)

enum credential_state {
    CREDENTIAL_NONE = 0, /* no file (never issued), or it belongs to another UUID */
    CREDENTIAL_LOADED,   /* intact, for this UUID */
    CREDENTIAL_INVALID,  /* unreadable or corrupt: the central will refuse this UUID */
};

const char *credential_state_name(enum credential_state s);

/* Pure: the UUID and secret of a credential file's text. 0 or -EINVAL. */
int credential_parse(const char *text, size_t len, char uuid[UUIDSTR_LEN + 1],
                     char secret[SECRET_HEX_LEN + 1]);

/* Loads the secret for uuid. Never fails the boot: a missing file gives CREDENTIAL_NONE and
 * secret "", an unreadable or corrupt one CREDENTIAL_INVALID with why filled in (the caller
 * logs it and reports it in /health, and keeps driving from its cache). */
enum credential_state credential_load(const char *dir, const char *uuid,
                                      char secret[SECRET_HEX_LEN + 1], char *why, size_t whylen);

/* Writes credential.json atomically with mode 0600. 0 or negative errno. */
int credential_save(const char *dir, const char *uuid, const char *secret, int64_t now_ms);

#endif
