/* The central's HTTP answers read into sync events (answer.c): every status class, body and
 * transport failure of every request, and every verdict on a downloaded config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "canon.h"

#define UUID "0b8a3f6e-4a59-4c1e-9d2b-1f6c2f3e4a5b"
#define OTHER_UUID "11111111-2222-4333-8444-555555555555"
#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static struct api_response resp(long status, const char *body)
{
    struct api_response r = {.status = status,
                             .body = body ? body : "",
                             .body_len = body ? strlen(body) : 0,
                             .retry_after_ms = -1};
    if (status == 0)
        r.error = "connect to 127.0.0.1:1 failed: Connection refused";
    return r;
}

static struct answer read_one(enum sync_action action, long status, const char *body)
{
    struct api_response r = resp(status, body);
    struct answer a;
    answer_read(action, &r, &a);
    return a;
}

/* --- registration ----------------------------------------------------------------------- */

static void test_register_ok(void **state)
{
    (void)state;
    struct answer a = read_one(
        SYNC_ACT_REGISTER, 201,
        "{\"uuid\":\"0B8A3F6E-4A59-4C1E-9D2B-1F6C2F3E4A5B\",\"config_version\":7,"
        "\"heartbeat_interval\":5,\"session_epoch\":3,\"controller_secret\":\"" SECRET "\"}");
    assert_int_equal(a.ev.kind, SYNC_EV_REGISTERED);
    assert_int_equal(a.ev.version, 7);
    assert_int_equal(a.ev.heartbeat_interval_s, 5);
    assert_int_equal(a.ev.retry_after_ms, -1);
    assert_string_equal(a.uuid, UUID); /* normalised */
    assert_string_equal(a.secret, SECRET);
    assert_int_equal(a.session_epoch, 3);
    assert_int_equal(a.reg_failure, REG_FAIL_COUNT);
    assert_false(a.failover);
    assert_false(a.secret_refused);
    answer_clear(&a);
    assert_null(a.body);
    assert_null(a.secret);

    /* 200 as well; absent fields are absent, not zero. */
    a = read_one(SYNC_ACT_REGISTER, 200, "{\"uuid\":\"" UUID "\"}");
    assert_int_equal(a.ev.kind, SYNC_EV_REGISTERED);
    assert_int_equal(a.ev.version, -1);
    assert_int_equal(a.ev.heartbeat_interval_s, 0);
    assert_null(a.secret);
    assert_int_equal(a.session_epoch, -1);
    answer_clear(&a);

    /* Fields of the wrong type count as absent; an interval beyond int is none. */
    a = read_one(SYNC_ACT_REGISTER, 200,
                 "{\"uuid\":\"" UUID "\",\"config_version\":\"7\",\"session_epoch\":null,"
                 "\"heartbeat_interval\":99999999999,\"controller_secret\":5}");
    assert_int_equal(a.ev.kind, SYNC_EV_REGISTERED);
    assert_int_equal(a.ev.version, -1);
    assert_int_equal(a.ev.heartbeat_interval_s, 0);
    assert_null(a.secret);
    assert_int_equal(a.session_epoch, -1);
    answer_clear(&a);
}

static void test_register_invalid_answer(void **state)
{
    (void)state;
    const char *bodies[] = {NULL, "not json", "{}", "{\"uuid\":42}", "{\"uuid\":\"pi-1\"}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct answer a = read_one(SYNC_ACT_REGISTER, i % 2 ? 200 : 201, bodies[i]);
        assert_int_equal(a.ev.kind, SYNC_EV_REGISTER_FAILED);
        assert_int_equal(a.reg_failure, REG_FAIL_INVALID);
        assert_string_equal(a.uuid, "");
        answer_clear(&a);
    }
}

static void test_register_failures(void **state)
{
    (void)state;
    static const struct {
        long status;
        enum reg_failure why;
    } cases[] = {
        {0, REG_FAIL_NETWORK},    {429, REG_FAIL_RATE_LIMITED}, {500, REG_FAIL_SERVER},
        {503, REG_FAIL_SERVER},   {400, REG_FAIL_REJECTED},     {401, REG_FAIL_REJECTED},
        {409, REG_FAIL_REJECTED}, {204, REG_FAIL_REJECTED},     {302, REG_FAIL_REJECTED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct api_response r = resp(cases[i].status, "{\"detail\":\"no\"}");
        r.retry_after_ms = cases[i].status == 429 ? 30000 : -1;
        struct answer a;
        answer_read(SYNC_ACT_REGISTER, &r, &a);
        assert_int_equal(a.ev.kind, SYNC_EV_REGISTER_FAILED);
        assert_int_equal(a.reg_failure, cases[i].why);
        assert_int_equal(a.ev.retry_after_ms, r.retry_after_ms);
        assert_int_equal(a.failover, cases[i].status == 0);
        assert_false(a.secret_refused);
        answer_clear(&a);
    }
    assert_string_equal(answer_reg_failure_name(REG_FAIL_NETWORK), "network");
    assert_string_equal(answer_reg_failure_name(REG_FAIL_RATE_LIMITED), "rate_limited");
    assert_string_equal(answer_reg_failure_name(REG_FAIL_REJECTED), "rejected");
    assert_string_equal(answer_reg_failure_name(REG_FAIL_SERVER), "server_error");
    assert_string_equal(answer_reg_failure_name(REG_FAIL_INVALID), "invalid_response");
    assert_string_equal(answer_reg_failure_name(REG_FAIL_COUNT), "");
}

/* Only a 401/403 whose body names the secret header is about the secret (a wrong
 * registration token is a 401 too). */
static void test_secret_refused(void **state)
{
    (void)state;
    const char *ours = "{\"error\":\"unauthorized\",\"field\":\"X-Controller-Secret\"}";
    const char *token = "{\"error\":\"unauthorized\",\"field\":\"X-Registration-Token\"}";
    const enum sync_action actions[] = {SYNC_ACT_REGISTER, SYNC_ACT_FETCH_CONFIG,
                                        SYNC_ACT_HEARTBEAT};
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        struct answer a = read_one(actions[i], 401, ours);
        assert_true(a.secret_refused);
        answer_clear(&a);
        a = read_one(actions[i], 403, ours);
        assert_true(a.secret_refused);
        answer_clear(&a);
        a = read_one(actions[i], 401, token);
        assert_false(a.secret_refused);
        answer_clear(&a);
        a = read_one(actions[i], 403, "garbage");
        assert_false(a.secret_refused);
        answer_clear(&a);
        a = read_one(actions[i], 400, ours); /* another status: not a refusal */
        assert_false(a.secret_refused);
        answer_clear(&a);
    }
}

/* --- train self-registration ------------------------------------------------------------ */

static void test_train(void **state)
{
    (void)state;
    static const struct {
        long status;
        enum answer_train train;
        enum sync_event_kind kind;
    } cases[] = {
        {200, ANSWER_TRAIN_REGISTERED, SYNC_EV_TRAIN_DONE},
        {201, ANSWER_TRAIN_REGISTERED, SYNC_EV_TRAIN_DONE},
        {409, ANSWER_TRAIN_CONFLICT, SYNC_EV_TRAIN_DONE},
        {400, ANSWER_TRAIN_REFUSED, SYNC_EV_TRAIN_DONE},
        {404, ANSWER_TRAIN_REFUSED, SYNC_EV_TRAIN_DONE},
        {0, ANSWER_TRAIN_RETRY, SYNC_EV_TRAIN_FAILED},
        {429, ANSWER_TRAIN_RETRY, SYNC_EV_TRAIN_FAILED},
        {500, ANSWER_TRAIN_RETRY, SYNC_EV_TRAIN_FAILED},
        {502, ANSWER_TRAIN_RETRY, SYNC_EV_TRAIN_FAILED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct api_response r = resp(cases[i].status, "{\"owner\":\"pi-2\"}");
        r.retry_after_ms = 2000;
        struct answer a;
        answer_read(SYNC_ACT_REGISTER_TRAIN, &r, &a);
        assert_int_equal(a.train, cases[i].train);
        assert_int_equal(a.ev.kind, cases[i].kind);
        assert_int_equal(a.ev.version, -1);
        assert_int_equal(a.ev.retry_after_ms, 2000);
        assert_non_null(a.body); /* the conflict's owner is logged from it */
        answer_clear(&a);
    }
}

/* --- config download -------------------------------------------------------------------- */

static void test_config_statuses(void **state)
{
    (void)state;
    struct answer a = read_one(SYNC_ACT_FETCH_CONFIG, 304, NULL);
    assert_int_equal(a.ev.kind, SYNC_EV_CONFIG_UNCHANGED);
    assert_false(a.document);
    assert_false(a.gone);
    answer_clear(&a);

    a = read_one(SYNC_ACT_FETCH_CONFIG, 404, "{\"detail\":\"unknown controller\"}");
    assert_int_equal(a.ev.kind, SYNC_EV_CONFIG_GONE);
    assert_true(a.gone);
    answer_clear(&a);

    a = read_one(SYNC_ACT_FETCH_CONFIG, 200, "{\"version\":1}");
    assert_true(a.document);
    assert_false(a.gone);
    answer_clear(&a);

    const long failed[] = {0, 400, 401, 429, 500, 503, 201};
    for (size_t i = 0; i < sizeof failed / sizeof failed[0]; i++) {
        struct api_response r = resp(failed[i], NULL);
        r.retry_after_ms = failed[i] == 429 ? 5000 : -1;
        answer_read(SYNC_ACT_FETCH_CONFIG, &r, &a);
        assert_int_equal(a.ev.kind, SYNC_EV_CONFIG_FAILED);
        assert_int_equal(a.ev.retry_after_ms, r.retry_after_ms);
        assert_false(a.document);
        assert_int_equal(a.failover, failed[i] == 0);
        answer_clear(&a);
    }
}

static json_t *config_new(int version, const char *uuid)
{
    json_t *c = json_pack("{s:s, s:s, s:i, s:{s:s, s:i}, s:i, s:[{s:s, s:s, s:{s:s, s:{s:i}}, "
                          "s:b, s:s, s:s}]}",
                          "uuid", uuid, "name", "pi-1", "version", version, "mqtt_broker", "host",
                          "127.0.0.1", "port", 1883, "heartbeat_interval", 10, "trains", "train_id",
                          "t1", "name", "Express", "plugin", "name", "simulator", "config",
                          "motor_port", 1, "invert_directions", 0, "commands_topic",
                          "trains/t1/commands", "status_topic", "trains/t1/status");
    char sum[CANON_CHECKSUM_LEN + 1];
    assert_non_null(c);
    assert_int_equal(canon_checksum(c, sum), 0);
    json_object_set_new(c, "checksum", json_string(sum));
    return c;
}

static enum answer_doc doc_check(const char *text, int64_t rejected_version,
                                 const char *rejected_checksum, struct sync_event *ev, bool *parsed)
{
    json_t *cfg = NULL;
    char reason[200] = "";
    enum answer_doc d = answer_config_document(text, strlen(text), UUID, rejected_version,
                                               rejected_checksum, &cfg, ev, reason, sizeof reason);
    *parsed = cfg != NULL;
    if (d == ANSWER_DOC_DAMAGED || d == ANSWER_DOC_REFUSED)
        assert_true(reason[0] != '\0');
    json_decref(cfg);
    return d;
}

static void test_config_documents(void **state)
{
    (void)state;
    struct sync_event ev;
    bool parsed;
    json_t *cfg = config_new(7, UUID);
    const char *sum = json_string_value(json_object_get(cfg, "checksum"));
    char *text = json_dumps(cfg, JSON_COMPACT);

    /* Intact and ours. */
    assert_int_equal(doc_check(text, -1, "", &ev, &parsed), ANSWER_DOC_APPLY);
    assert_true(parsed);
    /* Refused before under another checksum, or another version refused: applied. */
    assert_int_equal(doc_check(text, 7, "sha256:00", &ev, &parsed), ANSWER_DOC_APPLY);
    assert_int_equal(doc_check(text, 6, sum, &ev, &parsed), ANSWER_DOC_APPLY);
    /* The very document refused before. */
    assert_int_equal(doc_check(text, 7, sum, &ev, &parsed), ANSWER_DOC_REPEATED);
    assert_int_equal(ev.kind, SYNC_EV_CONFIG_REJECTED);
    assert_int_equal(ev.version, 7);

    /* Damaged on the way: not JSON, or its checksum does not match. */
    assert_int_equal(doc_check("{\"uuid\":", -1, "", &ev, &parsed), ANSWER_DOC_DAMAGED);
    assert_false(parsed);
    assert_int_equal(ev.kind, SYNC_EV_CONFIG_FAILED);
    assert_int_equal(ev.retry_after_ms, -1);
    json_t *bad = json_deep_copy(cfg);
    json_object_set_new(bad, "version", json_integer(8));
    char *bad_text = json_dumps(bad, JSON_COMPACT);
    assert_int_equal(doc_check(bad_text, -1, "", &ev, &parsed), ANSWER_DOC_DAMAGED);
    assert_true(parsed);
    assert_int_equal(ev.kind, SYNC_EV_CONFIG_FAILED);
    assert_int_equal(ev.version, -1);
    free(bad_text);
    json_decref(bad);

    /* Another controller's, checksum right: refused for good, with its version. */
    json_t *other = config_new(9, OTHER_UUID);
    char *other_text = json_dumps(other, JSON_COMPACT);
    assert_int_equal(doc_check(other_text, -1, "", &ev, &parsed), ANSWER_DOC_REFUSED);
    assert_int_equal(ev.kind, SYNC_EV_CONFIG_REJECTED);
    assert_int_equal(ev.version, 9);
    free(other_text);
    json_decref(other);

    /* Wrong content without a usable version: refused, but nothing to remember. */
    json_t *nov = config_new(-1, UUID);
    char *nov_text = json_dumps(nov, JSON_COMPACT);
    assert_int_equal(doc_check(nov_text, -1, "", &ev, &parsed), ANSWER_DOC_REFUSED);
    assert_int_equal(ev.kind, SYNC_EV_CONFIG_FAILED);
    assert_int_equal(ev.version, -1);
    free(nov_text);
    json_decref(nov);

    free(text);
    json_decref(cfg);
}

/* --- heartbeat and long poll ------------------------------------------------------------ */

static void test_heartbeat(void **state)
{
    (void)state;
    struct answer a = read_one(SYNC_ACT_HEARTBEAT, 200,
                               "{\"config_version\":12,\"heartbeat_interval\":30,"
                               "\"status\":\"online\"}");
    assert_int_equal(a.ev.kind, SYNC_EV_HEARTBEAT_OK);
    assert_int_equal(a.ev.version, 12);
    assert_int_equal(a.ev.heartbeat_interval_s, 30);
    assert_string_equal(json_string_value(json_object_get(a.body, "status")), "online");
    answer_clear(&a);

    /* A 200 that is not JSON still counts as a heartbeat answered. */
    a = read_one(SYNC_ACT_HEARTBEAT, 200, "ok");
    assert_int_equal(a.ev.kind, SYNC_EV_HEARTBEAT_OK);
    assert_int_equal(a.ev.version, -1);
    assert_int_equal(a.ev.heartbeat_interval_s, 0);
    assert_null(a.body);
    answer_clear(&a);

    a = read_one(SYNC_ACT_HEARTBEAT, 404, NULL);
    assert_int_equal(a.ev.kind, SYNC_EV_HEARTBEAT_GONE);
    assert_true(a.gone);
    answer_clear(&a);

    const long failed[] = {0, 201, 400, 403, 429, 500};
    for (size_t i = 0; i < sizeof failed / sizeof failed[0]; i++) {
        struct api_response r = resp(failed[i], NULL);
        r.retry_after_ms = 15000;
        answer_read(SYNC_ACT_HEARTBEAT, &r, &a);
        assert_int_equal(a.ev.kind, SYNC_EV_HEARTBEAT_FAILED);
        assert_int_equal(a.ev.retry_after_ms, 15000);
        assert_false(a.gone);
        answer_clear(&a);
    }
}

static void test_longpoll(void **state)
{
    (void)state;
    struct answer a = read_one(SYNC_ACT_LONGPOLL, 200, "{\"version\":4}");
    assert_int_equal(a.ev.kind, SYNC_EV_LONGPOLL_CHANGED);
    assert_int_equal(a.ev.version, 4);
    answer_clear(&a);

    a = read_one(SYNC_ACT_LONGPOLL, 200, "{\"version\":0}");
    assert_int_equal(a.ev.kind, SYNC_EV_LONGPOLL_CHANGED);
    assert_int_equal(a.ev.version, 0);
    answer_clear(&a);

    a = read_one(SYNC_ACT_LONGPOLL, 304, NULL);
    assert_int_equal(a.ev.kind, SYNC_EV_LONGPOLL_UNCHANGED);
    answer_clear(&a);

    /* A 200 without a usable version, another status or none: failed. */
    const char *bodies[] = {"{}", "{\"version\":-1}", "{\"version\":\"4\"}", "[4]", NULL};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        a = read_one(SYNC_ACT_LONGPOLL, 200, bodies[i]);
        assert_int_equal(a.ev.kind, SYNC_EV_LONGPOLL_FAILED);
        assert_int_equal(a.ev.version, -1);
        answer_clear(&a);
    }
    const long failed[] = {0, 404, 429, 500};
    for (size_t i = 0; i < sizeof failed / sizeof failed[0]; i++) {
        a = read_one(SYNC_ACT_LONGPOLL, failed[i], "{\"version\":4}");
        assert_int_equal(a.ev.kind, SYNC_EV_LONGPOLL_FAILED);
        assert_int_equal(a.failover, failed[i] == 0);
        answer_clear(&a);
    }
}

/* No request at all (a tag the shell does not know): nothing to feed but a tick. */
static void test_no_action(void **state)
{
    (void)state;
    struct answer a = read_one(SYNC_ACT_NONE, 200, "{}");
    assert_int_equal(a.ev.kind, SYNC_EV_TICK);
    answer_clear(&a);
    answer_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_ok),
        cmocka_unit_test(test_register_invalid_answer),
        cmocka_unit_test(test_register_failures),
        cmocka_unit_test(test_secret_refused),
        cmocka_unit_test(test_train),
        cmocka_unit_test(test_config_statuses),
        cmocka_unit_test(test_config_documents),
        cmocka_unit_test(test_heartbeat),
        cmocka_unit_test(test_longpoll),
        cmocka_unit_test(test_no_action),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
