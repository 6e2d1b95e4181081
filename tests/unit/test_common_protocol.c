/* The protocol's vocabulary (protocol.h): the train-id rule, the topics' builder and parser,
 * the command words and the command parser the edge, the central and the fleet share; and the
 * web UI's copy of the words and limits, read from app.js. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol.h"

#define UUID "0b7e6bd2-51a4-4c7e-9f59-2f4e0a1b2c3d"

static void test_train_id_rules(void **state)
{
    (void)state;
    assert_true(proto_train_id_valid("t1", 2));
    assert_true(proto_train_id_valid("express_1.a-b", 13));
    assert_false(proto_train_id_valid("", 0));
    assert_false(proto_train_id_valid(NULL, 3));
    assert_false(proto_train_id_valid("a/b", 3));
    assert_false(proto_train_id_valid("a+", 2));
    assert_false(proto_train_id_valid("#", 1));
    assert_false(proto_train_id_valid("a b", 3));
    assert_false(proto_train_id_valid("a\x7f", 2));
    assert_false(proto_train_id_valid("ab", 3)); /* an embedded NUL: the length disagrees */
    char longid[PROTO_TRAIN_ID_MAX + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_false(proto_train_id_valid(longid, PROTO_TRAIN_ID_MAX + 1));
    longid[PROTO_TRAIN_ID_MAX] = '\0';
    assert_true(proto_train_id_valid(longid, PROTO_TRAIN_ID_MAX));
}

static void test_topics_round_trip(void **state)
{
    (void)state;
    static const struct {
        enum proto_topic kind;
        const char *id, *topic;
    } cases[] = {
        {PROTO_TOPIC_COMMANDS, "t1", "trains/t1/commands"},
        {PROTO_TOPIC_STATUS, "t1", "trains/t1/status"},
        {PROTO_TOPIC_PRESENCE, UUID, "controllers/" UUID "/presence"},
        {PROTO_TOPIC_PROBE, UUID, "controllers/" UUID "/probe"},
        {PROTO_TOPIC_ESTOP_ACK, UUID, "controllers/" UUID "/estop-ack"},
        {PROTO_TOPIC_CONFIG_UPDATE, UUID, "controllers/" UUID "/config/update"},
        {PROTO_TOPIC_LAYOUT_ESTOP, "", "roundhouse/emergency-stop"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[PROTO_TOPIC_MAX], id[PROTO_TRAIN_ID_MAX + 1];
        assert_int_equal(proto_topic(buf, sizeof buf, cases[i].kind, cases[i].id), 0);
        assert_string_equal(buf, cases[i].topic);
        assert_int_equal(proto_topic_parse(buf, id, sizeof id), cases[i].kind);
        assert_string_equal(id, cases[i].id);
    }
    /* The longest id fits the documented buffer. */
    char longid[PROTO_TRAIN_ID_MAX + 1], buf[PROTO_TOPIC_MAX];
    memset(longid, 'x', PROTO_TRAIN_ID_MAX);
    longid[PROTO_TRAIN_ID_MAX] = '\0';
    assert_int_equal(proto_topic(buf, sizeof buf, PROTO_TOPIC_COMMANDS, longid), 0);
    char small[8];
    assert_int_equal(proto_topic(small, sizeof small, PROTO_TOPIC_STATUS, "t1"), -ENOSPC);
    assert_int_equal(proto_topic(buf, sizeof buf, PROTO_TOPIC_NONE, "t1"), -EINVAL);
}

static void test_topic_parse_rejects(void **state)
{
    (void)state;
    char id[16];
    static const char *const bad[] = {
        "trains//status",      "trains/a/b/status",     "trains/t1/status/x", "trains/t1",
        "train/t1/status",     "controllers/x/other",   "roundhouse/other",   "",
        "trains/t1/commandsx", "controllers/+/presence"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum proto_topic k = proto_topic_parse(bad[i], id, sizeof id);
        /* A wildcard is one level like any other: the parser leaves ids to their checks. */
        if (strcmp(bad[i], "controllers/+/presence") == 0)
            assert_int_equal(k, PROTO_TOPIC_PRESENCE);
        else
            assert_int_equal(k, PROTO_TOPIC_NONE);
    }
    /* An id longer than the caller's buffer is no topic of ours. */
    assert_int_equal(proto_topic_parse("trains/0123456789abcdef/status", id, sizeof id),
                     PROTO_TOPIC_NONE);
}

static void test_action_words(void **state)
{
    (void)state;
    assert_string_equal(proto_action_name(PROTO_ACT_SET_SPEED), "setSpeed");
    assert_string_equal(proto_action_name(PROTO_ACT_ESTOP), "emergencyStop");
    assert_string_equal(proto_action_name(PROTO_ACT_COUNT), "unknown");
    for (int i = 0; i < PROTO_ACT_COUNT; i++) {
        assert_int_equal(proto_action_parse(proto_action_name((enum proto_action)i)), i);
        assert_non_null(strstr(PROTO_ACTION_WORDS, proto_action_name((enum proto_action)i)));
    }
    assert_int_equal(proto_action_parse("EMERGENCYSTOP"), PROTO_ACT_ESTOP);
    assert_int_equal(proto_action_parse("warp"), -1);
    assert_int_equal(proto_action_parse(NULL), -1);
}

static int parse(const char *text, struct proto_command *c, const char **field)
{
    char err[128];
    json_t *doc = json_loads(text, 0, NULL);
    *field = NULL;
    int rc = proto_command_from_json(doc, c, field, err, sizeof err);
    if (rc < 0)
        assert_true(err[0] != '\0');
    json_decref(doc);
    return rc;
}

static void test_command_forms(void **state)
{
    (void)state;
    struct proto_command c;
    const char *field;
    assert_int_equal(parse("{\"action\":\"setSpeed\",\"speed\":40}", &c, &field), 0);
    assert_int_equal(c.action, PROTO_ACT_SET_SPEED);
    assert_true(c.has_speed);
    assert_int_equal(c.speed, 40);
    assert_int_equal(parse("{\"speed\":49.5}", &c, &field), 0); /* the earlier form, rounded */
    assert_int_equal(c.action, PROTO_ACT_SET_SPEED);
    assert_int_equal(c.speed, 50);
    assert_int_equal(parse("{\"command\":\"STOP\"}", &c, &field), 0);
    assert_int_equal(c.action, PROTO_ACT_STOP);
    assert_int_equal(parse("{\"action\":\"setDirection\",\"direction\":\"backward\"}", &c, &field),
                     0);
    assert_true(c.has_direction);
    assert_true(c.reverse);
    assert_int_equal(
        parse("{\"action\":\"start\",\"command\":\"start\",\"speed\":null}", &c, &field), 0);
    assert_false(c.has_speed);

    static const struct {
        const char *doc, *field;
    } bad[] = {
        {"{}", "action"},
        {"{\"action\":\"warp\"}", "action"},
        {"{\"command\":\"warp\"}", "command"},
        {"{\"action\":\"stop\",\"command\":\"start\"}", "command"},
        {"{\"action\":\"setSpeed\"}", "speed"},
        {"{\"action\":\"setSpeed\",\"speed\":101}", "speed"},
        {"{\"action\":\"setSpeed\",\"speed\":\"fast\"}", "speed"},
        {"{\"action\":\"setDirection\"}", "direction"},
        {"{\"action\":\"setDirection\",\"direction\":\"up\"}", "direction"},
        {"[1]", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i].doc, &c, &field), -EINVAL);
        if (bad[i].field == NULL)
            assert_null(field);
        else
            assert_string_equal(field, bad[i].field);
    }
}

static void test_command_bytes(void **state)
{
    (void)state;
    struct proto_command c;
    char err[128];
    const char stop[] = "{\"action\":\"stop\"}";
    assert_int_equal(proto_command_parse(stop, strlen(stop), &c, err, sizeof err), 0);
    assert_int_equal(proto_command_parse("", 0, &c, err, sizeof err), -EINVAL);
    const char dup[] = "{\"action\":\"stop\",\"action\":\"start\"}";
    assert_int_equal(proto_command_parse(dup, strlen(dup), &c, err, sizeof err), -EINVAL);
    const char nul[] = "{\"action\":\"stop\\u0000x\"}";
    assert_int_equal(proto_command_parse(nul, strlen(nul), &c, err, sizeof err), -EINVAL);
    char *big = malloc(PROTO_COMMAND_MAX + 2);
    memset(big, ' ', PROTO_COMMAND_MAX + 1);
    memcpy(big, stop, strlen(stop));
    assert_int_equal(proto_command_parse(big, PROTO_COMMAND_MAX + 1, &c, err, sizeof err), -EINVAL);
    free(big);
}

/* The web UI sends these words and checks these limits on its own: they must be the C ones. */
static void test_web_ui_agrees(void **state)
{
    (void)state;
    FILE *f = fopen(RH_WEB_APP_JS, "rb");
    assert_non_null(f);
    static char js[512 * 1024];
    size_t n = fread(js, 1, sizeof js - 1, f);
    fclose(f);
    js[n] = '\0';
    /* Every action the UI sends is one the protocol knows. */
    for (const char *p = js; (p = strstr(p, "action: \"")) != NULL;) {
        p += strlen("action: \"");
        char word[32];
        size_t len = strcspn(p, "\"");
        assert_true(len < sizeof word);
        memcpy(word, p, len);
        word[len] = '\0';
        assert_true(proto_action_parse(word) >= 0);
    }
    char limit[64];
    snprintf(limit, sizeof limit, "at most %d are allowed", PROTO_NAME_MAX);
    assert_non_null(strstr(js, "/" PROTO_STR(PROTO_NAME_MAX) "`"));
    assert_non_null(strstr(js, "/" PROTO_STR(PROTO_DESCRIPTION_MAX) "`"));
    assert_non_null(strstr(js, "> " PROTO_STR(PROTO_NAME_MAX) ")"));
    assert_non_null(strstr(js, "> " PROTO_STR(PROTO_DESCRIPTION_MAX) ")"));
    assert_non_null(strstr(js, limit));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_id_rules),      cmocka_unit_test(test_topics_round_trip),
        cmocka_unit_test(test_topic_parse_rejects), cmocka_unit_test(test_action_words),
        cmocka_unit_test(test_command_forms),       cmocka_unit_test(test_command_bytes),
        cmocka_unit_test(test_web_ui_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
