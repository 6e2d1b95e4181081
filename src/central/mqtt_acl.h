/* --mqtt-acl: the broker's accounts and access rules, kept by the central through Mosquitto's
 * dynamic-security plugin.
 *
 * The plugin is administered with JSON command documents published on
 * $CONTROL/dynamic-security/v1 by a client allowed to (the central's --mqtt-username, the
 * account `mosquitto_ctrl dynsec init` creates); its answers come back on .../response.
 *
 * What the central keeps there:
 * - default access: nothing (publish, receive and subscribe denied unless a role allows);
 * - role "roundhouse-central", given to the central's own account: every Roundhouse topic;
 * - per controller, an account and a role both named "roundhouse-edge-{uuid}": publish its own
 *   presence, probe and e-stop confirmation and the status of its trains; subscribe to and
 *   receive its own config notifications, its trains' commands and the layout's emergency
 *   stop. "Its trains" are those assigned to it or still running on it (a train being handed
 *   over can publish its final status).
 *
 * A controller's password is derived, not stored: HMAC-SHA256 of its UUID under the central's
 * own MQTT password. It survives a database reset (the edge gets the same one again), every
 * central instance on one database computes the same, and the account's description carries a
 * fingerprint of it, so the reconciliation can tell a stale password without reading one.
 *
 * The plugin kicks a client whose own account or roles change; the central therefore changes
 * its own account at most once (adding its role, on the first start) and never modifies a role
 * it holds unless the role differs from what it should be. */
#ifndef ROUNDHOUSE_MQTT_ACL_H
#define ROUNDHOUSE_MQTT_ACL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "uuidstr.h"

#define MQTT_ACL_CONTROL_TOPIC "$CONTROL/dynamic-security/v1"
#define MQTT_ACL_RESPONSE_TOPIC "$CONTROL/dynamic-security/v1/response"
#define MQTT_ACL_PREFIX "roundhouse-edge-"
#define MQTT_ACL_CENTRAL_ROLE "roundhouse-central"
#define MQTT_ACL_NAME_LEN (sizeof MQTT_ACL_PREFIX - 1 + UUIDSTR_LEN)
#define MQTT_ACL_PASSWORD_LEN 64

struct central;
struct store;

/* ---- pure parts (unit-tested) ---- */

/* "roundhouse-edge-{uuid}": the controller's account and role. */
void mqtt_acl_name(const char *uuid, char out[MQTT_ACL_NAME_LEN + 1]);
/* The controller's password: 64 hex digits of HMAC-SHA256(key, uuid). 0, or -EIO. */
int mqtt_acl_password(const char *key, const char *uuid, char out[MQTT_ACL_PASSWORD_LEN + 1]);
/* The controller role's ACLs for these train ids (a JSON array of strings). New reference. */
json_t *mqtt_acl_controller_acls(const char *uuid, const json_t *train_ids);
/* The commands that make one controller's account and role what they should be, whatever the
 * broker holds (creating what is missing; "already exists" answers are expected). */
json_t *mqtt_acl_controller_commands(const char *uuid, const char *password,
                                     const json_t *train_ids);
/* The commands that bring the broker to `wanted` (object uuid -> {"password", "trains"}),
 * given its listClients and listRoles answers (verbose). Accounts and roles named
 * roundhouse-edge-* that are not wanted are deleted; nothing else of the broker is touched.
 * *central_role_missing: central_user lacks the roundhouse-central role (adding it kicks
 * the central, so the caller sends that separately, last). stale (an array, or NULL) receives
 * the uuids whose account had another password: their edges need the new runtime config.
 * New reference. */
json_t *mqtt_acl_plan(const json_t *wanted, const json_t *clients, const json_t *roles,
                      const char *central_user, bool *central_role_missing, json_t *stale);
/* Whether two ACL lists allow the same (acltype, topic, allow) triples, in any order. */
bool mqtt_acl_equal(const json_t *a, const json_t *b);

/* ---- the central's side ---- */

/* The credentials a controller's runtime config carries, set in b: with --mqtt-acl its own
 * account (in the buffers user and pass), else the central's --mqtt-username when set, else
 * none. */
struct runtime_broker;
void mqtt_acl_runtime_credentials(const struct central *c, const char *uuid,
                                  struct runtime_broker *b, char user[MQTT_ACL_NAME_LEN + 1],
                                  char pass[MQTT_ACL_PASSWORD_LEN + 1]);
/* Brings one controller's account and role up to date (its trains read through st, inside
 * the caller's transaction or commit hook). Sent at once; lost only with the connection, and
 * then redone by the reconciliation of the next one. */
void mqtt_acl_sync(struct central *c, struct store *st, const char *uuid);
/* Deletes a decommissioned controller's account and role. */
void mqtt_acl_forget(struct central *c, const char *uuid);
/* Sets the default access and asks for the broker's accounts and roles; their answer brings
 * the broker to the registry (mqtt_acl_plan). On every (re)connection, and after an import. */
void mqtt_acl_reconcile(struct central *c);
/* An answer of the plugin (MQTT_ACL_RESPONSE_TOPIC). */
void mqtt_acl_on_response(struct central *c, const void *payload, size_t len);

#endif
