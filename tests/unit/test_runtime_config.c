/* The runtime config document: compat keys, checksum over canonical JSON, key-order and
 * whitespace independence, the download's text being the same document, and the cache of
 * texts answering only for the very inputs that made its text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canon.h"
#include "runtime_config.h"
#include "sha256.h"

static json_t *controller(void)
{
    return json_pack("{s:s, s:s, s:i}", "id", "0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e", "name",
                     "pi-1", "config_version", 7);
}

static void test_unassigned_has_null_compat_keys(void **state)
{
    json_t *ctl = controller(), *trains = json_array();
    struct runtime_broker b = {.host = "broker.local", .port = 1883};
    json_t *doc = runtime_config_build(ctl, trains, &b, 10);
    assert_non_null(doc);
    assert_true(json_is_null(json_object_get(doc, "train_id")));
    assert_true(json_is_null(json_object_get(doc, "status_topic")));
    assert_true(json_is_null(json_object_get(doc, "commands_topic")));
    assert_int_equal(json_array_size(json_object_get(doc, "trains")), 0);
    assert_int_equal(json_integer_value(json_object_get(doc, "version")), 7);
    assert_null(json_object_get(json_object_get(doc, "mqtt_broker"), "username"));
    json_decref(doc);
    json_decref(ctl);
    json_decref(trains);
}

static void test_assigned_train_and_checksum(void **state)
{
    json_t *ctl = controller();
    json_t *trains =
        json_pack("[{s:s, s:s, s:s, s:{s:i}, s:b}]", "id", "t1", "name", "Express", "plugin_name",
                  "dc_motor_hat", "plugin_config", "motor_port", 2, "invert_directions", 1);
    struct runtime_broker b = {
        .host = "10.0.0.2", .port = 1884, .username = "edge", .password = "secret"};
    json_t *doc = runtime_config_build(ctl, trains, &b, 15);
    assert_string_equal(json_string_value(json_object_get(doc, "train_id")), "t1");
    assert_string_equal(json_string_value(json_object_get(doc, "commands_topic")),
                        "trains/t1/commands");
    json_t *t = json_array_get(json_object_get(doc, "trains"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "plugin"), "name")),
                        "dc_motor_hat");
    assert_true(json_is_true(json_object_get(t, "invert_directions")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "mqtt_broker"), "username")),
        "edge");

    /* The checksum is sha256 of the canonical text of the document without "checksum". */
    const char *checksum = json_string_value(json_object_get(doc, "checksum"));
    assert_non_null(checksum);
    json_t *copy = json_deep_copy(doc);
    json_object_del(copy, "checksum");
    char *canonical = NULL;
    assert_int_equal(canon_dump(copy, &canonical), 0);
    assert_null(strchr(canonical, ' '));
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(canonical, strlen(canonical), hex);
    assert_string_equal(checksum + 7, hex);
    assert_memory_equal(checksum, "sha256:", 7);

    /* The same document re-parsed from text with other key order and whitespace checks out. */
    const char *shuffled = "{ \"trains\" : [ { \"status_topic\":\"trains/t1/status\", "
                           "\"plugin\": {\"config\": {\"motor_port\": 2}, \"name\": "
                           "\"dc_motor_hat\"}, \"name\": \"Express\", \"train_id\": \"t1\", "
                           "\"invert_directions\": true, \"commands_topic\": "
                           "\"trains/t1/commands\"} ],\n \"version\": 7, \"uuid\": "
                           "\"0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e\", \"name\": \"pi-1\", "
                           "\"heartbeat_interval\": 15, \"mqtt_broker\": {\"port\": 1884, "
                           "\"host\": \"10.0.0.2\", \"password\": \"secret\", \"username\": "
                           "\"edge\"}, \"train_id\": \"t1\", \"status_topic\": "
                           "\"trains/t1/status\", \"commands_topic\": \"trains/t1/commands\"}";
    json_t *parsed = json_loads(shuffled, 0, NULL);
    assert_non_null(parsed);
    char again[CANON_CHECKSUM_LEN + 1];
    assert_int_equal(canon_checksum(parsed, again), 0);
    assert_string_equal(again, checksum);

    /* Any change of content changes it. */
    json_object_set_new(parsed, "version", json_integer(8));
    assert_int_equal(canon_checksum(parsed, again), 0);
    assert_string_not_equal(again, checksum);

    free(canonical);
    json_decref(parsed);
    json_decref(copy);
    json_decref(doc);
    json_decref(ctl);
    json_decref(trains);
}

/* The text a download answers with is the same document, checksum included, and its
 * checksum is the one an edge recomputes from it. */
static void test_text_is_the_document(void **state)
{
    json_t *ctl = controller();
    json_t *trains =
        json_pack("[{s:s, s:s, s:s, s:{s:i}}, {s:s, s:s, s:s, s:{}}]", "id", "t1", "name",
                  "Express \u00e9", "plugin_name", "dc_motor_hat", "plugin_config", "motor_port", 2,
                  "id", "t2", "name", "Goods", "plugin_name", "simulator", "plugin_config");
    struct runtime_broker b = {.host = "10.0.0.2", .port = 1884, .tls = true};
    json_t *doc = runtime_config_build(ctl, trains, &b, 15);
    char *text = NULL;
    char checksum[CANON_CHECKSUM_LEN + 1];
    assert_int_equal(runtime_config_text(ctl, trains, &b, 15, &text, checksum), 0);
    json_error_t e;
    json_t *parsed = json_loads(text, 0, &e);
    assert_non_null(parsed);
    assert_true(json_equal(parsed, doc));
    assert_string_equal(checksum, json_string_value(json_object_get(doc, "checksum")));
    char again[CANON_CHECKSUM_LEN + 1];
    assert_int_equal(canon_checksum(parsed, again), 0);
    assert_string_equal(again, checksum);
    free(text);
    json_decref(parsed);
    json_decref(doc);
    json_decref(ctl);
    json_decref(trains);
}

/* The text through the cache: what building gives, and the kept text only while every input
 * is the same. */
static char *cached(struct runtime_config_cache *cache, const json_t *ctl, const json_t *trains,
                    const struct runtime_broker *b, int interval)
{
    char *text = NULL, checksum[CANON_CHECKSUM_LEN + 1];
    size_t len = 0;
    assert_int_equal(
        runtime_config_cached_text(cache, ctl, trains, b, interval, &text, &len, checksum), 0);
    assert_int_equal(len, strlen(text));
    char *fresh = NULL, fresh_sum[CANON_CHECKSUM_LEN + 1];
    assert_int_equal(runtime_config_text(ctl, trains, b, interval, &fresh, fresh_sum), 0);
    assert_string_equal(text, fresh);
    assert_string_equal(checksum, fresh_sum);
    free(fresh);
    return text;
}

static void test_cache_answers_only_for_the_same_inputs(void **state)
{
    (void)state;
    struct runtime_config_cache *cache = runtime_config_cache_new(4);
    assert_non_null(cache);
    json_t *ctl = controller();
    json_t *trains = json_pack("[{s:s, s:s, s:s, s:{s:i}}]", "id", "t1", "name", "Express",
                               "plugin_name", "dc_motor_hat", "plugin_config", "motor_port", 2);
    struct runtime_broker b = {.host = "10.0.0.2", .port = 1884, .username = "u", .password = "p"};
    char *first = cached(cache, ctl, trains, &b, 15);
    char *again = cached(cache, ctl, trains, &b, 15);
    assert_string_equal(first, again);
    free(again);

    /* Each input changed in turn: a text of its own (cached() checks it is the built one). */
    json_object_set_new(json_object_get(json_array_get(trains, 0), "plugin_config"), "motor_port",
                        json_integer(3));
    char *other = cached(cache, ctl, trains, &b, 15);
    assert_string_not_equal(other, first);
    free(other);
    b.password = "q";
    free(cached(cache, ctl, trains, &b, 15));
    json_object_set_new(ctl, "name", json_string("pi-2"));
    free(cached(cache, ctl, trains, &b, 15));
    json_object_set_new(ctl, "config_version", json_integer(8));
    free(cached(cache, ctl, trains, &b, 15));
    free(cached(cache, ctl, trains, &b, 30));
    json_array_clear(trains); /* a handover took the train away, the version unchanged */
    other = cached(cache, ctl, trains, &b, 30);
    assert_null(strstr(other, "Express"));
    free(other);

    /* Without a cache, and for many controllers in few slots: always the built text. */
    free(cached(NULL, ctl, trains, &b, 30));
    for (int i = 0; i < 12; i++) {
        char id[40];
        snprintf(id, sizeof id, "0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a%02d", i);
        json_object_set_new(ctl, "id", json_string(id));
        free(cached(cache, ctl, trains, &b, 30));
    }
    free(first);
    json_decref(ctl);
    json_decref(trains);
    runtime_config_cache_free(cache);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unassigned_has_null_compat_keys),
        cmocka_unit_test(test_assigned_train_and_checksum),
        cmocka_unit_test(test_text_is_the_document),
        cmocka_unit_test(test_cache_answers_only_for_the_same_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
