/* The messages between centrals on one database: formats, parsing, parts and reassembly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster_proto.h"

#define UUID "0b6a7c1e-5d2f-4c3b-9a8e-1f2d3c4b5a69"

static void free_parts(char **parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(parts[i]);
    free(parts);
}

static void test_config_and_streams(void **state)
{
    (void)state;
    char buf[CLUSTER_PROTO_PAYLOAD_MAX + 1];
    struct cluster_msg m;
    assert_int_equal(cluster_proto_config(7, UUID, buf, sizeof buf), 0);
    assert_string_equal(buf, "1 7 C " UUID);
    assert_int_equal(cluster_proto_parse(buf, &m), 0);
    assert_int_equal(m.kind, CLUSTER_MSG_CONFIG);
    assert_int_equal(m.seq, 7);
    assert_string_equal(m.uuid, UUID);
    /* Upper case is normalised when sent; what arrives must be canonical. */
    assert_int_equal(
        cluster_proto_config(8, "0B6A7C1E-5D2F-4C3B-9A8E-1F2D3C4B5A69", buf, sizeof buf), 0);
    assert_string_equal(buf, "1 8 C " UUID);
    assert_int_equal(cluster_proto_config(9, "not-a-uuid", buf, sizeof buf), -EINVAL);
    assert_int_equal(cluster_proto_parse("1 9 C 0B6A7C1E-5D2F-4C3B-9A8E-1F2D3C4B5A69", &m),
                     -EINVAL);
    assert_int_equal(cluster_proto_parse("1 9 C " UUID " ", &m), -EINVAL);

    assert_int_equal(cluster_proto_streams(18446744073709551615ULL, 3, buf, sizeof buf), 0);
    assert_string_equal(buf, "1 18446744073709551615 S 3");
    assert_int_equal(cluster_proto_parse(buf, &m), 0);
    assert_int_equal(m.kind, CLUSTER_MSG_STREAMS);
    assert_int_equal(m.count, 3);
    assert_true(m.seq == UINT64_MAX);
    assert_int_equal(cluster_proto_streams(1, 0, buf, 5), -EMSGSIZE);
}

static void test_parse_refuses_what_is_not_a_message(void **state)
{
    (void)state;
    struct cluster_msg m;
    const char *bad[] = {
        "",
        "1",
        "2 1 S 0",                    /* another format */
        "1 x S 0",                    /* sequence not a number */
        "1 18446744073709551616 S 0", /* past 64 bits */
        "1 1 S",
        "1 1 S -1",
        "1 1 S 1 2",
        "1 1 X 0",
        "1 1 E 1 1 controller",    /* no text */
        "1 1 E 0 1 controller {}", /* parts count from 1 */
        "1 1 E 2 1 controller {}", /* part beyond parts */
        "1 1 E 1 1 Controller {}", /* type: lower case */
        "1 1 E 1 1 a-b {}",
        "1 1 E 1 1  {}",
        "1  1 S 0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cluster_proto_parse(bad[i], &m) != -EINVAL)
            fail_msg("accepted: '%s'", bad[i]);
    }
    assert_int_equal(cluster_proto_parse(NULL, &m), -EINVAL);
    assert_int_equal(cluster_proto_parse("1 1 E 1 1 train {\"id\":\"a b\"}", &m), 0);
    assert_string_equal(m.type, "train");
    assert_int_equal(m.text_len, strlen("{\"id\":\"a b\"}"));
    assert_memory_equal(m.text, "{\"id\":\"a b\"}", m.text_len);
}

static void test_small_event_is_one_part(void **state)
{
    (void)state;
    char **parts = NULL;
    size_t n = 0;
    assert_int_equal(cluster_proto_event(5, "controller", "{\"id\":\"x\"}", &parts, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(parts[0], "1 5 E 1 1 controller {\"id\":\"x\"}");
    struct cluster_msg m;
    struct cluster_assembly a = {0};
    char *json = NULL;
    char type[CLUSTER_PROTO_TYPE_MAX + 1];
    assert_int_equal(cluster_proto_parse(parts[0], &m), 0);
    assert_int_equal(cluster_assembly_add(&a, &m, &json, type), 1);
    assert_string_equal(json, "{\"id\":\"x\"}");
    assert_string_equal(type, "controller");
    free(json);
    cluster_assembly_clear(&a);
    free_parts(parts, n);
    assert_int_equal(cluster_proto_event(5, "Bad", "{}", &parts, &n), -EINVAL);
    assert_int_equal(cluster_proto_event(5, "train", "{\n}", &parts, &n), -EINVAL);
}

/* A large event of multi-byte characters: every part fits a payload, none cuts a character,
 * and the parts put together give the text back. */
static void test_large_event_in_parts(void **state)
{
    (void)state;
    size_t len = 3 * CLUSTER_PROTO_PART_TEXT + 123;
    char *json = malloc(len + 1);
    assert_non_null(json);
    json[0] = '"';
    for (size_t i = 1; i + 2 < len; i += 2)
        memcpy(json + i, "\xc3\xa9", 2); /* é */
    for (size_t i = len - 2; i < len; i++)
        json[i] = '"';
    json[len] = '\0';
    char **parts = NULL;
    size_t n = 0;
    assert_int_equal(cluster_proto_event(42, "train", json, &parts, &n), 0);
    assert_int_equal(n, 4);
    struct cluster_assembly a = {0};
    char *joined = NULL;
    char type[CLUSTER_PROTO_TYPE_MAX + 1];
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(parts[i]) <= CLUSTER_PROTO_PAYLOAD_MAX);
        struct cluster_msg m;
        assert_int_equal(cluster_proto_parse(parts[i], &m), 0);
        assert_int_equal(m.part, i + 1);
        assert_int_equal(m.parts, n);
        assert_int_equal(m.seq, 42);
        /* A part never starts in the middle of a character. */
        assert_true(((unsigned char)m.text[0] & 0xC0) != 0x80);
        assert_int_equal(cluster_assembly_add(&a, &m, &joined, type), i + 1 == n ? 1 : 0);
    }
    assert_string_equal(joined, json);
    free(joined);
    cluster_assembly_clear(&a);
    free_parts(parts, n);
    free(json);
}

static void test_assembly_restarts_on_a_gap(void **state)
{
    (void)state;
    size_t len = 2 * CLUSTER_PROTO_PART_TEXT;
    char *json = malloc(len + 1);
    assert_non_null(json);
    memset(json, 'a', len);
    json[len] = '\0';
    char **first = NULL, **second = NULL;
    size_t n1 = 0, n2 = 0;
    assert_int_equal(cluster_proto_event(1, "train", json, &first, &n1), 0);
    assert_int_equal(cluster_proto_event(2, "train", "{}", &second, &n2), 0);
    assert_int_equal(n1, 2);
    struct cluster_assembly a = {0};
    struct cluster_msg m;
    char *out = NULL;
    char type[CLUSTER_PROTO_TYPE_MAX + 1];
    /* The second part alone: out of order. */
    assert_int_equal(cluster_proto_parse(first[1], &m), 0);
    assert_int_equal(cluster_assembly_add(&a, &m, &out, type), -EINVAL);
    /* A first part, then another event: the half-assembled one is dropped. */
    assert_int_equal(cluster_proto_parse(first[0], &m), 0);
    assert_int_equal(cluster_assembly_add(&a, &m, &out, type), 0);
    assert_int_equal(cluster_proto_parse(second[0], &m), 0);
    assert_int_equal(cluster_assembly_add(&a, &m, &out, type), 1);
    assert_string_equal(out, "{}");
    free(out);
    /* A part of another sequence in the middle. */
    assert_int_equal(cluster_proto_parse(first[0], &m), 0);
    assert_int_equal(cluster_assembly_add(&a, &m, &out, type), 0);
    m.seq = 99;
    m.part = 2;
    assert_int_equal(cluster_assembly_add(&a, &m, &out, type), -EINVAL);
    cluster_assembly_clear(&a);
    free_parts(first, n1);
    free_parts(second, n2);
    free(json);
}

static void test_event_size_bound(void **state)
{
    (void)state;
    size_t len = CLUSTER_PROTO_EVENT_MAX + 1;
    char *json = malloc(len + 1);
    assert_non_null(json);
    memset(json, 'a', len);
    json[len] = '\0';
    char **parts = NULL;
    size_t n = 0;
    assert_int_equal(cluster_proto_event(1, "train", json, &parts, &n), -EMSGSIZE);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_and_streams),
        cmocka_unit_test(test_parse_refuses_what_is_not_a_message),
        cmocka_unit_test(test_small_event_is_one_part),
        cmocka_unit_test(test_large_event_in_parts),
        cmocka_unit_test(test_assembly_restarts_on_a_gap),
        cmocka_unit_test(test_event_size_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
