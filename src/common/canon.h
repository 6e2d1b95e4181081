/* Canonical JSON (sorted keys, no whitespace) and the "sha256:<hex>" checksum of a document.
 * Central and edge both compute checksums here, so they always agree. */
#ifndef ROUNDHOUSE_CANON_H
#define ROUNDHOUSE_CANON_H

#include <jansson.h>

#define CANON_CHECKSUM_LEN (7 + 64) /* "sha256:" + hex */

/* Canonical text of doc. *out is malloc'd, caller frees. 0 or -ENOMEM / -EINVAL. */
int canon_dump(const json_t *doc, char **out);
/* Checksum of doc without its top-level "checksum" key (doc itself is not modified).
 * out receives "sha256:<64 hex>". 0 or negative errno. */
int canon_checksum(const json_t *doc, char out[CANON_CHECKSUM_LEN + 1]);
/* The checksum of a canonical text already made by canon_dump (of a document that has no
 * "checksum" key): for a writer that also sends or stores that text. */
void canon_text_checksum(const char *text, size_t len, char out[CANON_CHECKSUM_LEN + 1]);

#endif
