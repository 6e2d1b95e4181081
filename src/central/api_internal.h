/* What the REST API's files share (http_api.c and api_*.c): the call a handler gets, the
 * helpers every handler uses, and the handlers the route table names. Private to them. */
#ifndef ROUNDHOUSE_API_INTERNAL_H
#define ROUNDHOUSE_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "accounts.h"
#include "http_server.h"
#include "jsonx.h"
#include "uuidstr.h"

struct central;
struct store_controller_brief;

#define LONGPOLL_MAX_WAIT_S 55
/* The header in which an edge presents its controller secret (docs/security.md). Not
 * Authorization, which carries the operators' tokens. */
#define CONTROLLER_SECRET_HEADER "X-Controller-Secret"

struct call {
    struct central *c;
    const struct http_request *req;
    struct http_response *resp;
    const char *arg[2];       /* the path segments matched by '*' */
    int64_t now;              /* wall clock, seconds */
    json_t *pending_events;   /* train views to publish after commit (heartbeats) */
    struct auth_identity who; /* with --auth: the caller (accounts_authorize) */
    int attempt;              /* 0 first; the request runs again after a conflict */
    bool conflict;            /* api_db_failed met a serialization failure: run the request again */
    bool serialize;           /* its write transactions begin with store_begin_serialized */
};

/* Runs of one request that meets serialization failures (store.h: -EAGAIN; PostgreSQL, when
 * another central on the database wrote the same rows at the same moment). */
#define API_ATTEMPTS 5

/* ---- Helpers (http_api.c) ---- */

/* Opens a transaction; answers 503 itself when it cannot. A write transaction of a request
 * that runs again after a serialization failure, or that asked for it (k->serialize), is
 * store_begin_serialized's: conflicting requests on several centrals then run one after the
 * other instead of failing each other again. */
bool api_begin(struct call *k, bool write);
/* For a handler that found, inside its transaction, that it will do what only serialized
 * transactions may (number a new train): true when it must stop and roll back, and the
 * request then runs again serialized (false: the transaction is serialized already, or the
 * backend serializes every write). */
bool api_serialize_from_now(struct call *k);

/* Parses the body as a JSON object. An empty body is {} when allow_empty. */
json_t *api_body_object(struct call *k, bool allow_empty);

/* The broker address for runtime configs (docs/operations.md, --mqtt-advertise). */
void api_broker_for(struct call *k, char *host, size_t hostlen, int *port);

/* 503 database_unavailable, counted in the metrics and logged. For a serialization failure
 * (-EAGAIN) before the last attempt: only k->conflict set, and http_api.c runs the whole
 * request again (nothing of it was committed). */
void api_db_failed(struct call *k, int rc);

/* The train id under key of body, checked against the id rule: 1 found, 0 absent, -1 with
 * err set. */
int api_get_train_id(const json_t *body, const char *key, const char **out, struct jsonx_err *err);

/* 422 naming err's field. */
void api_invalid(struct call *k, const struct jsonx_err *err);

/* 404 controller_not_found and train_not_found. */
void api_not_found_controller(struct call *k, const char *id);
void api_not_found_train(struct call *k, const char *id);

/* Path parameter that must be a controller UUID; 404 for anything else (it cannot exist). */
bool api_path_uuid(struct call *k, const char *s, char out[UUIDSTR_LEN + 1]);

/* Before a train leaves its controller (deleted, moved, unassigned): a stop on its command
 * topic, so that a controller which does not take its new config (it refused it, it cannot
 * reach the central, it runs the earlier system) does not keep driving a train nobody can
 * command any more. false, with the 503 sent, when the broker did not take the stop: the
 * caller changes nothing. A train on no controller needs none. */
bool api_stop_before_leaving(struct call *k, const char *tid, const json_t *train);

/* ---- api_paging.c ---- */

struct paging_args;
/* The paging parameters of the request (paging.h): 1 when a page is asked for, 0 when the
 * whole list is, -1 after answering 422 naming the parameter. */
int api_paging_args(struct call *k, char kind, struct paging_args *out);
/* The worker-thread half of a paged list of this kind (PAGING_CONTROLLERS, PAGING_TRAINS):
 * req->defer_arg holds the struct paging_args api_paging_args filled. */
void api_page_work(void *ctx, const struct http_request *req, struct http_response *resp,
                   char kind);

/* ---- api_register.c ---- */

/* Whether the request may act as the controller of this row: always for a controller that
 * holds no secret (the earlier system's edges; docs/security.md says what that leaves
 * open), else only with its secret. Answers 401 (none presented) or 403 (wrong) itself, and
 * logs the attempt. */
bool api_controller_authorized(struct call *k, const json_t *row);
/* The same for controller id, whose secret_hash is on record (NULL: none). */
bool api_controller_secret_ok(struct call *k, const char *id, const char *secret_hash);

/* Who calls a route that both a controller and the operator's UI or CLI use (a
 * controller's train registration, the compat status report). */
enum api_caller {
    API_CALLER_ACCOUNT,    /* an operator account of the role asked for, or no --auth */
    API_CALLER_CONTROLLER, /* no operator credential: the handler checks the controller */
    API_CALLER_REFUSED,    /* answered: 403 for an account below the role, or 503 */
};
/* Decides before the route's transaction (the account lookup opens its own). With
 * --auth, a request carrying an account of at least `need` is that account's; one carrying
 * none is the controller's, which the handler then checks with api_controller_authorized
 * and holds to what a controller may do (docs/security.md). */
enum api_caller api_shared_caller(struct call *k, enum auth_role need);

/* With --registration-token, the requests that put controllers into the registry (register,
 * import) must carry it; answers 401 itself. */
bool api_registration_token_ok(struct call *k);

void h_register(struct call *k);

/* ---- api_controllers.c ---- */

/* Whether the controller exists, inside an open transaction. */
bool api_controller_exists(struct call *k, const char *id);
/* Loads one controller inside an open transaction; answers 404 itself. */
json_t *api_load_controller(struct call *k, const char *id);
/* The same with store_controller_get_brief's columns only (a controller's own frequent
 * calls), into out (store_controller_brief_clear frees it): false after answering. */
bool api_load_controller_brief(struct call *k, const char *id, struct store_controller_brief *out);
/* The same with store_controller_get_for_config's columns (a config download's). */
json_t *api_load_controller_for_config(struct call *k, const char *id);

void h_controller_delete(struct call *k);
void h_controller_get(struct call *k);
void h_controller_patch(struct call *k);
void h_controller_ping(struct call *k);
void h_controllers_list(struct call *k);
void h_controllers_prune(struct call *k);

/* ---- api_heartbeat.c ---- */

void h_heartbeat(struct call *k);
void h_runtime_config(struct call *k);

/* ---- api_trains.c ---- */

void h_config_train_get(struct call *k);
void h_config_trains(struct call *k);
void h_controller_train_get(struct call *k);
void h_controller_train_post(struct call *k);
void h_controller_trains(struct call *k);
void h_train_delete(struct call *k);
void h_train_get(struct call *k);
void h_train_photo_delete(struct call *k);
void h_train_photo_get(struct call *k);
void h_train_photo_put(struct call *k);
void h_train_post(struct call *k);
void h_train_put(struct call *k);
void h_trains(struct call *k);

/* ---- api_commands.c ---- */

void h_command(struct call *k);
void h_emergency_stop(struct call *k);
void h_layout(struct call *k);
void h_layout_resume(struct call *k);
void h_status_update(struct call *k);
void h_train_status(struct call *k);

/* ---- api_registry.c ---- */

void h_export(struct call *k);
void h_backup(struct call *k);
void h_full_config(struct call *k);
void h_import(struct call *k);
void h_plugins(struct call *k);

#endif
