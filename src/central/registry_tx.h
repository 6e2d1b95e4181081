/* A controller's registration (POST /api/controllers/register, docs/api.md) carried out: the
 * candidates looked up, registry.h's decisions taken on them, and the record written, all in
 * one write transaction. The HTTP side (api_register.c) validates the request and maps the
 * outcome to an answer. */
#ifndef ROUNDHOUSE_REGISTRY_TX_H
#define ROUNDHOUSE_REGISTRY_TX_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "registry.h"
#include "secret.h"
#include "uuidstr.h"

struct central;

/* Settings key of the controllers the operator deleted: a restored one comes back marked. */
#define REGISTRY_DELETED_KEY "deleted_controllers"

/* A registration request, validated. The strings are borrowed. */
struct registry_request {
    const char *name, *address, *version, *platform, *hardware_id;
    bool has_uuid;
    char uuid[UUIDSTR_LEN + 1];
    int64_t applied;   /* applied_config_version, -1: not reported */
    int64_t epoch;     /* the session epoch the edge already announced over MQTT, -1: none */
    bool issue_secret; /* the edge keeps a controller secret: issue one when none is on record */
    const char *presented_secret; /* X-Controller-Secret, of a secret's shape; NULL: none */
};

struct registry_outcome {
    enum registry_action action;
    char id[UUIDSTR_LEN + 1];
    /* A secret issued to this edge ("" none): shown to it once, the central keeps its hash. */
    char issued[SECRET_HEX_LEN + 1];
    const char *secret_source; /* "adopted", "issued", or NULL */
    /* What the answer shows of the record as written, besides the request's name: */
    char *address; /* NULL: none on record */
    int64_t config_version, session_epoch;
    bool secured; /* a secret hash on record */
    /* Why a registration was refused (-EPERM): the secret check of the controller out->id,
     * or, when that is REGISTRY_SECRET_OK, the kernel's random source (random_error, a
     * negative errno) failing for the secret to issue. */
    enum registry_secret_check refused;
    int random_error;
};

/* Registers the controller of r at now (wall clock, seconds). A serialization failure
 * (store.h: -EAGAIN) runs the whole decision again on what is then committed, a few times.
 * After the commit the controller event is published and the registration counted.
 * 0 with *out filled; -EPERM refused, nothing written (see struct registry_outcome); or the
 * store's error, nothing written. out->address is NULL unless 0: registry_outcome_clear
 * frees it. */
int registry_tx_register(struct central *c, const struct registry_request *r, int64_t now,
                         struct registry_outcome *out);
void registry_outcome_clear(struct registry_outcome *o);

#endif
