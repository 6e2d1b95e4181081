/* Persistence of the registry. Rows travel as jansson objects whose keys are the column
 * names below, so the HTTP layer and the import/export code share one representation and the
 * SQL stays in the store. Two backends run it: store_sqlite.c (a file, the embedded default)
 * and store_pg.c (PostgreSQL, chosen by a postgresql:// URL); the row operations are written
 * once for both (store_rows.c, store_backend.h), which return the same rows in the same
 * shapes and the same errors.
 *
 * Columns (types as JSON; timestamps are integer seconds since the epoch, null = never):
 *   controllers: id, name, description, address, enabled (bool), first_seen, last_seen,
 *     config_hash, version, platform, hardware_id, memory_mb, cpu_count, config_version,
 *     applied_config_version, session_epoch, offline_epoch (the session whose MQTT will was
 *     received, null while live), metadata (object), created_at, updated_at, secret_hash
 *     (SHA-256 hex of the controller's secret, secret.h; null: none issued). secret_hash is
 *     never shown: views, exports and events pick their keys, and never this one.
 *   trains: id, name, description, model, plugin_name, plugin_config (object),
 *     invert_directions (bool), desired_controller_id, actual_controller_id,
 *     reassignment_status, last_telemetry_at, address (integer 1-9999, unique; null only
 *     inside the transaction that creates the train), driving (object), photo_at (when the
 *     photo was set; null: none), created_at, updated_at
 *   train_status: train_id, speed, direction, target_speed, state, voltage, current, position,
 *     controller_id, reported_at (text, as the edge sent it), updated_at
 *   plugins: name, description, config (object)
 *   users: username, role (viewer | operator | admin), password_hash (libsodium's
 *     crypto_pwhash_str string, Argon2id), created_at, updated_at
 *   credentials: secret_hash (64 hex: SHA-256 of the secret, never the secret itself), id
 *     (16 hex, the public name of the credential), kind (session | token), username, name
 *     (a token's label, null for sessions), created_at, expires_at (null = never)
 *
 * Thread safety: one connection guarded by a mutex that store_begin takes and
 * store_commit/store_rollback release; every other call must happen between them.
 * Errors: 0 on success, -ENOENT when a row is missing, -EEXIST on a key conflict, -EAGAIN on
 * PostgreSQL when a write transaction lost a serialization conflict against another
 * connection (roll back and run the whole transaction again), -EIO for any other database
 * failure (the database's message is logged by the caller via store_last_error). After
 * -ENOENT or -EEXIST the transaction goes on on both backends; after any other error it is
 * over on PostgreSQL (later calls return the same error, store_commit rolls back and returns
 * it): roll back. Returned json_t references belong to the caller. */
#ifndef ROUNDHOUSE_STORE_H
#define ROUNDHOUSE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "presence.h"

struct store;

/* The value of one statement parameter or written column. Statements mark their parameters
 * '?' on both backends, in the order of the values (store_pg.c numbers them for PostgreSQL).
 * Borrowed: text and blob live until the call they are passed to returns. */
struct store_value {
    const char *text; /* TEXT (NULL: SQL NULL) */
    const void *blob;
    int64_t integer; /* INT, BOOL (0 or 1) */
    double real;
    enum { STORE_NULL, STORE_TEXT, STORE_INT, STORE_REAL, STORE_BOOL, STORE_BLOB } kind;
    int len; /* TEXT: its bytes, or -1 up to the NUL; BLOB: its bytes */
};

static inline struct store_value store_null(void)
{
    return (struct store_value){.kind = STORE_NULL};
}

static inline struct store_value store_text(const char *s)
{
    return (struct store_value){.kind = STORE_TEXT, .text = s, .len = -1};
}

static inline struct store_value store_int(int64_t v)
{
    return (struct store_value){.kind = STORE_INT, .integer = v};
}

/* Columns to write, with their C values: what a registration or a heartbeat writes, without
 * building a jansson object that the store would only take apart again. The column names are
 * the table's (a name it lacks fails the statement: -EIO with SQLite's or PostgreSQL's
 * message). */
#define STORE_FIELDS_MAX 31
struct store_fields {
    int n;
    const char *column[STORE_FIELDS_MAX];
    struct store_value value[STORE_FIELDS_MAX];
};

static inline void store_fields_put(struct store_fields *f, const char *column,
                                    struct store_value v)
{
    if (f->n < STORE_FIELDS_MAX) {
        f->column[f->n] = column;
        f->value[f->n] = v;
    }
    f->n++; /* past STORE_FIELDS_MAX: the write refuses it (-E2BIG) */
}

#define STORE_SCHEMA_VERSION 12

/* Whether db names a PostgreSQL database (a postgresql:// or postgres:// URL, as libpq takes
 * it) rather than a SQLite file. */
bool store_is_postgresql(const char *db);
/* db as it may appear in logs: the password of a postgresql://user:password@host/... URL (and
 * a password=... parameter) replaced by ***; a file path unchanged. */
void store_redact(const char *db, char *out, size_t outlen);
/* "sqlite" or "postgresql". */
const char *store_backend_name(const struct store *st);

/* Opens the database (SQLite: creating the file if needed, in WAL mode; PostgreSQL: the
 * database must exist) and upgrades the schema to STORE_SCHEMA_VERSION. max_version <
 * STORE_SCHEMA_VERSION stops at that version (tests build old databases this way); pass
 * STORE_SCHEMA_VERSION normally. */
int store_open(const char *path, int max_version, struct store **out, char *err, size_t errlen);
/* A second connection to the database store_open opened, for work that should not queue
 * behind the requests (WAL lets it run alongside the writer): the presence sweeper's reads
 * and the WAL checkpoints. */
int store_open_maintenance(const char *path, struct store **out, char *err, size_t errlen);
/* A consistent copy of the SQLite database at path (the one this process has open) written
 * to dest, which must not exist or be empty: VACUUM INTO on a connection of its own, whose
 * read transaction lets the writer go on meanwhile. -ENOTSUP for a PostgreSQL URL (pg_dump
 * backs that up), -EIO with err set when SQLite fails. */
int store_backup_into(const char *path, const char *dest, char *err, size_t errlen);
/* Checkpoints are left to store_checkpoint on another connection: the connection that
 * commits a request no longer copies the WAL into the database (and syncs it) in the
 * middle of a request. 0 or -EIO. */
int store_defer_checkpoints(struct store *st);
/* Copies what it can of the WAL into the database without blocking the writer (PASSIVE).
 * 1 when the WAL had changed since the previous call (someone is writing), 0 when not, or
 * -EIO; *wal (when not NULL) the WAL's length and what is still to copy, in frames (pages).
 * On PostgreSQL, which checkpoints by itself, this and store_defer_checkpoints do nothing
 * and return 0.
 *
 * Under writes that never pause, a checkpoint on another connection never catches up with
 * the writer: the WAL is only started over once a checkpoint has copied all of it, so it
 * grew by the whole load (1.2 GB in 10 s of registrations) and the tail latency with it.
 * store_finish_checkpoint asks the writer's connection st to copy what is left itself,
 * right after its next commit, while no other write can start: the WAL is then whole in
 * the database, and the next write starts it over. A WAL file a burst left larger than
 * STORE_WAL_KEEP_BYTES is truncated once the writes pause (by the checkpoint that sees no
 * change), not when it starts over: truncating a large file cost that request tens of
 * milliseconds. */
struct store_wal {
    int frames, left;
};
int store_checkpoint(struct store *st, struct store_wal *wal);
void store_finish_checkpoint(struct store *st);
/* When the checkpoint on another connection has left at most this many frames of a WAL of
 * at least STORE_WAL_FINISH_AT frames, the writer is asked to finish it. */
#define STORE_WAL_FINISH_LEFT 512
#define STORE_WAL_FINISH_AT 4096
/* A WAL file larger than this is truncated when the writes pause. */
#define STORE_WAL_KEEP_BYTES 16777216 /* 16 MiB */
void store_free(struct store *st);
const char *store_last_error(struct store *st);
int store_schema_version(struct store *st, int *out);

/* Called after every successful commit, still under the store's lock, with the ids of the
 * controllers whose config_version was bumped in that transaction (a JSON array of strings,
 * borrowed). The hook may read through the store (no store_begin) but not write. */
typedef void (*store_commit_hook)(void *ctx, struct store *st, const json_t *bumped);
void store_set_commit_hook(struct store *st, store_commit_hook hook, void *ctx);

/* store_begin takes the lock and opens a transaction (write: BEGIN IMMEDIATE); on failure
 * the lock is not held. store_commit and store_rollback always end the transaction and
 * release the lock, exactly once: when COMMIT fails, store_commit rolls back itself and
 * returns -EIO (store_last_error says why, e.g. "disk full writing <file>: ..."), and the
 * caller must not call store_rollback as well. Debug builds abort on a second release. */
int store_begin(struct store *st, bool write);
/* A write transaction that runs after every earlier one begun this way has ended, on every
 * central sharing the database: for the transactions that would otherwise keep failing each
 * other (PostgreSQL's serialization failures, -EAGAIN), such as two centrals numbering new
 * trains at once. PostgreSQL: a session advisory lock (STORE_SERIAL_LOCK) taken before BEGIN,
 * so that the transaction's snapshot holds whatever the lock's previous holder committed,
 * and released when the transaction ends. SQLite: store_begin(st, true), whose BEGIN
 * IMMEDIATE already runs one writer at a time. */
int store_begin_serialized(struct store *st);
/* Whether store_begin_serialized differs from store_begin(st, true) on this backend. */
bool store_serializes(const struct store *st);
/* The advisory lock's key: "Roundhou" read as a big-endian 64-bit integer
 * (0x526f756e64686f75). */
#define STORE_SERIAL_LOCK 5940095550516391797
int store_commit(struct store *st);
void store_rollback(struct store *st);
/* The end of a transaction whose work returned rc: store_commit's result when rc is 0, else
 * rolled back and rc. */
int store_end(struct store *st, int rc);
int store_ping(struct store *st);
/* Whether the database answers (store_ping), outside a transaction: it takes the store's
 * lock, and opens a transaction only where the backend needs one for that. */
int store_check(struct store *st);
/* Whether writes work: false from the first storage failure (disk full, I/O error, read-only
 * or corrupt file, busy) of a write transaction (its BEGIN, a statement or its COMMIT) until a
 * write transaction that put pages on disk commits. On false, error (when not NULL) receives the
 * message of the last such failure. Call outside a transaction; lock-free when writes work. */
bool store_write_state(struct store *st, char *error, size_t errlen);
/* A write transaction that changes one page and no row (the header's user_version), so that a
 * store whose writes failed notices without traffic when they work again. 0 or -EIO. */
int store_probe_write(struct store *st);

int store_controller_get(struct store *st, const char *id, json_t **out);
/* The columns a controller's own frequent calls (registration, heartbeat) decide and answer
 * on, of one controller, read into C values: the row without its other columns, and without
 * a jansson object, which cost more to read than those calls' own work. -ENOENT. */
struct store_controller_brief {
    char id[37];
    char *name, *address, *secret_hash; /* NULL: SQL NULL */
    char *metadata;                     /* the object's JSON text; NULL: SQL NULL */
    int64_t config_version, session_epoch;
    int64_t applied_config_version; /* -1: null */
    bool first_seen;                /* not null */
};
int store_controller_get_brief(struct store *st, const char *id,
                               struct store_controller_brief *out);
/* Frees what out holds (it may be all zeros). */
void store_controller_brief_clear(struct store_controller_brief *b);
/* Fewer still, for the download of its runtime config: id, name, enabled, config_version,
 * secret_hash, metadata. -ENOENT. */
int store_controller_get_for_config(struct store *st, const char *id, json_t **out);
int store_controller_list(struct store *st, json_t **out);
/* Every controller in list order, one row at a time (the row is freed after fn returns), so
 * that a large registry is never held as one tree. A negative return from fn stops. */
int store_controller_foreach(struct store *st, int (*fn)(void *ctx, const json_t *row), void *ctx);
/* The same, for the next limit rows in the list's order (created_at, rowid) after *after,
 * which then holds the last row's key: a keyset, so that the 1,000th page of a long list
 * costs what the first does (pages by OFFSET read every row before them). Start with
 * STORE_LIST_START. */
struct store_list_key {
    int64_t created_at, rowid;
};
#define STORE_LIST_START ((struct store_list_key){INT64_MIN, INT64_MIN})
int store_controller_foreach_after(struct store *st, struct store_list_key *after, int limit,
                                   int (*fn)(void *ctx, const json_t *row), void *ctx);
/* One page of a list (the paged GET /api/controllers and /api/trains, docs/api.md "Paged
 * lists"): rows in order of (name, id), both compared as bytes on either backend, strictly
 * after (after_name, after_id) when after_id is not NULL, that pass the filters; at most
 * limit of them. Keyset, not OFFSET: the database starts at the key in its (name, id) index,
 * and a row inserted or deleted elsewhere in the list shifts nothing. */
struct store_page_query {
    int limit; /* >= 1 */
    const char *after_name, *after_id;
    /* Names containing it, with ASCII letters folded (pass it lower-cased); NULL or "": any. */
    const char *name_part;
    /* Bit 1u << enum presence per state wanted; 0: any. For a controller its own presence;
     * for a train that of the controller its status is reported for (view_train_status:
     * the reporter, else the holder; before any report the holder, else the assignee). */
    unsigned presence;
    struct presence_bounds bounds; /* presence_bounds of the read's now */
};
/* fn gets each row (freed after it returns); a negative return from fn stops. */
int store_controller_page(struct store *st, const struct store_page_query *q,
                          int (*fn)(void *ctx, const json_t *row), void *ctx);
int store_train_page(struct store *st, const struct store_page_query *q,
                     int (*fn)(void *ctx, const json_t *row), void *ctx);

/* The presence columns of one controller, as the presence scan hands them over. */
struct store_presence_row {
    const char *id;
    int64_t last_seen; /* -1: never seen */
    int64_t session_epoch;
    int64_t offline_epoch;
    bool has_offline_epoch; /* false: the broker never reported this controller gone */
};
typedef void (*store_presence_fn)(void *ctx, const struct store_presence_row *row);
/* One controller's presence columns with its name and whether it is enabled: what a command
 * reads of the controller it goes to. out->row.id is NULL; out->name is owned
 * (store_controller_state_clear). -ENOENT. */
struct store_controller_state {
    struct store_presence_row row;
    char *name;
    bool enabled;
};
int store_controller_get_state(struct store *st, const char *id,
                               struct store_controller_state *out);
void store_controller_state_clear(struct store_controller_state *s);
/* Calls fn for every controller with only the columns presence depends on: no row objects,
 * so a pass over ten thousand controllers holds the store briefly. Inside a transaction. */
int store_controller_presence_scan(struct store *st, store_presence_fn fn, void *ctx);
/* Controllers with this exact name, most recently seen first. */
int store_controller_find_by_name(struct store *st, const char *name, json_t **out);
int store_controller_insert(struct store *st, const json_t *row);
/* Sets the columns present in fields. -ENOENT when the id is unknown. */
int store_controller_update(struct store *st, const char *id, const json_t *fields);
/* The same two from C values (struct store_fields): the registration's and the heartbeat's
 * writes. */
int store_controller_insert_fields(struct store *st, const struct store_fields *f);
int store_controller_update_fields(struct store *st, const char *id, const struct store_fields *f);
/* config_version += 1 (and updated_at = now). */
int store_controller_bump_config(struct store *st, const char *id, int64_t now);
int store_controller_delete(struct store *st, const char *id);

int store_train_get(struct store *st, const char *id, json_t **out);
/* One train's placement columns only: what a heartbeat's claim reads, as C strings (NULL:
 * null). -ENOENT. */
struct store_train_placement {
    char *desired_controller_id, *actual_controller_id, *reassignment_status;
};
int store_train_get_placement(struct store *st, const char *id, struct store_train_placement *out);
void store_train_placement_clear(struct store_train_placement *p);
/* All trains, or those whose desired controller is controller_id (when not NULL), in
 * creation order. */
int store_train_list(struct store *st, const char *controller_id, json_t **out);
/* The trains whose desired controller is controller_id, in creation order, with only what
 * their delivery needs: what the runtime config shows of them (id, name, plugin_name,
 * plugin_config, invert_directions, driving) and actual_controller_id. */
int store_train_list_delivery(struct store *st, const char *controller_id, json_t **out);
/* Trains whose desired controller is one of controller_ids (a JSON array of strings), in
 * creation order: the trains of a page of controllers in one query. */
int store_train_list_for(struct store *st, const json_t *controller_ids, json_t **out);
/* Trains whose actual controller is controller_id, in creation order: their id, desired
 * controller and reassignment status (NULL: null), which is all the placement's moves and a
 * heartbeat's claims read. */
struct store_train_held {
    char *id, *desired_controller_id, *reassignment_status;
};
struct store_trains_held {
    size_t n;
    struct store_train_held *t;
};
int store_train_list_actual(struct store *st, const char *controller_id,
                            struct store_trains_held *out);
/* Frees what h holds (it may be all zeros). */
void store_trains_held_clear(struct store_trains_held *h);
int store_train_insert(struct store *st, const json_t *row);
int store_train_update(struct store *st, const char *id, const json_t *fields);
/* The train with this address, or -ENOENT. */
int store_train_find_by_address(struct store *st, int address, json_t **out);
/* Gives every train without an address the smallest free one (1-9999): call after inserting
 * trains without one, in the same transaction. -ERANGE when none is free. */
int store_train_assign_addresses(struct store *st);
/* Deletes the train with its status and photo. */
int store_train_delete(struct store *st, const char *id);

/* A train's optional photo, kept apart from its row: media_type is "image/png" or
 * "image/jpeg", already checked by the caller. put and delete also set or clear the train's
 * photo_at; -ENOENT when the train (delete: or its photo) is unknown. get copies the bytes
 * into *data (the caller frees it). */
int store_train_photo_put(struct store *st, const char *train_id, const char *media_type,
                          const void *data, size_t len, int64_t now);
int store_train_photo_get(struct store *st, const char *train_id, char *media_type, size_t typelen,
                          void **data, size_t *len);
int store_train_photo_delete(struct store *st, const char *train_id);

int store_status_get(struct store *st, const char *train_id, json_t **out);
int store_status_upsert(struct store *st, const json_t *row);

int store_plugin_list(struct store *st, json_t **out);
int store_plugin_get(struct store *st, const char *name, json_t **out);
int store_plugin_upsert(struct store *st, const json_t *row);

/* Small named documents of the central's own state (the layout's stopped state). */
int store_setting_get(struct store *st, const char *key, json_t **value);
int store_setting_put(struct store *st, const char *key, const json_t *value);

/* Operator accounts (--auth). store_user_put inserts or replaces the columns given;
 * store_user_delete removes the user's credentials too (-ENOENT when the user is unknown).
 * store_credential_list: all, or only username's (when not NULL), in creation order.
 * store_credential_insert: -EEXIST when the secret_hash or id is taken.
 * store_credential_prune deletes the credentials whose expires_at <= now. */
int store_user_get(struct store *st, const char *username, json_t **out);
int store_user_list(struct store *st, json_t **out);
int store_user_put(struct store *st, const json_t *row);
int store_user_delete(struct store *st, const char *username);
int store_credential_get(struct store *st, const char *secret_hash, json_t **out);
int store_credential_list(struct store *st, const char *username, json_t **out);
int store_credential_insert(struct store *st, const json_t *row);
int store_credential_delete(struct store *st, const char *secret_hash);
int store_credential_prune(struct store *st, int64_t now);

#endif
