/* UUIDs as canonical lower-case 8-4-4-4-12 strings (libuuid underneath). */
#ifndef ROUNDHOUSE_UUIDSTR_H
#define ROUNDHOUSE_UUIDSTR_H

#include <stdbool.h>

#define UUIDSTR_LEN 36

/* A fresh random (version 4) UUID. */
void uuidstr_generate(char out[UUIDSTR_LEN + 1]);
/* True when s is exactly a canonical lower-case UUID. */
bool uuidstr_valid(const char *s);
/* Accepts upper or lower case hex in 8-4-4-4-12 form (surrounding whitespace trimmed) and
 * writes the canonical lower-case form. 0 or -EINVAL. */
int uuidstr_normalize(const char *s, char out[UUIDSTR_LEN + 1]);

#endif
