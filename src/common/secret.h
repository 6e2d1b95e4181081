/* Per-controller credentials (docs/security.md, "Controller credentials"): a random secret the
 * central issues once, the edge keeps, and the central stores only as a hash.
 *
 * A secret is 32 bytes from getrandom(2) written as 64 lower-case hex digits. Nothing here
 * allocates; every function is safe on any input. */
#ifndef ROUNDHOUSE_SECRET_H
#define ROUNDHOUSE_SECRET_H

#include <stdbool.h>

#include "sha256.h"

#define SECRET_BYTES 32
#define SECRET_HEX_LEN (2 * SECRET_BYTES)

/* A new secret. 0, or a negative errno when the kernel's random source failed (the caller
 * must not hand out anything then). */
int secret_generate(char out[SECRET_HEX_LEN + 1]);
/* Whether s has the shape of a secret (exactly 64 lower-case hex digits). */
bool secret_valid(const char *s);
/* The hash stored for a secret: SHA-256, hex. */
void secret_hash(const char *secret, char out[SHA256_HEX_LEN + 1]);
/* Whether the secret hashes to the stored hash, compared in constant time (the time taken
 * tells nothing about how many leading digits matched). False for a malformed secret or
 * hash. */
bool secret_matches(const char *secret, const char *stored_hash);
/* Whether two strings are equal, in time that depends only on their lengths. */
bool secret_equal(const char *a, const char *b);

#endif
