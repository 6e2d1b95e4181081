#include "mqtt_acl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "central.h"
#include "log.h"
#include "notify.h"
#include "protocol.h"
#include "runtime_config.h"
#include "sha256.h"
#include "store.h"
#include "timeutil.h"

/* Commands per published document during a reconciliation: the plugin saves its whole file
 * after each document, so fewer, larger ones; small enough to stay far from any packet limit. */
#define PLAN_BATCH 200
#define FINGERPRINT_HEX 16

void mqtt_acl_name(const char *uuid, char out[MQTT_ACL_NAME_LEN + 1])
{
    snprintf(out, MQTT_ACL_NAME_LEN + 1, "%s%s", MQTT_ACL_PREFIX, uuid);
}

int mqtt_acl_password(const char *key, const char *uuid, char out[MQTT_ACL_PASSWORD_LEN + 1])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    if (sodium_init() < 0 ||
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key)) != 0 ||
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)"roundhouse-edge-account:", 24) !=
            0 ||
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)uuid, strlen(uuid)) != 0 ||
        crypto_auth_hmacsha256_final(&st, mac) != 0)
        return -EIO;
    sodium_bin2hex(out, MQTT_ACL_PASSWORD_LEN + 1, mac, sizeof mac);
    sodium_memzero(&st, sizeof st);
    return 0;
}

/* What an account's description says: the fingerprint of its password, so that a
 * reconciliation sees a stale one (a changed --mqtt-password) without reading passwords. */
static void description(const char *password, char *out, size_t len)
{
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(password, strlen(password), hex);
    snprintf(out, len, "Roundhouse controller; password sha256 %.*s", FINGERPRINT_HEX, hex);
}

static int add_acl(json_t *acls, const char *type, const char *topic)
{
    return json_array_append_new(
        acls, json_pack("{s:s, s:s, s:b}", "acltype", type, "topic", topic, "allow", 1));
}

/* Literal topics only: a controller may neither publish nor subscribe to a wildcard. */
static void add_topic(json_t *acls, const char *topic, bool send, bool receive)
{
    if (send)
        add_acl(acls, "publishClientSend", topic);
    if (receive) {
        add_acl(acls, "subscribeLiteral", topic);
        add_acl(acls, "publishClientReceive", topic);
    }
}

json_t *mqtt_acl_controller_acls(const char *uuid, const json_t *train_ids)
{
    json_t *acls = json_array();
    if (acls == NULL)
        return NULL;
    char topic[PROTO_TOPIC_MAX];
    static const enum proto_topic sent[] = {PROTO_TOPIC_PRESENCE, PROTO_TOPIC_PROBE,
                                            PROTO_TOPIC_ESTOP_ACK};
    for (size_t i = 0; i < sizeof sent / sizeof sent[0]; i++)
        if (proto_topic(topic, sizeof topic, sent[i], uuid) == 0)
            add_topic(acls, topic, true, false);
    if (proto_topic(topic, sizeof topic, PROTO_TOPIC_CONFIG_UPDATE, uuid) == 0)
        add_topic(acls, topic, false, true);
    add_topic(acls, PROTO_TOPIC_ESTOP, false, true);
    size_t i;
    json_t *id;
    json_array_foreach(train_ids, i, id)
    {
        if (proto_topic(topic, sizeof topic, PROTO_TOPIC_STATUS, json_string_value(id)) == 0)
            add_topic(acls, topic, true, false);
        if (proto_topic(topic, sizeof topic, PROTO_TOPIC_COMMANDS, json_string_value(id)) == 0)
            add_topic(acls, topic, false, true);
    }
    return acls;
}

static json_t *central_acls(void)
{
    json_t *acls = json_array();
    add_acl(acls, "publishClientSend", "#");
    add_acl(acls, "publishClientReceive", "#");
    add_acl(acls, "subscribePattern", "#");
    return acls;
}

static json_t *role_command(const char *command, const char *name, json_t *acls)
{
    return json_pack("{s:s, s:s, s:o}", "command", command, "rolename", name, "acls", acls);
}

static json_t *create_client(const char *name, const char *password)
{
    char desc[96];
    description(password, desc, sizeof desc);
    return json_pack("{s:s, s:s, s:s, s:s, s:[{s:s}]}", "command", "createClient", "username", name,
                     "password", password, "textdescription", desc, "roles", "rolename", name);
}

json_t *mqtt_acl_controller_commands(const char *uuid, const char *password,
                                     const json_t *train_ids)
{
    char name[MQTT_ACL_NAME_LEN + 1];
    mqtt_acl_name(uuid, name);
    json_t *acls = mqtt_acl_controller_acls(uuid, train_ids);
    if (acls == NULL)
        return NULL;
    /* createRole fails on an existing role, modifyRole on a missing one: one of the two takes
     * effect. The role before the account, which names it. */
    return json_pack("[o, o, o]", role_command("createRole", name, json_incref(acls)),
                     role_command("modifyRole", name, acls), create_client(name, password));
}

static int triple_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "acltype topic allow", sorted: the ACLs as a comparable set. */
static char **triples(const json_t *acls, size_t *n)
{
    size_t count = json_array_size(acls);
    char **v = calloc(count ? count : 1, sizeof *v);
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        const json_t *a = json_array_get(acls, i);
        const char *type = json_string_value(json_object_get(a, "acltype"));
        const char *topic = json_string_value(json_object_get(a, "topic"));
        size_t len = strlen(type ? type : "") + strlen(topic ? topic : "") + 4;
        v[i] = malloc(len);
        if (v[i] == NULL) {
            for (size_t k = 0; k < i; k++)
                free(v[k]);
            free(v);
            return NULL;
        }
        snprintf(v[i], len, "%s %s %c", type ? type : "", topic ? topic : "",
                 json_is_true(json_object_get(a, "allow")) ? 'y' : 'n');
    }
    qsort(v, count, sizeof *v, triple_cmp);
    *n = count;
    return v;
}

bool mqtt_acl_equal(const json_t *a, const json_t *b)
{
    size_t na = 0, nb = 0;
    char **ta = triples(a, &na), **tb = triples(b, &nb);
    bool same = ta != NULL && tb != NULL && na == nb;
    for (size_t i = 0; same && i < na; i++)
        same = strcmp(ta[i], tb[i]) == 0;
    for (size_t i = 0; ta != NULL && i < na; i++)
        free(ta[i]);
    for (size_t i = 0; tb != NULL && i < nb; i++)
        free(tb[i]);
    free(ta);
    free(tb);
    return same;
}

/* name -> entry, from a listClients or listRoles answer's array. */
static json_t *index_by(const json_t *list, const char *key)
{
    json_t *map = json_object();
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *name = json_string_value(json_object_get(e, key));
        if (name != NULL)
            json_object_set(map, name, e);
    }
    return map;
}

static bool has_role(const json_t *client, const char *role)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(client, "roles"), i, r)
    {
        const char *name = json_string_value(json_object_get(r, "rolename"));
        if (name != NULL && strcmp(name, role) == 0)
            return true;
    }
    return false;
}

json_t *mqtt_acl_plan(const json_t *wanted, const json_t *clients, const json_t *roles,
                      const char *central_user, bool *central_role_missing, json_t *stale)
{
    json_t *cmds = json_array();
    json_t *by_client = index_by(clients, "username");
    json_t *by_role = index_by(roles, "rolename");
    if (cmds == NULL || by_client == NULL || by_role == NULL) {
        json_decref(cmds);
        cmds = NULL;
        goto out;
    }
    const json_t *self = json_object_get(by_client, central_user);
    *central_role_missing = self != NULL && !has_role(self, MQTT_ACL_CENTRAL_ROLE);
    json_t *mine = central_acls();
    const json_t *role = json_object_get(by_role, MQTT_ACL_CENTRAL_ROLE);
    if (role == NULL)
        json_array_append_new(cmds,
                              role_command("createRole", MQTT_ACL_CENTRAL_ROLE, json_incref(mine)));
    else if (!mqtt_acl_equal(json_object_get(role, "acls"), mine))
        json_array_append_new(cmds,
                              role_command("modifyRole", MQTT_ACL_CENTRAL_ROLE, json_incref(mine)));
    json_decref(mine);

    const char *uuid;
    json_t *want;
    json_object_foreach((json_t *)wanted, uuid, want)
    {
        char name[MQTT_ACL_NAME_LEN + 1], desc[96];
        const char *password = json_string_value(json_object_get(want, "password"));
        mqtt_acl_name(uuid, name);
        json_t *acls = mqtt_acl_controller_acls(uuid, json_object_get(want, "trains"));
        const json_t *have_role = json_object_get(by_role, name);
        if (have_role == NULL)
            json_array_append_new(cmds, role_command("createRole", name, json_incref(acls)));
        else if (!mqtt_acl_equal(json_object_get(have_role, "acls"), acls))
            json_array_append_new(cmds, role_command("modifyRole", name, json_incref(acls)));
        json_decref(acls);
        const json_t *have = json_object_get(by_client, name);
        description(password, desc, sizeof desc);
        const char *have_desc = json_string_value(json_object_get(have, "textdescription"));
        if (have == NULL)
            json_array_append_new(cmds, create_client(name, password));
        else if (have_desc == NULL || strcmp(have_desc, desc) != 0 || !has_role(have, name)) {
            /* One command, one kick of the controller, which then logs in anew. */
            if (stale != NULL && (have_desc == NULL || strcmp(have_desc, desc) != 0))
                json_array_append_new(stale, json_string(uuid));
            json_array_append_new(cmds,
                                  json_pack("{s:s, s:s, s:s, s:s, s:[{s:s}]}", "command",
                                            "modifyClient", "username", name, "password", password,
                                            "textdescription", desc, "roles", "rolename", name));
        }
    }
    /* Whatever names a controller that is no longer in the registry. */
    const size_t plen = strlen(MQTT_ACL_PREFIX);
    const char *name;
    json_t *e;
    json_object_foreach(by_client, name, e)
    {
        if (strncmp(name, MQTT_ACL_PREFIX, plen) == 0 &&
            json_object_get(wanted, name + plen) == NULL)
            json_array_append_new(
                cmds, json_pack("{s:s, s:s}", "command", "deleteClient", "username", name));
    }
    json_object_foreach(by_role, name, e)
    {
        if (strncmp(name, MQTT_ACL_PREFIX, plen) == 0 &&
            json_object_get(wanted, name + plen) == NULL)
            json_array_append_new(
                cmds, json_pack("{s:s, s:s}", "command", "deleteRole", "rolename", name));
    }
out:
    json_decref(by_client);
    json_decref(by_role);
    return cmds;
}

/* ---- the central's side ---- */

static int credentials(const struct central *c, const char *uuid, char user[MQTT_ACL_NAME_LEN + 1],
                       char pass[MQTT_ACL_PASSWORD_LEN + 1])
{
    mqtt_acl_name(uuid, user);
    return mqtt_acl_password(c->opts.mqtt_password, uuid, pass);
}

void mqtt_acl_runtime_credentials(const struct central *c, const char *uuid,
                                  struct runtime_broker *b, char user[MQTT_ACL_NAME_LEN + 1],
                                  char pass[MQTT_ACL_PASSWORD_LEN + 1])
{
    b->username = c->opts.mqtt_username[0] ? c->opts.mqtt_username : NULL;
    b->password = c->opts.mqtt_password;
    if (!c->opts.mqtt_acl)
        return;
    /* Never the central's own account: without a derived password, none at all. */
    b->username = NULL;
    b->password = NULL;
    if (credentials(c, uuid, user, pass) == 0) {
        b->username = user;
        b->password = pass;
    }
}

/* Sends commands (taken) under a correlation tag that says which errors are expected. */
static void send(struct central *c, json_t *cmds, const char *tag, int qos)
{
    size_t i;
    json_t *cmd;
    json_array_foreach(cmds, i, cmd) json_object_set_new(cmd, "correlationData", json_string(tag));
    json_t *doc = json_pack("{s:o}", "commands", cmds);
    int rc = notify_control(c->notify, doc, qos);
    if (rc < 0 && rc != -ENOTCONN)
        log_event(RH_LOG_WARNING, "mqtt_acl_send_failed", "{s:s, s:s}", "what", tag, "error",
                  strerror(-rc));
    json_decref(doc);
}

/* Train ids assigned to the controller or still running on it. */
static json_t *acl_trains(struct store *st, const char *uuid)
{
    json_t *desired = NULL, *ids = json_array(), *seen = json_object();
    struct store_trains_held actual = {0};
    if (store_train_list(st, uuid, &desired) < 0 || store_train_list_actual(st, uuid, &actual) < 0)
        goto out;
    size_t n = json_array_size(desired);
    for (size_t i = 0; i < n + actual.n; i++) {
        const char *id = i < n
                             ? json_string_value(json_object_get(json_array_get(desired, i), "id"))
                             : actual.t[i - n].id;
        if (id != NULL && json_object_get(seen, id) == NULL) {
            json_object_set_new(seen, id, json_true());
            json_array_append_new(ids, json_string(id));
        }
    }
out:
    json_decref(seen);
    json_decref(desired);
    store_trains_held_clear(&actual);
    return ids;
}

void mqtt_acl_sync(struct central *c, struct store *st, const char *uuid)
{
    if (!c->opts.mqtt_acl)
        return;
    char user[MQTT_ACL_NAME_LEN + 1], pass[MQTT_ACL_PASSWORD_LEN + 1];
    json_t *trains = acl_trains(st, uuid);
    json_t *cmds = NULL;
    if (trains != NULL && credentials(c, uuid, user, pass) == 0)
        cmds = mqtt_acl_controller_commands(uuid, pass, trains);
    if (cmds != NULL)
        send(c, cmds, "rh-sync", 1);
    json_decref(trains);
    sodium_memzero(pass, sizeof pass);
}

void mqtt_acl_forget(struct central *c, const char *uuid)
{
    if (!c->opts.mqtt_acl)
        return;
    char name[MQTT_ACL_NAME_LEN + 1];
    mqtt_acl_name(uuid, name);
    send(c,
         json_pack("[{s:s, s:s}, {s:s, s:s}]", "command", "deleteClient", "username", name,
                   "command", "deleteRole", "rolename", name),
         "rh-forget", 1);
    log_event(RH_LOG_INFO, "mqtt_acl_account_deleted", "{s:s}", "username", name);
}

void mqtt_acl_reconcile(struct central *c)
{
    json_t *cmds = json_pack(
        "[{s:s, s:[{s:s, s:b}, {s:s, s:b}, {s:s, s:b}, {s:s, s:b}]}, {s:s, s:b, s:i, s:i},"
        " {s:s, s:b, s:i, s:i}]",
        "command", "setDefaultACLAccess", "acls", "acltype", "publishClientSend", "allow", 0,
        "acltype", "publishClientReceive", "allow", 0, "acltype", "subscribe", "allow", 0,
        "acltype", "unsubscribe", "allow", 1, "command", "listClients", "verbose", 1, "count", -1,
        "offset", 0, "command", "listRoles", "verbose", 1, "count", -1, "offset", 0);
    send(c, cmds, "rh-reconcile", 1);
}

/* What the registry wants: every controller, its password and its trains. */
static json_t *registry_wanted(struct central *c)
{
    struct store *st = c->store;
    json_t *list = NULL, *wanted = json_object();
    if (store_begin(st, false) < 0)
        goto fail;
    int rc = store_controller_list(st, &list);
    size_t i;
    json_t *row;
    json_array_foreach(list, i, row)
    {
        if (rc < 0)
            break;
        const char *uuid = json_string_value(json_object_get(row, "id"));
        char user[MQTT_ACL_NAME_LEN + 1], pass[MQTT_ACL_PASSWORD_LEN + 1];
        json_t *trains = acl_trains(st, uuid);
        if (trains == NULL || credentials(c, uuid, user, pass) < 0) {
            json_decref(trains);
            rc = -ENOMEM;
            break;
        }
        json_object_set_new(wanted, uuid,
                            json_pack("{s:s, s:o}", "password", pass, "trains", trains));
        sodium_memzero(pass, sizeof pass);
    }
    store_rollback(st);
    json_decref(list);
    if (rc >= 0)
        return wanted;
fail:
    log_event(RH_LOG_ERROR, "mqtt_acl_reconcile_failed", "{s:s}", "error",
              "cannot read the registry");
    json_decref(wanted);
    return NULL;
}

/* A controller's password changed (the central's own did): a new config version, so that
 * its edge downloads the new credentials (from a heartbeat answer, as its login is refused). */
static void bump_stale(struct central *c, const json_t *stale)
{
    if (json_array_size(stale) == 0 || store_begin(c->store, true) < 0)
        return;
    int64_t now = timeutil_now_ms() / 1000;
    size_t i;
    json_t *id;
    int rc = 0;
    json_array_foreach(stale, i, id)
    {
        rc = store_controller_bump_config(c->store, json_string_value(id), now);
        if (rc < 0 && rc != -ENOENT)
            break;
        rc = 0;
    }
    if (rc < 0)
        store_rollback(c->store);
    else
        rc = store_commit(c->store);
    log_event(rc < 0 ? RH_LOG_ERROR : RH_LOG_INFO, "mqtt_acl_passwords_changed", "{s:I, s:b}",
              "controllers", (json_int_t)json_array_size(stale), "configs_bumped", rc == 0);
}

static void reconcile(struct central *c, const json_t *clients, const json_t *roles)
{
    json_t *wanted = registry_wanted(c);
    if (wanted == NULL)
        return;
    bool role_missing = false;
    json_t *stale = json_array();
    json_t *plan =
        mqtt_acl_plan(wanted, clients, roles, c->opts.mqtt_username, &role_missing, stale);
    size_t n = json_array_size(plan);
    for (size_t at = 0; at < n; at += PLAN_BATCH) {
        json_t *batch = json_array();
        for (size_t k = at; k < n && k < at + PLAN_BATCH; k++)
            json_array_append(batch, json_array_get(plan, k));
        send(c, batch, "rh-plan", 1);
    }
    log_event(RH_LOG_INFO, "mqtt_acl_reconciled", "{s:I, s:I, s:I, s:b}", "controllers",
              (json_int_t)json_object_size(wanted), "accounts",
              (json_int_t)json_array_size(clients), "changes", (json_int_t)n, "central_role_added",
              role_missing);
    bump_stale(c, stale);
    json_decref(stale);
    if (role_missing) {
        /* The plugin disconnects a client whose roles change: this connection ends, the next
         * one finds the role and reconciles again. QoS 0: not resent after that reconnect. */
        send(c,
             json_pack("[{s:s, s:s, s:s}]", "command", "addClientRole", "username",
                       c->opts.mqtt_username, "rolename", MQTT_ACL_CENTRAL_ROLE),
             "rh-self", 0);
    }
    json_decref(plan);
    json_decref(wanted);
}

/* Errors a tag expects: an idempotent sync meets existing objects, a forget missing ones. */
static bool expected(const char *tag, const char *error)
{
    if (tag == NULL)
        return false;
    if (strcmp(tag, "rh-sync") == 0)
        return strstr(error, "already exists") != NULL;
    if (strcmp(tag, "rh-forget") == 0)
        return strstr(error, "not found") != NULL;
    return false;
}

void mqtt_acl_on_response(struct central *c, const void *payload, size_t len)
{
    json_error_t jerr;
    json_t *doc = json_loadb(payload, len, 0, &jerr);
    const json_t *clients = NULL, *roles = NULL;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(doc, "responses"), i, r)
    {
        const char *command = json_string_value(json_object_get(r, "command"));
        const char *error = json_string_value(json_object_get(r, "error"));
        const char *tag = json_string_value(json_object_get(r, "correlationData"));
        if (tag == NULL || strncmp(tag, "rh-", 3) != 0)
            continue; /* somebody else's (mosquitto_ctrl) */
        if (error != NULL) {
            if (!expected(tag, error))
                log_event(RH_LOG_WARNING, "mqtt_acl_command_failed", "{s:s?, s:s, s:s}", "command",
                          command, "error", error, "what", tag);
            continue;
        }
        if (command != NULL && strcmp(command, "listClients") == 0)
            clients = json_object_get(json_object_get(r, "data"), "clients");
        else if (command != NULL && strcmp(command, "listRoles") == 0)
            roles = json_object_get(json_object_get(r, "data"), "roles");
    }
    if (clients != NULL && roles != NULL)
        reconcile(c, clients, roles);
    json_decref(doc);
}
