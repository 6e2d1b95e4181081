/* SHA-256 as lower-case hex, through libcrypto (sha256.c says which interface and why). */
#ifndef ROUNDHOUSE_SHA256_H
#define ROUNDHOUSE_SHA256_H

#include <stddef.h>

#define SHA256_HEX_LEN 64

/* Writes 64 lower-case hex digits and a NUL into out. */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);

#endif
