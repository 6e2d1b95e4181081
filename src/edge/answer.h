/* The central's HTTP answers read into the sync machine's events (sync.h): which event a
 * status, a body or a transport failure makes for each request, and what the shell must take
 * from the body (the UUID, the issued secret, the session epoch, a downloaded config).
 *
 * Pure: no sockets, clocks, files or logs. edge_central.c acts on the result (adopts the
 * identity, counts, logs) and feeds the event. The mapping, request by request:
 *
 *   register     200/201 with a valid "uuid": REGISTERED (config_version, heartbeat_interval);
 *                200/201 without one: REGISTER_FAILED, invalid_response; 429: rate_limited;
 *                5xx: server_error; another status: rejected; no answer: network.
 *   train        200/201: registered; 409: conflict (someone moved the train on purpose);
 *                both TRAIN_DONE, as is another final status (refused); no answer, 429 or
 *                5xx: TRAIN_FAILED (retried).
 *   config       304: CONFIG_UNCHANGED; 404: CONFIG_GONE; 200: a document to check
 *                (answer_config_document); another status or none: CONFIG_FAILED.
 *   heartbeat    200: HEARTBEAT_OK (config_version, heartbeat_interval); 404: HEARTBEAT_GONE;
 *                otherwise HEARTBEAT_FAILED.
 *   long poll    200 with a "version" >= 0: LONGPOLL_CHANGED; 304: LONGPOLL_UNCHANGED;
 *                otherwise LONGPOLL_FAILED.
 *
 * Every event carries the answer's Retry-After. A 401/403 whose body names the
 * X-Controller-Secret header says the central refuses this controller's secret; no answer at
 * all means the next central, if there is one, may be tried. */
#ifndef ROUNDHOUSE_EDGE_ANSWER_H
#define ROUNDHOUSE_EDGE_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api_client.h"
#include "sync.h"
#include "uuidstr.h"

/* Why a registration failed (the registration failure counter's reason label). */
enum reg_failure {
    REG_FAIL_NETWORK = 0,
    REG_FAIL_RATE_LIMITED,
    REG_FAIL_REJECTED, /* 4xx */
    REG_FAIL_SERVER,   /* 5xx */
    REG_FAIL_INVALID,  /* unusable answer */
    REG_FAIL_COUNT
};

/* "network", "rate_limited", "rejected", "server_error", "invalid_response"; "" otherwise. */
const char *answer_reg_failure_name(enum reg_failure f);

/* What a train self-registration's answer means (all but RETRY end it: TRAIN_DONE). */
enum answer_train {
    ANSWER_TRAIN_REGISTERED = 0, /* 200/201 */
    ANSWER_TRAIN_CONFLICT,       /* 409: assigned elsewhere on purpose; not fought over */
    ANSWER_TRAIN_REFUSED,        /* another final status */
    ANSWER_TRAIN_RETRY,          /* no answer, 429, 5xx */
};

struct answer {
    struct sync_event ev; /* to feed the sync machine (unless document: see below) */
    json_t *body;         /* the body as JSON; NULL when empty or not JSON. Owned */
    bool failover;        /* no answer at all: another central may be tried */
    bool secret_refused;  /* 401/403 naming X-Controller-Secret */
    bool gone;            /* 404 to a heartbeat or a config download: the central lost us */
    /* FETCH_CONFIG 200: the body is a runtime config to check with answer_config_document;
     * ev then only holds the Retry-After. */
    bool document;
    enum reg_failure reg_failure; /* REGISTER_FAILED: why; REG_FAIL_COUNT otherwise */
    enum answer_train train;      /* REGISTER_TRAIN only */
    /* REGISTERED only. */
    char uuid[UUIDSTR_LEN + 1]; /* normalised */
    const char *secret;         /* "controller_secret" issued (inside body); NULL: none */
    int64_t session_epoch;      /* the central's word on the epoch; -1: absent */
};

/* Reads the answer r to the request action into *out (answer_clear releases it). */
void answer_read(enum sync_action action, const struct api_response *r, struct answer *out);
void answer_clear(struct answer *a);

/* A downloaded runtime config (FETCH_CONFIG 200). */
enum answer_doc {
    ANSWER_DOC_APPLY = 0, /* intact, ours, not refused before: apply it */
    ANSWER_DOC_DAMAGED,   /* not JSON, or its checksum does not match: downloaded again */
    ANSWER_DOC_REFUSED,   /* wrong content (schema, another controller's): refused for good */
    ANSWER_DOC_REPEATED,  /* the very document (version and checksum) refused before */
};

/* Parses and checks body for own_uuid against the document last refused or rolled back
 * (rejected_version -1: none). *cfg receives the parsed document (a new reference, NULL
 * when it does not parse) whatever the verdict. ev receives the event for every verdict but
 * APPLY (whose event follows the apply): DAMAGED: CONFIG_FAILED; REFUSED: CONFIG_REJECTED with
 * the document's version, or CONFIG_FAILED when it has no usable version; REPEATED:
 * CONFIG_REJECTED with its version. reason says why for DAMAGED and REFUSED. */
enum answer_doc answer_config_document(const char *body, size_t len, const char *own_uuid,
                                       int64_t rejected_version, const char *rejected_checksum,
                                       json_t **cfg, struct sync_event *ev, char *reason,
                                       size_t reasonlen);

#endif
