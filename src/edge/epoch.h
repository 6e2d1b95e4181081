/* The session epoch of this controller: every process start is a new session with a higher
 * epoch, carried by the MQTT birth and will, the registration and the heartbeats, so that the
 * central can ignore whatever a previous process left behind (a will delivered late, a
 * retained birth). The last epoch is kept in <state-dir>/session.json (format in
 * docs/edge-state.md) because an edge that boots from its cache announces its epoch on MQTT
 * before it can ask the central for one.
 *
 * Parsing and the decisions are pure; epoch_load / epoch_save do the file I/O. */
#ifndef ROUNDHOUSE_EDGE_EPOCH_H
#define ROUNDHOUSE_EDGE_EPOCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EPOCH_FILE "session.json"
#define EPOCH_FILE_MAX (64 * 1024)
/* The central accepts epochs up to INT64_MAX / 2. */
#define EPOCH_MAX (INT64_MAX / 2)

/* Pure: the epoch stored in a session file's text for controller uuid. 0, or -EINVAL when
 * the text is corrupt (checksum, schema) or belongs to another controller. */
int epoch_parse(const char *text, size_t len, const char *uuid, int64_t *epoch);

/* Pure: the epoch of a new process, from the last one stored (< 1: none stored). */
int64_t epoch_next(int64_t stored);

/* Pure: whether the will armed with epoch armed must be replaced after the central answered
 * a registration with epoch answered (a will of an older epoch would be ignored). */
bool epoch_rearm_needed(int64_t armed, int64_t answered);

/* The stored epoch of controller uuid: 0 with *epoch set, -ENOENT when there is none,
 * -EINVAL when the file is corrupt or another controller's. */
int epoch_load(const char *dir, const char *uuid, int64_t *epoch);

/* Writes session.json atomically. 0 or negative errno. */
int epoch_save(const char *dir, const char *uuid, int64_t epoch, int64_t now_ms);

#endif
