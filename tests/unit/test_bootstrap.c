/* bootstrap: the earlier config.yaml format validated and normalised for import. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bootstrap.h"
#include "yamljson.h"

#define FIXED_UUID "b7e6a2e2-8c3a-4e2a-9c1a-2f8e4b7e6a2e"

static void assert_json(const json_t *got, const char *expected_json)
{
    json_error_t jerr;
    json_t *want = json_loads(expected_json, JSON_DECODE_ANY, &jerr);

    if (!want)
        fail_msg("bad expectation %s: %s", expected_json, jerr.text);
    if (!json_equal(got, want)) {
        char *dump = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);

        fail_msg("got %s, want %s", dump ? dump : "?", expected_json);
    }
    json_decref(want);
}

static json_t *parse_ok(const char *yaml)
{
    char err[512] = "";
    json_t *tree = NULL;
    json_t *out = NULL;
    int rc;

    rc = yamljson_load_buffer(yaml, strlen(yaml), &tree, err, sizeof err);
    if (rc != 0)
        fail_msg("yaml <<%s>>: %d %s", yaml, rc, err);
    rc = bootstrap_parse(tree, &out, err, sizeof err);
    json_decref(tree);
    if (rc != 0)
        fail_msg("bootstrap <<%s>>: %d %s", yaml, rc, err);
    assert_non_null(out);
    return out;
}

/* A well-formed YAML document that bootstrap must refuse with exactly this message. */
static void parse_fails(const char *yaml, const char *expected_err)
{
    char err[512] = "";
    json_t *tree = NULL;
    json_t *sentinel = json_string("untouched");
    json_t *out = sentinel;
    int rc;

    rc = yamljson_load_buffer(yaml, strlen(yaml), &tree, err, sizeof err);
    if (rc != 0)
        fail_msg("yaml <<%s>>: %d %s", yaml, rc, err);
    rc = bootstrap_parse(tree, &out, err, sizeof err);
    json_decref(tree);
    if (rc != -EINVAL)
        fail_msg("bootstrap <<%s>> returned %d, want -EINVAL", yaml, rc);
    assert_ptr_equal(out, sentinel);
    assert_string_equal(err, expected_err);
    json_decref(sentinel);
}

static json_t *controller(const json_t *doc, size_t i)
{
    return json_array_get(json_object_get(doc, "controllers"), i);
}

static json_t *train(const json_t *doc, size_t c, size_t t)
{
    return json_array_get(json_object_get(controller(doc, c), "trains"), t);
}

static json_t *load_file_ok(const char *path)
{
    char err[512] = "";
    json_t *out = NULL;
    int rc = bootstrap_load_file(path, &out, err, sizeof err);

    if (rc != 0)
        fail_msg("%s: %d %s", path, rc, err);
    return out;
}

/* The shipped earlier config.yaml shape: everything generated, nothing lost. */
static void test_earlier_shipped_format(void **state)
{
    json_t *doc = load_file_ok(RH_TEST_DATA_DIR "/bootstrap-earlier.yaml");

    assert_json(
        doc,
        "{\"plugins\": [{\"name\": \"stepper_hat\","
        "   \"description\": \"uGeek Stepper Motor Hat v0.2\\nDrives the track through PWM.\","
        "   \"config\": {\"required\": [\"port\"], \"properties\": {"
        "     \"i2c_address\": {\"type\": \"string\", \"default\": \"0x6F\"},"
        "     \"port\": {\"type\": \"integer\"},"
        "     \"default_speed\": {\"type\": \"integer\", \"default\": 50},"
        "     \"enabled\": {\"type\": \"boolean\", \"default\": true}}}}],"
        " \"controllers\": [{\"id\": null, \"name\": \"Holiday Display\","
        "   \"description\": \"Two n scale trains around the tree\","
        "   \"address\": \"192.168.2.214\", \"enabled\": true, \"trains\": ["
        "     {\"id\": null, \"name\": \"Durango Silverton\", \"description\": \"n scale K-28\","
        "      \"model\": \"American Locomotive Works K-28\","
        "      \"plugin\": {\"name\": \"stepper_hat\", \"config\": {\"port\": 1,"
        "                  \"default_speed\": 75}},"
        "      \"invert_directions\": false},"
        "     {\"id\": null, \"name\": \"Silver Streak Zephyr\", \"description\": \"n scale E5A\","
        "      \"model\": \"Electro-Motive Corporation EMC E5A\","
        "      \"plugin\": {\"name\": \"stepper_hat\", \"config\": {\"port\": 2,"
        "                  \"enabled\": false}},"
        "      \"invert_directions\": false}]}]}");
    json_decref(doc);
}

static void test_earlier_test_format(void **state)
{
    json_t *doc = load_file_ok(RH_TEST_DATA_DIR "/bootstrap-earlier-test.yaml");

    assert_string_equal(json_string_value(json_object_get(controller(doc, 0), "id")), FIXED_UUID);
    assert_string_equal(json_string_value(json_object_get(controller(doc, 0), "address")),
                        "192.168.2.214");
    assert_string_equal(json_string_value(json_object_get(controller(doc, 0), "description")),
                        "Bench controller");
    /* Train ids are names, not UUIDs: kept exactly as written. */
    assert_string_equal(json_string_value(json_object_get(train(doc, 0, 0), "id")),
                        "a1b2c3d4-5678-1234-5678-abcdefabcdef");
    assert_true(json_is_null(json_object_get(train(doc, 0, 0), "description")));
    json_decref(doc);
}

/* The example shipped in docs/ must stay loadable. */
static void test_docs_example(void **state)
{
    json_t *doc = load_file_ok(RH_EXAMPLES_DIR "/config.yaml");

    assert_int_equal(json_array_size(json_object_get(doc, "plugins")), 1);
    assert_int_equal(json_array_size(json_object_get(doc, "controllers")), 2);
    assert_true(json_is_null(json_object_get(controller(doc, 0), "id")));
    assert_string_equal(json_string_value(json_object_get(controller(doc, 1), "id")),
                        "3f2b8c1e-5d4a-4b6f-9e2a-7c1d0b9a8e6f");
    assert_json(json_object_get(train(doc, 0, 1), "plugin"),
                "{\"name\": \"dc_motor_hat\", \"config\": {\"motor_port\": 2}}");
    assert_true(json_is_true(json_object_get(train(doc, 0, 1), "invert_directions")));
    assert_true(json_is_null(json_object_get(train(doc, 1, 1), "id")));
    json_decref(doc);
}

static void test_generate_placeholders(void **state)
{
    static const char *const ids[] = {
        "\"${UUID}\"", "\"${uuid}\"", "\" ${UUID} \"", "\"\"", "''", "\"none\"", "None",
        "NONE",        "\"null\"",    "\"NULL\"",      "null", "~",  "",         "\"  \"",
        "'${Uuid}'",
    };
    char yaml[256];

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        json_t *doc;

        snprintf(yaml, sizeof yaml,
                 "edge_controllers:\n  - id: %s\n    name: c\n    trains:\n"
                 "      - id: %s\n        name: t\n",
                 ids[i], ids[i]);
        doc = parse_ok(yaml);
        if (!json_is_null(json_object_get(controller(doc, 0), "id")))
            fail_msg("controller id %s did not become null", ids[i]);
        if (!json_is_null(json_object_get(train(doc, 0, 0), "id")))
            fail_msg("train id %s did not become null", ids[i]);
        json_decref(doc);
    }
}

static void test_uuid_normalised(void **state)
{
    json_t *doc = parse_ok("edge_controllers:\n"
                           "  - id: \"  B7E6A2E2-8C3A-4E2A-9C1A-2F8E4B7E6A2E \"\n"
                           "    name: a\n"
                           "  - id: b7e6a2e2-8c3a-4e2a-9c1a-2f8e4b7e6a2f\n"
                           "    name: b\n");

    assert_string_equal(json_string_value(json_object_get(controller(doc, 0), "id")), FIXED_UUID);
    assert_string_equal(json_string_value(json_object_get(controller(doc, 1), "id")),
                        "b7e6a2e2-8c3a-4e2a-9c1a-2f8e4b7e6a2f");
    json_decref(doc);
}

static void test_bad_uuid(void **state)
{
    parse_fails("edge_controllers:\n"
                "  - id: \"${UUID}\"\n    name: a\n"
                "  - id: not-a-uuid\n    name: b\n",
                "edge_controllers[1].id: 'not-a-uuid' is not a UUID (expected 8-4-4-4-12 hex "
                "digits, or ${UUID} to generate one)");
    parse_fails("edge_controllers:\n  - id: b7e6a2e28c3a4e2a9c1a2f8e4b7e6a2e\n    name: a\n",
                "edge_controllers[0].id: 'b7e6a2e28c3a4e2a9c1a2f8e4b7e6a2e' is not a UUID "
                "(expected 8-4-4-4-12 hex digits, or ${UUID} to generate one)");
    parse_fails("edge_controllers:\n  - id: b7e6a2e2-8c3a-4e2a-9c1a-2f8e4b7e6a2g\n    name: a\n",
                "edge_controllers[0].id: 'b7e6a2e2-8c3a-4e2a-9c1a-2f8e4b7e6a2g' is not a UUID "
                "(expected 8-4-4-4-12 hex digits, or ${UUID} to generate one)");
    parse_fails("edge_controllers:\n  - id: $UUID\n    name: a\n",
                "edge_controllers[0].id: '$UUID' is not a UUID (expected 8-4-4-4-12 hex "
                "digits, or ${UUID} to generate one)");
    parse_fails("edge_controllers:\n  - id: 12\n    name: a\n",
                "edge_controllers[0].id: must be a UUID string, not an integer");
    parse_fails("edge_controllers:\n  - id: [a]\n    name: a\n",
                "edge_controllers[0].id: must be a UUID string, not a list");
}

static void test_missing_keys(void **state)
{
    parse_fails("plugins: []\n", "edge_controllers: missing (required list)");
    parse_fails("plugins:\n  - description: x\nedge_controllers: []\n",
                "plugins[0].name: missing (required)");
    parse_fails("edge_controllers:\n  - name: a\n",
                "edge_controllers[0].id: missing (required; write ${UUID} to generate one)");
    parse_fails("edge_controllers:\n  - id: ${UUID}\n",
                "edge_controllers[0].name: missing (required)");
    parse_fails("edge_controllers:\n  - id: ${UUID}\n    name: ~\n",
                "edge_controllers[0].name: missing (required)");
    parse_fails("edge_controllers:\n  - id: ${UUID}\n    name: \" \"\n",
                "edge_controllers[0].name: must not be empty");
    parse_fails("edge_controllers:\n"
                "  - id: ${UUID}\n    name: a\n"
                "  - id: ${UUID}\n    name: b\n    trains:\n"
                "      - id: t1\n        name: one\n"
                "      - id: t2\n",
                "edge_controllers[1].trains[1].name: missing (required)");
    parse_fails("edge_controllers:\n  - id: ${UUID}\n    name: a\n    trains:\n"
                "      - name: one\n",
                "edge_controllers[0].trains[0].id: missing (required; write ${UUID} to "
                "generate one)");
}

static void test_wrong_types(void **state)
{
    parse_fails("- a\n- b\n",
                "document: must be a mapping with 'plugins' and 'edge_controllers', not a list");
    parse_fails("just text\n", "document: must be a mapping with 'plugins' and "
                               "'edge_controllers', not a string");
    parse_fails("plugins: {name: x}\nedge_controllers: []\n",
                "plugins: must be a list, not a mapping");
    parse_fails("edge_controllers: 3\n", "edge_controllers: must be a list, not an integer");
    parse_fails("plugins: [stepper_hat]\nedge_controllers: []\n",
                "plugins[0]: must be a mapping, not a string");
    parse_fails("plugins:\n  - name: p\n    config: [a]\nedge_controllers: []\n",
                "plugins[0].config: must be a mapping, not a list");
    parse_fails("edge_controllers: [pi-1]\n", "edge_controllers[0]: must be a mapping, not a "
                                              "string");
    parse_fails("edge_controllers:\n  - id: ~\n    name: 42\n",
                "edge_controllers[0].name: must be a string, not an integer (quote the value)");
    parse_fails("edge_controllers:\n  - id: ~\n    name: a\n    address: 10\n",
                "edge_controllers[0].address: must be a string, not an integer (quote the "
                "value)");
    parse_fails("edge_controllers:\n  - id: ~\n    name: a\n    enabled: maybe\n",
                "edge_controllers[0].enabled: 'maybe' is not a boolean (use true or false)");
    parse_fails("edge_controllers:\n  - id: ~\n    name: a\n    enabled: 2\n",
                "edge_controllers[0].enabled: must be true or false, not an integer");
    parse_fails("edge_controllers:\n  - id: ~\n    name: a\n    trains: {}\n",
                "edge_controllers[0].trains: must be a list, not a mapping");
    parse_fails("edge_controllers:\n  - id: ~\n    name: a\n    trains: [t1]\n",
                "edge_controllers[0].trains[0]: must be a mapping, not a string");
    parse_fails("edge_controllers:\n  - id: ~\n    name: a\n    trains:\n"
                "      - {id: t1, name: T, plugin: dc_motor_hat}\n",
                "edge_controllers[0].trains[0].plugin: must be a mapping with name and config, "
                "not a string");
    parse_fails("edge_controllers:\n  - id: ~\n    name: a\n    trains:\n"
                "      - {id: t1, name: T, plugin: {name: x, config: 1}}\n",
                "edge_controllers[0].trains[0].plugin.config: must be a mapping, not an "
                "integer");
    parse_fails("edge_controllers:\n  - id: ~\n    name: a\n    trains:\n"
                "      - {id: t1, name: T, plugin: {name: [x]}}\n",
                "edge_controllers[0].trains[0].plugin.name: must be a string, not a list "
                "(quote the value)");
    parse_fails("edge_controllers:\n  - id: ~\n    name: a\n    trains:\n"
                "      - {id: t1, name: T, invert_directions: 1.5}\n",
                "edge_controllers[0].trains[0].invert_directions: must be true or false, not "
                "a number");
    parse_fails("edge_controllers:\n  - id: ~\n    name: a\n    trains:\n"
                "      - {id: 1.5, name: T}\n",
                "edge_controllers[0].trains[0].id: must be a string, not a number");
}

static void test_defaults(void **state)
{
    json_t *doc = parse_ok("edge_controllers:\n"
                           "  - id: ${UUID}\n"
                           "    name: bare\n"
                           "  - id: ${UUID}\n"
                           "    name: with-trains\n"
                           "    description: \"  \"\n"
                           "    enabled: false\n"
                           "    trains:\n"
                           "      - id: t1\n"
                           "        name: no plugin\n"
                           "      - id: t2\n"
                           "        name: plugin without name\n"
                           "        plugin:\n"
                           "          config: {motor_port: 3}\n"
                           "      - id: t3\n"
                           "        name: plugin without config\n"
                           "        plugin: {name: dc_motor_hat}\n"
                           "        invert_directions: true\n"
                           "      - id: t4\n"
                           "        name: null plugin\n"
                           "        plugin:\n"
                           "  - id: ${UUID}\n"
                           "    name: null trains\n"
                           "    trains:\n");

    assert_json(doc, "{\"plugins\": [], \"controllers\": ["
                     " {\"id\": null, \"name\": \"bare\", \"description\": null,"
                     "  \"address\": null, \"enabled\": true, \"trains\": []},"
                     " {\"id\": null, \"name\": \"with-trains\", \"description\": null,"
                     "  \"address\": null, \"enabled\": false, \"trains\": ["
                     "  {\"id\": \"t1\", \"name\": \"no plugin\", \"description\": null,"
                     "   \"model\": null, \"plugin\": {\"name\": \"dc_motor\", \"config\": {}},"
                     "   \"invert_directions\": false},"
                     "  {\"id\": \"t2\", \"name\": \"plugin without name\", \"description\": null,"
                     "   \"model\": null, \"plugin\": {\"name\": \"dc_motor\","
                     "   \"config\": {\"motor_port\": 3}}, \"invert_directions\": false},"
                     "  {\"id\": \"t3\", \"name\": \"plugin without config\","
                     "   \"description\": null, \"model\": null,"
                     "   \"plugin\": {\"name\": \"dc_motor_hat\", \"config\": {}},"
                     "   \"invert_directions\": true},"
                     "  {\"id\": \"t4\", \"name\": \"null plugin\", \"description\": null,"
                     "   \"model\": null, \"plugin\": {\"name\": \"dc_motor\", \"config\": {}},"
                     "   \"invert_directions\": false}]},"
                     " {\"id\": null, \"name\": \"null trains\", \"description\": null,"
                     "  \"address\": null, \"enabled\": true, \"trains\": []}]}");
    json_decref(doc);

    /* plugins: null and an empty controller list are fine too. */
    doc = parse_ok("plugins:\nedge_controllers: []\n");
    assert_json(doc, "{\"plugins\": [], \"controllers\": []}");
    json_decref(doc);
    doc = parse_ok("plugins:\n  - name: p\nedge_controllers:\n");
    assert_json(doc, "{\"plugins\": [{\"name\": \"p\", \"description\": null, \"config\": {}}],"
                     " \"controllers\": []}");
    json_decref(doc);
}

/* Files written for the earlier system were read as YAML 1.1, where yes/no/on/off are
 * booleans; they must keep their meaning. Unknown keys are ignored as before. */
static void test_yaml11_booleans_and_unknown_keys(void **state)
{
    json_t *doc = parse_ok("edge_controllers:\n"
                           "  - {id: ~, name: a, enabled: no, status: online}\n"
                           "  - {id: ~, name: b, enabled: \"Yes\"}\n"
                           "  - id: ~\n"
                           "    name: c\n"
                           "    enabled: off\n"
                           "    trains: [{id: t, name: t, invert_directions: on, extra: 1}]\n"
                           "extra_top_level: {}\n");

    assert_true(json_is_false(json_object_get(controller(doc, 0), "enabled")));
    assert_null(json_object_get(controller(doc, 0), "status"));
    assert_true(json_is_true(json_object_get(controller(doc, 1), "enabled")));
    assert_true(json_is_false(json_object_get(controller(doc, 2), "enabled")));
    assert_true(json_is_true(json_object_get(train(doc, 2, 0), "invert_directions")));
    assert_null(json_object_get(train(doc, 2, 0), "extra"));
    assert_null(json_object_get(doc, "extra_top_level"));
    json_decref(doc);
}

static void text_of(char *buf, size_t count, const char *unit)
{
    size_t ul = strlen(unit);

    for (size_t i = 0; i < count; i++)
        memcpy(buf + i * ul, unit, ul);
    buf[count * ul] = '\0';
}

static void test_lengths(void **state)
{
    char text[1100];
    char yaml[1400];
    json_t *doc;

    /* 100 characters, 200 bytes: lengths count characters. */
    text_of(text, 100, "\xc3\xa9");
    snprintf(yaml, sizeof yaml, "edge_controllers:\n  - {id: ~, name: \"%s\"}\n", text);
    doc = parse_ok(yaml);
    assert_int_equal(strlen(json_string_value(json_object_get(controller(doc, 0), "name"))), 200);
    json_decref(doc);

    text_of(text, 101, "n");
    snprintf(yaml, sizeof yaml, "edge_controllers:\n  - {id: ~, name: %s}\n", text);
    parse_fails(yaml, "edge_controllers[0].name: longer than 100 characters");

    text_of(text, 500, "d");
    snprintf(yaml, sizeof yaml,
             "edge_controllers:\n  - {id: ~, name: a, trains: [{id: t, name: t, "
             "description: %s}]}\n",
             text);
    json_decref(parse_ok(yaml));
    text_of(text, 501, "d");
    snprintf(yaml, sizeof yaml,
             "edge_controllers:\n  - {id: ~, name: a, trains: [{id: t, name: t, "
             "description: %s}]}\n",
             text);
    parse_fails(yaml, "edge_controllers[0].trains[0].description: longer than 500 characters");

    text_of(text, 501, "d");
    snprintf(yaml, sizeof yaml, "plugins: [{name: p, description: %s}]\nedge_controllers: []\n",
             text);
    parse_fails(yaml, "plugins[0].description: longer than 500 characters");

    text_of(text, 201, "m");
    snprintf(yaml, sizeof yaml,
             "edge_controllers:\n  - {id: ~, name: a, trains: [{id: t, name: t, model: %s}]}\n",
             text);
    parse_fails(yaml, "edge_controllers[0].trains[0].model: longer than 200 characters");

    text_of(text, 101, "i");
    snprintf(yaml, sizeof yaml,
             "edge_controllers:\n  - {id: ~, name: a, trains: [{id: %s, name: t}]}\n", text);
    parse_fails(yaml, "edge_controllers[0].trains[0].id: longer than 100 characters");
}

static void test_train_ids(void **state)
{
    json_t *doc = parse_ok("edge_controllers:\n  - id: ~\n    name: a\n    trains:\n"
                           "      - {id: 7, name: seven}\n"
                           "      - {id: \" t-2 \", name: two}\n"
                           "      - {id: Express_1.5, name: three}\n");

    assert_string_equal(json_string_value(json_object_get(train(doc, 0, 0), "id")), "7");
    assert_string_equal(json_string_value(json_object_get(train(doc, 0, 1), "id")), "t-2");
    assert_string_equal(json_string_value(json_object_get(train(doc, 0, 2), "id")), "Express_1.5");
    json_decref(doc);

    parse_fails("edge_controllers:\n  - id: ~\n    name: a\n    trains:\n"
                "      - {id: a/b, name: t}\n",
                "edge_controllers[0].trains[0].id: 'a/b' may not contain whitespace, control "
                "characters, '/', '+' or '#'");
    parse_fails("edge_controllers:\n  - id: ~\n    name: a\n    trains:\n"
                "      - {id: big train, name: t}\n",
                "edge_controllers[0].trains[0].id: 'big train' may not contain whitespace, "
                "control characters, '/', '+' or '#'");
    parse_fails("edge_controllers:\n  - id: ~\n    name: a\n    trains:\n"
                "      - {id: \"t#\", name: t}\n",
                "edge_controllers[0].trains[0].id: 't#' may not contain whitespace, control "
                "characters, '/', '+' or '#'");
}

static void test_duplicates(void **state)
{
    json_t *doc;

    parse_fails("plugins: [{name: p}, {name: q}, {name: p}]\nedge_controllers: []\n",
                "plugins[2].name: duplicate plugin name 'p' (first at plugins[0])");
    parse_fails("edge_controllers:\n"
                "  - {id: " FIXED_UUID ", name: a}\n"
                "  - {id: \"B7E6A2E2-8C3A-4E2A-9C1A-2F8E4B7E6A2E\", name: b}\n",
                "edge_controllers[1].id: duplicate controller id '" FIXED_UUID
                "' (first at edge_controllers[0])");
    parse_fails("edge_controllers:\n"
                "  - {id: ~, name: a, trains: [{id: t1, name: x}]}\n"
                "  - {id: ~, name: b, trains: [{id: t2, name: y}, {id: t1, name: z}]}\n",
                "edge_controllers[1].trains[1].id: duplicate train id 't1' (first at "
                "edge_controllers[0].trains[0])");
    /* Generated ids are recognised by name on the next import: names must tell them apart. */
    parse_fails("edge_controllers:\n"
                "  - {id: " FIXED_UUID ", name: pi}\n"
                "  - {id: \"${UUID}\", name: pi}\n",
                "edge_controllers[1].name: controller name 'pi' is used more than once; a "
                "controller without a fixed id needs a unique name to be recognised on the "
                "next import");
    parse_fails("edge_controllers:\n"
                "  - id: ~\n    name: a\n    trains:\n"
                "      - {id: \"${UUID}\", name: Express}\n"
                "      - {id: \"${UUID}\", name: Express}\n",
                "edge_controllers[0].trains[0].name: train name 'Express' is used more than "
                "once; a train without a fixed id needs a unique name to be recognised on the "
                "next import");

    /* Fixed ids may share names; generated trains may share names across controllers. */
    doc = parse_ok("edge_controllers:\n"
                   "  - {id: " FIXED_UUID ", name: pi, trains: [{id: ~, name: Express}]}\n"
                   "  - {id: b7e6a2e2-8c3a-4e2a-9c1a-2f8e4b7e6a2f, name: pi,\n"
                   "     trains: [{id: ~, name: Express}, {id: x1, name: Shunter},\n"
                   "              {id: x2, name: Shunter}]}\n");
    assert_int_equal(json_array_size(json_object_get(doc, "controllers")), 2);
    json_decref(doc);
}

static void test_input_not_modified(void **state)
{
    const char *yaml = "edge_controllers:\n  - {id: \"${UUID}\", name: \" a \"}\n";
    char err[256] = "";
    json_t *tree = NULL;
    json_t *copy;
    json_t *out = NULL;

    assert_int_equal(yamljson_load_buffer(yaml, strlen(yaml), &tree, err, sizeof err), 0);
    copy = json_deep_copy(tree);
    assert_int_equal(bootstrap_parse(tree, &out, err, sizeof err), 0);
    assert_true(json_equal(tree, copy));
    assert_string_equal(json_string_value(json_object_get(controller(out, 0), "name")), "a");
    json_decref(tree);
    json_decref(copy);
    json_decref(out);
}

static void test_null_arguments(void **state)
{
    char err[256] = "";
    json_t *out = NULL;

    assert_int_equal(bootstrap_parse(NULL, &out, err, sizeof err), -EINVAL);
    assert_string_equal(err, "document: must be a mapping with 'plugins' and 'edge_controllers', "
                             "not nothing");
    assert_null(out);
    assert_int_equal(bootstrap_parse(json_null(), &out, NULL, 0), -EINVAL);
    assert_null(out);
}

/* Files: a temporary directory per test. */
static int dir_setup(void **state)
{
    char tmpl[] = "/tmp/test_bootstrap.XXXXXX";
    char *dir = mkdtemp(tmpl);

    if (!dir)
        return -1;
    *state = strdup(dir);
    return *state ? 0 : -1;
}

static int dir_teardown(void **state)
{
    char *dir = *state;
    char path[512];
    struct dirent *de;
    DIR *d = opendir(dir);
    int rc = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (unlink(path) < 0)
            rc = -1;
    }
    closedir(d);
    if (rmdir(dir) < 0)
        rc = -1;
    free(dir);
    return rc;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void test_file_errors_name_the_file(void **state)
{
    char path[256];
    char want[512];
    char err[512] = "";
    json_t *out = NULL;

    snprintf(path, sizeof path, "%s/config.yaml", (char *)*state);

    write_text(path, "plugins: []\nedge_controllers:\n  - id: nope\n    name: a\n");
    assert_int_equal(bootstrap_load_file(path, &out, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want,
             "%s: edge_controllers[0].id: 'nope' is not a UUID (expected 8-4-4-4-12 hex "
             "digits, or ${UUID} to generate one)",
             path);
    assert_string_equal(err, want);

    write_text(path, "plugins: []\nedge_controllers:\n  - id: x\n    id: y\n");
    assert_int_equal(bootstrap_load_file(path, &out, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want, "%s:4:5: duplicate key 'id'", path);
    assert_string_equal(err, want);

    write_text(path, "");
    assert_int_equal(bootstrap_load_file(path, &out, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want, "%s:1:1: no YAML document (empty input)", path);
    assert_string_equal(err, want);
    assert_null(out);
}

static void test_file_size_limit(void **state)
{
    char path[256];
    char want[512];
    char err[512] = "";
    json_t *out = NULL;
    size_t size = BOOTSTRAP_MAX_FILE_BYTES + 1;
    char *big = malloc(size + 1);
    FILE *f;

    assert_non_null(big);
    memset(big, '#', size); /* one huge comment line */
    big[size - 1] = '\n';
    big[size] = '\0';
    snprintf(path, sizeof path, "%s/big.yaml", (char *)*state);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(big, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
    free(big);

    assert_int_equal(bootstrap_load_file(path, &out, err, sizeof err), -EFBIG);
    snprintf(want, sizeof want, "%s: file is larger than %zu bytes", path,
             BOOTSTRAP_MAX_FILE_BYTES);
    assert_string_equal(err, want);
    assert_null(out);
}

static void test_file_missing(void **state)
{
    char path[256];
    char err[512] = "";
    json_t *out = NULL;

    snprintf(path, sizeof path, "%s/absent.yaml", (char *)*state);
    assert_int_equal(bootstrap_load_file(path, &out, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "absent.yaml: cannot read"));
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_earlier_shipped_format),
        cmocka_unit_test(test_earlier_test_format),
        cmocka_unit_test(test_docs_example),
        cmocka_unit_test(test_generate_placeholders),
        cmocka_unit_test(test_uuid_normalised),
        cmocka_unit_test(test_bad_uuid),
        cmocka_unit_test(test_missing_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_yaml11_booleans_and_unknown_keys),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_train_ids),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_input_not_modified),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test_setup_teardown(test_file_errors_name_the_file, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_file_size_limit, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_file_missing, dir_setup, dir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
