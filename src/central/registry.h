/* Controller registration matching (docs/api.md), as a pure decision over what the database
 * holds. The caller looks the candidates up inside one write transaction, asks registry_match,
 * and carries the decision out in the same transaction.
 *
 *   1. uuid given and known            -> REACTIVATE that record  ("reactivated")
 *   2. uuid given, unknown (db reset)  -> RESTORE: create it with that uuid ("restored")
 *   3. no uuid: a controller with that name and the same address -> ADOPT it ("existing"),
 *      live or not: it is the same device restarting (an earlier edge whose container lost
 *      its cache comes back within seconds); else one with that name that is not online ->
 *      ADOPT it; a live one from another address is never shared. A controller that holds a
 *      secret (docs/security.md) is never adopted by name: its edge keeps its UUID and
 *      presents it, so a name match without that UUID is another device (or an intruder)
 *      and gets a record of its own.
 *   4. otherwise                       -> CREATE with a new uuid ("registered") */
#ifndef ROUNDHOUSE_REGISTRY_H
#define ROUNDHOUSE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "presence.h"

enum registry_action {
    REGISTRY_REACTIVATE = 0,
    REGISTRY_RESTORE,
    REGISTRY_ADOPT,
    REGISTRY_CREATE,
};

struct registry_candidate {
    enum presence presence; /* computed by the caller at the time of the request */
    bool same_address;      /* its stored address is the registration's (registry_same_address) */
    bool secured;           /* it holds a controller secret: never adopted by name */
};

struct registry_decision {
    enum registry_action action;
    size_t adopt_index; /* for REGISTRY_ADOPT: index into the candidates */
};

/* uuid_given / uuid_known describe rule 1-2; candidates are the controllers with the
 * requested name, most recently seen first (only consulted without a uuid). The most recently
 * seen one with the same address is adopted; failing that, the most recently seen one that is
 * not online. */
struct registry_decision registry_match(bool uuid_given, bool uuid_known,
                                        const struct registry_candidate *candidates,
                                        size_t ncandidates);
/* Whether a stored address and a registration's name one device: both given, equal, and not
 * a placeholder ("unknown", which the earlier edge sends when it cannot resolve its own). */
bool registry_same_address(const char *stored, const char *requested);
/* "reactivated", "restored", "existing", "registered". */
const char *registry_status_name(enum registry_action a);
/* The config_version of a known controller after it registered reporting `applied` (< 0:
 * not reported): unchanged, unless the controller has applied a version above it (the
 * database was restored from an older copy): then above that, so the controller downloads the
 * document this database describes instead of trusting its cache. At least 1. */
int64_t registry_seed_config_version(int64_t current, int64_t applied);
/* The config_version of a controller record re-created from its UUID (rule 2, "restored"):
 * above the version it reports as applied (docs/api.md), at least 1. */
int64_t registry_restore_config_version(int64_t applied);

/* The session epoch a registration starts: above the one on record (current; 0 for a new
 * record), and at least the epoch the edge already announced in its MQTT birth (announced; < 0:
 * none), since it boots from its cache before it can register. */
int64_t registry_session_epoch(int64_t current, int64_t announced);

/* A controller secret presented against the hash on record (docs/security.md). */
enum registry_secret_check {
    REGISTRY_SECRET_OK = 0,  /* none on record (the earlier system's edges), or the right one */
    REGISTRY_SECRET_MISSING, /* one on record, none presented */
    REGISTRY_SECRET_WRONG,   /* one on record, another presented */
};
/* stored_hash: the record's secret_hash (NULL: none); presented: the secret the request
 * carries (NULL: none). */
enum registry_secret_check registry_secret_check(const char *stored_hash, const char *presented);

/* What a registration does with the controller's secret. Rule 1 with a secret on record
 * keeps it (registry_secret_check decided first). Rule 2, and rule 1 without one on record,
 * adopt the secret the edge presents with its UUID, as they adopt the UUID: the edge kept
 * both across a database reset. Otherwise a secret is issued to an edge that asks when none
 * is on record (its first registration, or its first since the upgrade). */
enum registry_secret_step {
    REGISTRY_SECRET_KEEP = 0, /* write none: the record keeps what it has */
    REGISTRY_SECRET_ADOPT,    /* store the hash of the presented one */
    REGISTRY_SECRET_ISSUE,    /* generate one, store its hash, show it to the edge once */
};
/* on_record: the reactivated record holds a secret (only consulted for REGISTRY_REACTIVATE);
 * presented: the request carries one; asked: the edge asked for one (issue_secret). */
enum registry_secret_step registry_secret_step(enum registry_action a, bool on_record,
                                               bool presented, bool asked);

/* Safe handover: a train moved to controller B appears in B's runtime config only once the
 * previous holder (actual_controller_id) has released it, or is no longer live (offline or
 * unknown presence). Until then B does not drive it, so two controllers never drive one
 * train. actual_presence is the presence of the controller named by actual (ignored when
 * actual is NULL or is the controller itself). */
bool registry_train_deliverable(const char *controller_id, const char *actual,
                                enum presence actual_presence);

#endif

/* Train placement: desired_controller_id is the operator's intent, actual_controller_id what
 * a controller reports running. The visible status is derived from both:
 *   conflict                      -> "conflict" (two controllers claim the train)
 *   desired == actual             -> "complete" (both null included)
 *   actual set, differs           -> "pending"  (the old owner still runs it)
 *   actual null, desired set      -> "in_progress" (released, new owner not running it yet) */
const char *registry_reassignment_status(const char *desired, const char *actual, bool conflict);
