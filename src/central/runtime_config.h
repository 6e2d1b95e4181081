/* The runtime configuration document a controller downloads (docs/api.md): its identity,
 * broker, heartbeat interval and assigned trains, versioned by the controller's
 * config_version and sealed with the SHA-256 checksum of its canonical JSON. */
#ifndef ROUNDHOUSE_RUNTIME_CONFIG_H
#define ROUNDHOUSE_RUNTIME_CONFIG_H

#include <jansson.h>
#include <stdbool.h>

#include "canon.h"
#include "protocol.h"

struct runtime_broker {
    const char *host;
    int port;
    const char *username; /* NULL: not handed out */
    const char *password;
    bool tls; /* the broker is reached over TLS: written as "tls": true (absent otherwise) */
};

/* controller: a store row; trains: store rows assigned to it (desired), in order.
 * Returns a new document including "checksum", or NULL on allocation failure. */
json_t *runtime_config_build(const json_t *controller, const json_t *trains,
                             const struct runtime_broker *broker, int heartbeat_interval);
/* The same document as the text a download answers with (*text, malloc'd) and its checksum,
 * serialised once for both: the canonical text with the "checksum" key put first. 0 or
 * -ENOMEM. */
int runtime_config_text(const json_t *controller, const json_t *trains,
                        const struct runtime_broker *broker, int heartbeat_interval, char **text,
                        char checksum[CANON_CHECKSUM_LEN + 1]);

/* The texts of the documents downloaded last, one per controller in a fixed number of slots
 * (a controller's slot is its id's hash; a collision replaces the older one): a download
 * whose inputs are all equal to those that made its slot's text answers with that text, with
 * no document built, serialised or hashed again. The inputs are everything the document is
 * made of (the controller's id, name and config_version, the train rows, the broker, the
 * interval), compared in full, so a hit is the text building would give. Thread-safe. */
struct runtime_config_cache;
struct runtime_config_cache *runtime_config_cache_new(unsigned slots);
void runtime_config_cache_free(struct runtime_config_cache *cache);
/* runtime_config_text through the cache (NULL: none, always built); *len is the text's
 * length. */
int runtime_config_cached_text(struct runtime_config_cache *cache, const json_t *controller,
                               const json_t *trains, const struct runtime_broker *broker,
                               int heartbeat_interval, char **text, size_t *len,
                               char checksum[CANON_CHECKSUM_LEN + 1]);

#endif
