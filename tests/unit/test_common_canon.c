/* Canonical JSON and the "sha256:<hex>" checksum. Expected texts and digests were produced with
 * Python: json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False) and
 * hashlib.sha256(text.encode()).hexdigest(). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canon.h"
#include "sha256.h"

#define LAYOUT_CANON                                                                               \
    "{\"controllers\":[{\"motors\":{\"a\":1,\"b\":2},\"uuid\":\"6f1c2a9e-3b4d-4e5f-8a7b-"          \
    "9c0d1e2f3a4b\"}],\"enabled\":true,\"name\":\"yard\",\"note\":null,\"version\":3}"
#define LAYOUT_SHA "ec1ac215ca1e21602a5cd67ffc19c36dffb7f191283046adca35afffbd2a4219"

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (doc == NULL)
        fail_msg("bad test JSON: %s", jerr.text);
    return doc;
}

static void checksum_of(const char *text, char out[CANON_CHECKSUM_LEN + 1])
{
    json_t *doc = load(text);
    memset(out, 'x', CANON_CHECKSUM_LEN + 1);
    assert_int_equal(canon_checksum(doc, out), 0);
    json_decref(doc);
}

static void assert_dump(const char *text, const char *expected)
{
    json_t *doc = load(text);
    char *out = NULL;
    assert_int_equal(canon_dump(doc, &out), 0);
    assert_non_null(out);
    assert_string_equal(out, expected);
    free(out);
    json_decref(doc);
}

static void test_dump_sorted_compact(void **state)
{
    assert_dump("{ \"version\": 3, \"name\": \"yard\",\n \"controllers\": [ { \"uuid\": "
                "\"6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b\", \"motors\": { \"b\": 2, \"a\": 1 } } "
                "],\n \"enabled\": true, \"note\": null }",
                LAYOUT_CANON);
}

static void test_checksum_matches_sha256_of_canonical_text(void **state)
{
    char sum[CANON_CHECKSUM_LEN + 1];
    checksum_of("{\"version\":3,\"name\":\"yard\",\"controllers\":[{\"uuid\":"
                "\"6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b\",\"motors\":{\"b\":2,\"a\":1}}],"
                "\"enabled\":true,\"note\":null}",
                sum);
    assert_int_equal(strlen(sum), CANON_CHECKSUM_LEN);
    assert_string_equal(sum, "sha256:" LAYOUT_SHA);

    char direct[SHA256_HEX_LEN + 1];
    sha256_hex(LAYOUT_CANON, strlen(LAYOUT_CANON), direct);
    assert_string_equal(sum + 7, direct);
}

static void test_key_order_and_whitespace_irrelevant(void **state)
{
    static const char *const texts[] = {
        "{\"version\":3,\"name\":\"yard\",\"controllers\":[{\"uuid\":"
        "\"6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b\",\"motors\":{\"b\":2,\"a\":1}}],"
        "\"enabled\":true,\"note\":null}",
        "{\n  \"note\" : null,\n  \"enabled\" : true,\n  \"controllers\" : [\n    {\n"
        "      \"motors\" : {\"a\" : 1, \"b\" : 2},\n      \"uuid\" : "
        "\"6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b\"\n    }\n  ],\n  \"name\" : \"yard\",\n"
        "  \"version\" : 3\n}\n",
        "\t{\"name\":\"yard\",\"version\":3,\"note\":null,\"enabled\":true,\r\n"
        "\"controllers\":[{\"motors\":{\"b\":2,\"a\":1},\"uuid\":"
        "\"6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b\"}]}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char sum[CANON_CHECKSUM_LEN + 1];
        checksum_of(texts[i], sum);
        assert_string_equal(sum, "sha256:" LAYOUT_SHA);
    }
}

static void test_top_level_checksum_excluded(void **state)
{
    char a[CANON_CHECKSUM_LEN + 1], b[CANON_CHECKSUM_LEN + 1], c[CANON_CHECKSUM_LEN + 1];
    checksum_of("{\"b\":1,\"a\":{\"x\":true}}", a);
    checksum_of("{\"checksum\":\"sha256:00\",\"b\":1,\"a\":{\"x\":true}}", b);
    checksum_of("{\"b\":1,\"a\":{\"x\":true},\"checksum\":{\"any\":[1,2]}}", c);
    assert_string_equal(a, b);
    assert_string_equal(a, c);

    /* The document passed in keeps its checksum key. */
    json_t *doc = load("{\"checksum\":\"sha256:00\",\"b\":1}");
    char sum[CANON_CHECKSUM_LEN + 1];
    assert_int_equal(canon_checksum(doc, sum), 0);
    assert_string_equal(json_string_value(json_object_get(doc, "checksum")), "sha256:00");
    json_decref(doc);
}

/* Only the top-level key is excluded: a nested "checksum" is content. */
static void test_nested_checksum_included(void **state)
{
    char sum[CANON_CHECKSUM_LEN + 1], without[CANON_CHECKSUM_LEN + 1];
    checksum_of("{\"b\":1,\"a\":{\"checksum\":\"keep\"}}", sum);
    assert_string_equal(sum,
                        "sha256:175beb582312389a25f38cadb4f0caedf5bf40bac0408b44599c11c1f76cdbf0");
    checksum_of("{\"b\":1,\"a\":{}}", without);
    assert_string_not_equal(sum, without);
}

static void test_nested_objects_sorted(void **state)
{
    const char *text = "{\"z\":{\"y\":{\"b\":[{\"d\":1,\"c\":2}],\"a\":0}},\"a\":[]}";
    assert_dump(text, "{\"a\":[],\"z\":{\"y\":{\"a\":0,\"b\":[{\"c\":2,\"d\":1}]}}}");
    char sum[CANON_CHECKSUM_LEN + 1];
    checksum_of(text, sum);
    assert_string_equal(sum,
                        "sha256:647c2cc44ba615337ceeb45d70ec3c6b01ac6783f2554b27d4d5c60490ccf9c5");
}

/* UTF-8 stays UTF-8 (no \u escapes) and keys sort by code point, as Python's sort_keys does. */
static void test_non_ascii(void **state)
{
    const char *text = "{\"name\":\"Güterbahnhof Zürich\",\"日本\":\"東京\",\"emoji\":\"🚂\","
                       "\"z\":\"\\uff5a\",\"\\u00e9\":1,\"ｚ\":2,\"\\ud83d\\ude00\":3}";
    assert_dump(text, "{\"emoji\":\"🚂\",\"name\":\"Güterbahnhof Zürich\",\"z\":\"ｚ\",\"é\":1,"
                      "\"日本\":\"東京\",\"ｚ\":2,\"😀\":3}");
    char sum[CANON_CHECKSUM_LEN + 1];
    checksum_of(text, sum);
    assert_string_equal(sum,
                        "sha256:f630266c72dd62efba8a6a511e7e1e254d932185bccde34414469e964df003a0");
}

/* Arrays keep their order; integers beyond 2^53 stay exact; binary-exact reals print as
 * Python prints them. */
static void test_numbers_and_arrays(void **state)
{
    const char *text = "{\"zero\":0,\"t\":true,\"f\":false,\"arr\":[3,1,2],\"i\":9007199254740993,"
                       "\"n\":-42,\"half\":0.5,\"q\":-2.25}";
    assert_dump(text, "{\"arr\":[3,1,2],\"f\":false,\"half\":0.5,\"i\":9007199254740993,"
                      "\"n\":-42,\"q\":-2.25,\"t\":true,\"zero\":0}");
    char sum[CANON_CHECKSUM_LEN + 1];
    checksum_of(text, sum);
    assert_string_equal(sum,
                        "sha256:0b4395f088bf6a03d70fd4886fe653e67feebec820d2aeae1301b3158176f5d6");
}

static void test_empty_object(void **state)
{
    char sum[CANON_CHECKSUM_LEN + 1];
    checksum_of("{ }", sum);
    assert_string_equal(sum,
                        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    checksum_of("{\"checksum\":\"sha256:ab\"}", sum);
    assert_string_equal(sum,
                        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
}

static void test_any_change_changes_checksum(void **state)
{
    char a[CANON_CHECKSUM_LEN + 1], b[CANON_CHECKSUM_LEN + 1], c[CANON_CHECKSUM_LEN + 1];
    checksum_of("{\"speed\":10,\"name\":\"a\"}", a);
    checksum_of("{\"speed\":11,\"name\":\"a\"}", b);
    checksum_of("{\"speed\":\"10\",\"name\":\"a\"}", c);
    assert_string_not_equal(a, b);
    assert_string_not_equal(a, c);
}

static void test_invalid_arguments(void **state)
{
    char sum[CANON_CHECKSUM_LEN + 1] = "untouched";
    assert_int_equal(canon_checksum(NULL, sum), -EINVAL);
    json_t *arr = load("[1,2]");
    assert_int_equal(canon_checksum(arr, sum), -EINVAL);
    assert_string_equal(sum, "untouched");

    char *out = NULL;
    assert_int_equal(canon_dump(NULL, &out), -EINVAL);
    assert_null(out);
    /* canon_dump itself accepts any value. */
    assert_int_equal(canon_dump(arr, &out), 0);
    assert_string_equal(out, "[1,2]");
    free(out);
    json_decref(arr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_sorted_compact),
        cmocka_unit_test(test_checksum_matches_sha256_of_canonical_text),
        cmocka_unit_test(test_key_order_and_whitespace_irrelevant),
        cmocka_unit_test(test_top_level_checksum_excluded),
        cmocka_unit_test(test_nested_checksum_included),
        cmocka_unit_test(test_nested_objects_sorted),
        cmocka_unit_test(test_non_ascii),
        cmocka_unit_test(test_numbers_and_arrays),
        cmocka_unit_test(test_empty_object),
        cmocka_unit_test(test_any_change_changes_checksum),
        cmocka_unit_test(test_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
