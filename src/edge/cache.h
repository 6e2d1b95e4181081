/* The edge state directory's runtime-config cache (format: docs/edge-state.md).
 *
 *   <state-dir>/config.json       current runtime config
 *   <state-dir>/config.prev.json  previous one (last known good)
 *
 * Each file is an envelope {"format":1, "cached_at":"<ISO-8601 UTC>", "config":{...},
 * "checksum":"sha256:<hex>"} whose checksum covers the envelope without "checksum"; the
 * runtime config inside keeps the central's own checksum, verified as well. Validation is
 * pure (the caller passes now) so every corruption case is unit-tested. */
#ifndef ROUNDHOUSE_EDGE_CACHE_H
#define ROUNDHOUSE_EDGE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "protocol.h"
#define CACHE_FILE_MAX PROTO_RUNTIME_CONFIG_READ_MAX
#define CACHE_CURRENT "config.json"
#define CACHE_PREVIOUS "config.prev.json"
/* A cached_at this far ahead of the clock is still accepted: two hosts' clocks, or a clock
 * adjusted by NTP after the write, commonly differ by a few seconds. */
#define CACHE_FUTURE_SKEW_MS (60 * 1000)
#define CACHE_MAX_TRAINS PROTO_CONTROLLER_TRAINS_MAX

enum cache_verdict {
    CACHE_VALID = 0, /* usable */
    CACHE_STALE,     /* intact but older than the maximum age: not driven */
    CACHE_MISSING,   /* no file */
    CACHE_INVALID,   /* unreadable, corrupt, wrong checksum, bad schema, cached_at before 1970 */
};

const char *cache_verdict_name(enum cache_verdict v);

/* Schema and checksum of a runtime config (docs/api.md). 0, or -EINVAL with the reason. */
int cache_config_validate(const json_t *config, char *reason, size_t reasonlen);

/* A runtime config downloaded from the central, before it is applied (docs/edge-state.md):
 *
 *   cache_config_parse: the body is a JSON object (duplicate keys rejected), at most
 *     CACHE_FILE_MAX bytes. 0 with *doc a new reference, or -EBADMSG (*doc untouched).
 *   cache_config_check: its own checksum, then the schema, then that it is for own_uuid
 *     (NULL or "": not checked). 0; -EBADMSG when the checksum is missing or wrong (it may
 *     have been damaged in transit: worth another download); -EINVAL when the content is
 *     wrong (refused for good).
 *
 * Both pure; reason (may be NULL) says why. */
int cache_config_parse(const char *text, size_t len, json_t **doc, char *reason, size_t reasonlen);
int cache_config_check(const json_t *config, const char *own_uuid, char *reason, size_t reasonlen);

/* Checks one envelope file's text. On CACHE_VALID / CACHE_STALE *config receives a new
 * reference to the runtime config and *cached_at_ms its time; reason explains the other
 * verdicts (and staleness). max_age_ms 0 means no limit. */
enum cache_verdict cache_entry_check(const char *text, size_t len, int64_t now_ms,
                                     int64_t max_age_ms, json_t **config, int64_t *cached_at_ms,
                                     char *reason, size_t reasonlen);

/* Serialises an envelope for config cached at now_ms. *out is malloc'd. 0 or -errno. */
int cache_entry_build(const json_t *config, int64_t now_ms, char **out, size_t *len);

/* Which of current/previous to use: the first valid one, else the first stale one, else none
 * (-1). 0 = current, 1 = previous. */
int cache_select(enum cache_verdict current, enum cache_verdict previous);

struct cache_boot {
    json_t *config;             /* owned; NULL when neither file is usable */
    enum cache_verdict verdict; /* of the chosen file; CACHE_MISSING/INVALID when none */
    const char *source;         /* "current", "previous" or NULL */
    int64_t cached_at_ms;
    /* The chosen file was written "after" now: this clock is behind. It is still used. */
    bool clock_behind;
    enum cache_verdict current, previous;
    char current_reason[160];
    char previous_reason[160];
};

/* Reads and checks both files. Never fails on bad content (that is a verdict); returns
 * negative errno only on allocation failure. */
int cache_load(const char *dir, int64_t now_ms, int64_t max_age_ms, struct cache_boot *out);
void cache_boot_clear(struct cache_boot *b);

/* Writes config as the current cache; the old current becomes the previous one unless it
 * holds the same checksum (so "previous" stays a different, older config). 0 or -errno. */
int cache_store(const char *dir, const json_t *config, int64_t now_ms);

/* Whether name is a temporary file of an atomic write to one of the state directory's files
 * ("config.json.tmp.<pid>", also of config.prev.json, identity.json, session.json). */
bool cache_leftover_name(const char *name);
/* Removes such temporary files: at boot, before anything is written, they can only be left
 * over by a process that died in the middle of a write (kill -9, power cut). Never read:
 * whatever they hold, the rename that would have made it the real file did not happen.
 * Assumes one edge per state directory. *removed receives how many went (also on failure).
 * 0 or negative errno (a missing directory is not an error). */
int cache_leftovers_remove(const char *dir, int *removed);

/* A state file's text as cache_write_sealed wrote it: one JSON object of at most max bytes
 * (duplicate keys refused) whose "checksum" matches. The document (a new reference), or NULL
 * for anything else. */
json_t *cache_read_sealed(const char *text, size_t len, size_t max);

/* out = dir/file; -ENAMETOOLONG when it does not fit in outlen bytes, else 0. */
int cache_path(char *out, size_t outlen, const char *dir, const char *file);

/* Writes a small state file (identity, session epoch, credential): doc gets a "checksum" key
 * (SHA-256 of its canonical JSON without it), is written indented with sorted keys, temp file
 * + fsync + rename, mode 0600, creating dir (0700) when missing. A NULL doc (a json_pack that
 * failed) is -ENOMEM. 0 or negative errno; doc stays the caller's. */
int cache_write_sealed(const char *dir, const char *path, json_t *doc);

#endif
