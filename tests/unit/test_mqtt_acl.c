/* --mqtt-acl's pure parts: account names, derived passwords, a controller's ACLs, and the plan
 * that brings the dynamic-security plugin's state to the registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt_acl.h"

#define U1 "11111111-1111-4111-8111-111111111111"
#define U2 "22222222-2222-4222-8222-222222222222"

static bool allows(const json_t *acls, const char *type, const char *topic)
{
    size_t i;
    json_t *a;
    json_array_foreach(acls, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "acltype")), type) == 0 &&
            strcmp(json_string_value(json_object_get(a, "topic")), topic) == 0)
            return json_is_true(json_object_get(a, "allow"));
    }
    return false;
}

static void test_names_and_passwords(void **state)
{
    (void)state;
    char name[MQTT_ACL_NAME_LEN + 1];
    mqtt_acl_name(U1, name);
    assert_string_equal(name, "roundhouse-edge-" U1);
    char p1[MQTT_ACL_PASSWORD_LEN + 1], p1again[MQTT_ACL_PASSWORD_LEN + 1];
    char p2[MQTT_ACL_PASSWORD_LEN + 1], other_key[MQTT_ACL_PASSWORD_LEN + 1];
    assert_int_equal(mqtt_acl_password("key", U1, p1), 0);
    assert_int_equal(mqtt_acl_password("key", U1, p1again), 0);
    assert_int_equal(mqtt_acl_password("key", U2, p2), 0);
    assert_int_equal(mqtt_acl_password("another key", U1, other_key), 0);
    assert_int_equal(strlen(p1), 64);
    assert_int_equal(strspn(p1, "0123456789abcdef"), 64);
    assert_string_equal(p1, p1again); /* derived: the same after a database reset */
    assert_string_not_equal(p1, p2);
    assert_string_not_equal(p1, other_key);
    /* HMAC-SHA256(key, "roundhouse-edge-account:" uuid), pinned: changing the construction
     * would change every controller's password at an upgrade (Python's hmac computed it). */
    assert_string_equal(p1, "a8f18a10898da2421a0f5909d9d8b384984e4ba37b0bb280eff3b3cef69d6b9d");
}

static void test_controller_acls_name_only_its_topics(void **state)
{
    (void)state;
    json_t *trains = json_pack("[s, s]", "t1", "t2");
    json_t *acls = mqtt_acl_controller_acls(U1, trains);
    assert_non_null(acls);
    assert_true(allows(acls, "publishClientSend", "controllers/" U1 "/presence"));
    assert_true(allows(acls, "publishClientSend", "controllers/" U1 "/probe"));
    assert_true(allows(acls, "publishClientSend", "controllers/" U1 "/estop-ack"));
    assert_true(allows(acls, "publishClientSend", "trains/t1/status"));
    assert_true(allows(acls, "publishClientSend", "trains/t2/status"));
    assert_true(allows(acls, "subscribeLiteral", "trains/t1/commands"));
    assert_true(allows(acls, "publishClientReceive", "trains/t2/commands"));
    assert_true(allows(acls, "subscribeLiteral", "controllers/" U1 "/config/update"));
    assert_true(allows(acls, "subscribeLiteral", "roundhouse/emergency-stop"));
    assert_true(allows(acls, "publishClientReceive", "roundhouse/emergency-stop"));
    /* Never: commands, notifications or the e-stop as a sender; wildcards; other controllers. */
    assert_false(allows(acls, "publishClientSend", "trains/t1/commands"));
    assert_false(allows(acls, "publishClientSend", "roundhouse/emergency-stop"));
    assert_false(allows(acls, "publishClientSend", "controllers/" U1 "/config/update"));
    assert_false(allows(acls, "subscribePattern", "trains/+/commands"));
    size_t i;
    json_t *a;
    json_array_foreach(acls, i, a)
    {
        const char *topic = json_string_value(json_object_get(a, "topic"));
        assert_null(strpbrk(topic, "+#"));
        assert_null(strstr(topic, U2));
    }
    json_t *none = json_array();
    json_t *bare = mqtt_acl_controller_acls(U1, none);
    assert_false(allows(bare, "publishClientSend", "trains/t1/status"));
    assert_true(allows(bare, "publishClientSend", "controllers/" U1 "/presence"));
    assert_false(mqtt_acl_equal(acls, bare));
    json_decref(bare);
    json_decref(none);
    json_decref(acls);
    json_decref(trains);
}

static void test_equal_ignores_order_and_priority(void **state)
{
    (void)state;
    json_t *a =
        json_pack("[{s:s, s:s, s:b}, {s:s, s:s, s:b}]", "acltype", "subscribeLiteral", "topic", "x",
                  "allow", 1, "acltype", "publishClientSend", "topic", "y", "allow", 1);
    json_t *b = json_pack("[{s:s, s:s, s:b, s:i}, {s:s, s:s, s:b, s:i}]", "acltype",
                          "publishClientSend", "topic", "y", "allow", 1, "priority", 0, "acltype",
                          "subscribeLiteral", "topic", "x", "allow", 1, "priority", 0);
    json_t *denied =
        json_pack("[{s:s, s:s, s:b}, {s:s, s:s, s:b}]", "acltype", "subscribeLiteral", "topic", "x",
                  "allow", 1, "acltype", "publishClientSend", "topic", "y", "allow", 0);
    assert_true(mqtt_acl_equal(a, b));
    assert_false(mqtt_acl_equal(a, denied));
    json_decref(a);
    json_decref(b);
    json_decref(denied);
}

static size_t count(const json_t *cmds, const char *command, const char *name)
{
    size_t n = 0, i;
    json_t *c;
    json_array_foreach(cmds, i, c)
    {
        const char *who = json_string_value(json_object_get(c, "username"));
        if (who == NULL)
            who = json_string_value(json_object_get(c, "rolename"));
        if (strcmp(json_string_value(json_object_get(c, "command")), command) == 0 &&
            (name == NULL || (who != NULL && strcmp(who, name) == 0)))
            n++;
    }
    return n;
}

/* The broker's state as listClients/listRoles (verbose) report it, after the plan of
 * `wanted` ran on an empty one. */
static void apply_creates(const json_t *cmds, json_t *clients, json_t *roles)
{
    size_t i;
    json_t *c;
    json_array_foreach(cmds, i, c)
    {
        const char *command = json_string_value(json_object_get(c, "command"));
        if (strcmp(command, "createRole") == 0)
            json_array_append_new(roles, json_pack("{s:O, s:O}", "rolename",
                                                   json_object_get(c, "rolename"), "acls",
                                                   json_object_get(c, "acls")));
        else if (strcmp(command, "createClient") == 0)
            json_array_append_new(
                clients, json_pack("{s:O, s:O, s:O}", "username", json_object_get(c, "username"),
                                   "textdescription", json_object_get(c, "textdescription"),
                                   "roles", json_object_get(c, "roles")));
    }
}

static void test_plan_creates_then_holds_still(void **state)
{
    (void)state;
    json_t *wanted = json_pack("{s:{s:s, s:[s]}, s:{s:s, s:[]}}", U1, "password", "p1", "trains",
                               "t1", U2, "password", "p2", "trains");
    json_t *clients =
        json_pack("[{s:s, s:[{s:s}]}]", "username", "admin", "roles", "rolename", "admin");
    json_t *roles = json_pack("[{s:s, s:[]}]", "rolename", "admin", "acls");
    bool missing = false;
    json_t *plan = mqtt_acl_plan(wanted, clients, roles, "admin", &missing, NULL);
    assert_true(missing); /* the central's account lacks its role */
    assert_int_equal(count(plan, "createRole", MQTT_ACL_CENTRAL_ROLE), 1);
    assert_int_equal(count(plan, "createRole", "roundhouse-edge-" U1), 1);
    assert_int_equal(count(plan, "createClient", "roundhouse-edge-" U1), 1);
    assert_int_equal(count(plan, "createClient", "roundhouse-edge-" U2), 1);
    assert_int_equal(count(plan, "deleteClient", NULL), 0);
    /* Nothing touches the administrator's own account or role. */
    assert_int_equal(count(plan, "modifyClient", "admin"), 0);
    assert_int_equal(count(plan, "modifyRole", "admin"), 0);

    apply_creates(plan, clients, roles);
    json_array_append_new(json_object_get(json_array_get(clients, 0), "roles"),
                          json_pack("{s:s}", "rolename", MQTT_ACL_CENTRAL_ROLE));
    json_t *again = mqtt_acl_plan(wanted, clients, roles, "admin", &missing, NULL);
    assert_false(missing);
    assert_int_equal(json_array_size(again), 0); /* in step: nothing to send, nobody kicked */
    json_decref(again);

    /* A train moves from U1 to U2, the central's password changes, U1 is decommissioned: */
    json_t *moved = json_pack("{s:{s:s, s:[s]}}", U2, "password", "p2-new", "trains", "t1");
    json_t *stale = json_array();
    json_t *third = mqtt_acl_plan(moved, clients, roles, "admin", &missing, stale);
    assert_int_equal(json_array_size(stale), 1);
    assert_string_equal(json_string_value(json_array_get(stale, 0)), U2);
    json_decref(stale);
    assert_int_equal(count(third, "modifyRole", "roundhouse-edge-" U2), 1);
    assert_int_equal(count(third, "modifyClient", "roundhouse-edge-" U2), 1);
    assert_int_equal(count(third, "deleteClient", "roundhouse-edge-" U1), 1);
    assert_int_equal(count(third, "deleteRole", "roundhouse-edge-" U1), 1);
    assert_int_equal(count(third, "deleteClient", "admin"), 0);
    json_decref(third);
    json_decref(moved);
    json_decref(plan);
    json_decref(wanted);
    json_decref(clients);
    json_decref(roles);
}

static void test_sync_commands_are_idempotent(void **state)
{
    (void)state;
    json_t *trains = json_pack("[s]", "t9");
    json_t *cmds = mqtt_acl_controller_commands(U1, "secret-pw", trains);
    assert_int_equal(json_array_size(cmds), 3);
    assert_int_equal(count(cmds, "createRole", "roundhouse-edge-" U1), 1);
    assert_int_equal(count(cmds, "modifyRole", "roundhouse-edge-" U1), 1);
    assert_int_equal(count(cmds, "createClient", "roundhouse-edge-" U1), 1);
    /* The account's description carries a fingerprint, never the password. */
    const json_t *create = json_array_get(cmds, 2);
    const char *desc = json_string_value(json_object_get(create, "textdescription"));
    assert_non_null(desc);
    assert_null(strstr(desc, "secret-pw"));
    json_decref(cmds);
    json_decref(trains);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_passwords),
        cmocka_unit_test(test_controller_acls_name_only_its_topics),
        cmocka_unit_test(test_equal_ignores_order_and_priority),
        cmocka_unit_test(test_plan_creates_then_holds_still),
        cmocka_unit_test(test_sync_commands_are_idempotent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
