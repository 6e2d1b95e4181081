/* yamljson: YAML 1.2 core-schema resolution, structure, errors with line:column, limits. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "yamljson.h"

static json_t *load_ok(const char *yaml)
{
    char err[256] = "";
    json_t *out = NULL;
    int rc = yamljson_load_buffer(yaml, strlen(yaml), &out, err, sizeof err);

    if (rc != 0)
        fail_msg("load of <<%s>> failed: %d %s", yaml, rc, err);
    assert_non_null(out);
    return out;
}

/* Loads a broken document: the result must be rc, *out untouched, and err as given. */
static void load_fails(const char *yaml, int rc, const char *expected_err)
{
    char err[256] = "";
    json_t *sentinel = json_string("untouched");
    json_t *out = sentinel;

    assert_int_equal(yamljson_load_buffer(yaml, strlen(yaml), &out, err, sizeof err), rc);
    assert_ptr_equal(out, sentinel);
    assert_string_equal(err, expected_err);
    json_decref(sentinel);
}

static void assert_json(const json_t *got, const char *expected_json)
{
    json_error_t jerr;
    json_t *want = json_loads(expected_json, JSON_DECODE_ANY, &jerr);

    if (!want)
        fail_msg("bad expectation %s: %s", expected_json, jerr.text);
    if (!json_equal(got, want)) {
        char *dump = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);

        fail_msg("got %s, want %s", dump ? dump : "?", expected_json);
    }
    json_decref(want);
}

/* Scalar text -> JSON value, each loaded as the value of key v. */
static const struct {
    const char *yaml;
    const char *json;
} scalars[] = {
    /* null */
    {"~", "null"},
    {"null", "null"},
    {"Null", "null"},
    {"NULL", "null"},
    {"", "null"},
    {"nULL", "\"nULL\""},
    {"none", "\"none\""},
    /* bool: YAML 1.2 words only; yes/no/on/off are strings */
    {"true", "true"},
    {"True", "true"},
    {"TRUE", "true"},
    {"false", "false"},
    {"False", "false"},
    {"FALSE", "false"},
    {"tRUE", "\"tRUE\""},
    {"yes", "\"yes\""},
    {"no", "\"no\""},
    {"on", "\"on\""},
    {"off", "\"off\""},
    /* integers */
    {"0", "0"},
    {"42", "42"},
    {"-17", "-17"},
    {"+5", "5"},
    {"007", "7"},
    {"0x1F", "31"},
    {"0xff", "255"},
    {"0o17", "15"},
    {"9223372036854775807", "9223372036854775807"},
    {"-9223372036854775808", "-9223372036854775808"},
    {"0x7FFFFFFFFFFFFFFF", "9223372036854775807"},
    {"0X1F", "\"0X1F\""},
    {"0x", "\"0x\""},
    {"0xG1", "\"0xG1\""},
    {"0o8", "\"0o8\""},
    {"-0x10", "\"-0x10\""},
    {"0b101", "\"0b101\""},
    {"1_000", "\"1_000\""},
    /* floats */
    {"1.5", "1.5"},
    {"-0.25", "-0.25"},
    {"+.5", "0.5"},
    {".5", "0.5"},
    {"1.", "1.0"},
    {"1e3", "1000.0"},
    {"6.02E+23", "6.02e23"},
    {"2.5e-3", "0.0025"},
    {"1e", "\"1e\""},
    {".", "\".\""},
    {"1.2.3", "\"1.2.3\""},
    {"192.168.2.214", "\"192.168.2.214\""},
    {"12:30", "\"12:30\""},
    /* strings */
    {"hello world", "\"hello world\""},
    {"${UUID}", "\"${UUID}\""},
    {"b7e6a2e2-8c3a-4e2a-9c1a-2f8e4b7e6a2e", "\"b7e6a2e2-8c3a-4e2a-9c1a-2f8e4b7e6a2e\""},
    {"  padded  ", "\"padded\""},
    /* quoted scalars are never resolved */
    {"'42'", "\"42\""},
    {"\"true\"", "\"true\""},
    {"'null'", "\"null\""},
    {"'~'", "\"~\""},
    {"''", "\"\""},
    {"\"0x10\"", "\"0x10\""},
    {"\"1.5\"", "\"1.5\""},
    {"\"tab\\there\"", "\"tab\\there\""},
    {"\"\\u00e9t\\u00e9\"", "\"\\u00e9t\\u00e9\""},
    /* explicit tags */
    {"!!str 42", "\"42\""},
    {"!!str true", "\"true\""},
    {"!!int \"42\"", "42"},
    {"!!float 1", "1.0"},
    {"!!float '2.5'", "2.5"},
    {"!!bool 'false'", "false"},
    {"!!null ''", "null"},
    {"! 42", "\"42\""},
};

static void test_scalar_resolution(void **state)
{
    char doc[128];

    for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
        int n = snprintf(doc, sizeof doc, "v: %s\n", scalars[i].yaml);
        json_t *root;

        assert_true(n > 0 && (size_t)n < sizeof doc);
        root = load_ok(doc);
        assert_true(json_is_object(root));
        assert_int_equal(json_object_size(root), 1);
        assert_json(json_object_get(root, "v"), scalars[i].json);
        json_decref(root);
    }
}

static void test_real_and_integer_types(void **state)
{
    json_t *root = load_ok("i: 3\nf: 3.0\ne: 1e3\n");

    /* json_equal would not tell 3 from 3.0 if both were reals: check the kinds. */
    assert_true(json_is_integer(json_object_get(root, "i")));
    assert_true(json_is_real(json_object_get(root, "f")));
    assert_true(json_is_real(json_object_get(root, "e")));
    json_decref(root);
}

static void test_scalar_errors(void **state)
{
    load_fails("v: .inf\n", -EINVAL, "1:4: '.inf' (infinity or NaN) cannot be represented in JSON");
    load_fails("v: -.Inf\n", -EINVAL,
               "1:4: '-.Inf' (infinity or NaN) cannot be represented in JSON");
    load_fails("v: .NaN\n", -EINVAL, "1:4: '.NaN' (infinity or NaN) cannot be represented in JSON");
    load_fails("v: 9223372036854775808\n", -EINVAL,
               "1:4: integer '9223372036854775808' is out of range");
    load_fails("v: -9223372036854775809\n", -EINVAL,
               "1:4: integer '-9223372036854775809' is out of range");
    load_fails("v: 0x8000000000000000\n", -EINVAL,
               "1:4: integer '0x8000000000000000' is out of range");
    load_fails("v: 1e999\n", -EINVAL, "1:4: number '1e999' is out of range");
    load_fails("v: !!int abc\n", -EINVAL, "1:4: 'abc' is not a valid !!int");
    load_fails("v: !!bool yes\n", -EINVAL, "1:4: 'yes' is not a valid !!bool");
    load_fails("v: !!float x\n", -EINVAL, "1:4: 'x' is not a valid !!float");
    load_fails("v: !!null 0\n", -EINVAL, "1:4: '0' is not a valid !!null");
    load_fails("v: !custom x\n", -EINVAL, "1:4: unsupported tag '!custom'");
    load_fails("v: !!set {a}\n", -EINVAL, "1:4: unsupported tag 'tag:yaml.org,2002:set'");
    load_fails("v: \"a\\0b\"\n", -EINVAL, "1:4: NUL characters in scalars are not supported");
}

static void test_nesting(void **state)
{
    const char *yaml = "# comment\n"
                       "name: Holiday Display\n"
                       "enabled: true\n"
                       "ports: [1, 2, 0x3]\n"
                       "flow: {a: 1, b: [x, ~], c: {}}\n"
                       "empty_list: []\n"
                       "trains:\n"
                       "  - id: t1\n"
                       "    config:\n"
                       "      motor_port: 1\n"
                       "      speeds:\n"
                       "        - 0.5\n"
                       "        -\n"
                       "        - - nested\n"
                       "  - id: t2\n"
                       "description: |\n"
                       "  line one\n"
                       "  line two\n"
                       "folded: >\n"
                       "  a\n"
                       "  b\n"
                       "last:\n";
    json_t *root = load_ok(yaml);

    assert_json(root, "{\"name\": \"Holiday Display\", \"enabled\": true, \"ports\": [1, 2, 3],"
                      " \"flow\": {\"a\": 1, \"b\": [\"x\", null], \"c\": {}},"
                      " \"empty_list\": [],"
                      " \"trains\": [{\"id\": \"t1\", \"config\": {\"motor_port\": 1,"
                      "   \"speeds\": [0.5, null, [\"nested\"]]}}, {\"id\": \"t2\"}],"
                      " \"description\": \"line one\\nline two\\n\", \"folded\": \"a b\\n\","
                      " \"last\": null}");
    json_decref(root);
}

static void test_top_level_kinds(void **state)
{
    json_t *root;

    root = load_ok("- a\n- b\n");
    assert_json(root, "[\"a\", \"b\"]");
    json_decref(root);
    root = load_ok("just text\n");
    assert_json(root, "\"just text\"");
    json_decref(root);
    root = load_ok("12\n");
    assert_json(root, "12");
    json_decref(root);
    /* An explicit empty document is a null, not an error. */
    root = load_ok("---\n");
    assert_true(json_is_null(root));
    json_decref(root);
}

static void test_keys_are_text(void **state)
{
    json_t *root = load_ok("1: int\ntrue: bool\n~: tilde\n\"quoted\": q\n? explicit\n: e\n");

    assert_json(root, "{\"1\": \"int\", \"true\": \"bool\", \"~\": \"tilde\", \"quoted\": \"q\","
                      " \"explicit\": \"e\"}");
    json_decref(root);
}

static void test_duplicate_keys(void **state)
{
    load_fails("name: a\nid: 1\nname: b\n", -EINVAL, "3:1: duplicate key 'name'");
    load_fails("trains:\n  - id: 1\n    id: 2\n", -EINVAL, "3:5: duplicate key 'id'");
    load_fails("{a: 1, a: 2}\n", -EINVAL, "1:8: duplicate key 'a'");
    /* Plain and quoted spellings of one key are the same key. */
    load_fails("1: a\n\"1\": b\n", -EINVAL, "2:1: duplicate key '1'");
    /* The same key in different mappings is fine. */
    json_decref(load_ok("a: {x: 1}\nb: {x: 2}\n"));
}

static void test_non_scalar_keys(void **state)
{
    load_fails("? [a, b]\n: 1\n", -EINVAL, "1:3: mapping keys must be scalars, not sequences");
    load_fails("? {a: 1}\n: 1\n", -EINVAL, "1:3: mapping keys must be scalars, not mappings");
}

static void test_syntax_errors(void **state)
{
    load_fails("a: 1\nb: [1, 2\nc: 3\n", -EINVAL,
               "3:2: did not find expected ',' or ']' (while parsing a flow sequence at 2:4)");
    load_fails("a: 1\n  b: 2\n", -EINVAL, "2:4: mapping values are not allowed in this context");
    load_fails("a: 'open\n", -EINVAL,
               "2:1: found unexpected end of stream (while scanning a quoted scalar at 1:4)");
    load_fails("a:\n\t- 1\n", -EINVAL,
               "2:1: found character that cannot start any token (while scanning for the next "
               "token at 2:1)");
}

static void test_invalid_utf8(void **state)
{
    load_fails("a: \xff\xfe\n", -EINVAL, "byte 3: invalid leading UTF-8 octet");
}

static void test_aliases_rejected(void **state)
{
    json_t *root;

    load_fails("base: &b {x: 1}\nother: *b\n", -EINVAL, "2:8: aliases (*b) are not supported");
    /* An anchor that nothing refers to is harmless. */
    root = load_ok("base: &b {x: 1}\n");
    assert_json(root, "{\"base\": {\"x\": 1}}");
    json_decref(root);
}

static void test_empty_input(void **state)
{
    load_fails("", -EINVAL, "1:1: no YAML document (empty input)");
    load_fails("# only a comment\n\n", -EINVAL, "3:1: no YAML document (empty input)");
}

static void test_only_first_document(void **state)
{
    json_t *root = load_ok("a: 1\n---\nb: 2\n---\n[broken\n");

    assert_json(root, "{\"a\": 1}");
    json_decref(root);
    root = load_ok("--- {a: 1}\n...\n");
    assert_json(root, "{\"a\": 1}");
    json_decref(root);
}

static void test_depth_limit(void **state)
{
    char doc[2 * YAMLJSON_MAX_DEPTH + 8];
    char want[64];
    json_t *root;
    size_t n = 0;

    for (int i = 0; i < YAMLJSON_MAX_DEPTH; i++)
        doc[n++] = '[';
    for (int i = 0; i < YAMLJSON_MAX_DEPTH; i++)
        doc[n++] = ']';
    doc[n] = '\0';
    root = load_ok(doc);
    json_decref(root);

    n = 0;
    for (int i = 0; i <= YAMLJSON_MAX_DEPTH; i++)
        doc[n++] = '[';
    for (int i = 0; i <= YAMLJSON_MAX_DEPTH; i++)
        doc[n++] = ']';
    doc[n] = '\0';
    snprintf(want, sizeof want, "1:%d: nesting deeper than %d levels", YAMLJSON_MAX_DEPTH + 1,
             YAMLJSON_MAX_DEPTH);
    load_fails(doc, -EINVAL, want);
}

/* The length argument is honoured: no NUL terminator needed, trailing bytes ignored. */
static void test_buffer_length(void **state)
{
    const char buf[] = "a: 1\nb: 2";
    char err[128] = "";
    json_t *out = NULL;

    assert_int_equal(yamljson_load_buffer(buf, 4, &out, err, sizeof err), 0);
    assert_json(out, "{\"a\": 1}");
    json_decref(out);
}

static void test_null_err_buffer(void **state)
{
    json_t *out = NULL;

    assert_int_equal(yamljson_load_buffer("a: [", 4, &out, NULL, 0), -EINVAL);
    assert_null(out);
}

static void test_short_err_buffer(void **state)
{
    char err[12];
    json_t *out = NULL;

    assert_int_equal(yamljson_load_buffer("a: 1\na: 2\n", 10, &out, err, sizeof err), -EINVAL);
    assert_string_equal(err, "2:1: dup...");
}

/* Files: a temporary directory per test. */
static int dir_setup(void **state)
{
    char tmpl[] = "/tmp/test_yamljson.XXXXXX";
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

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text)
{
    write_file(path, text, strlen(text));
}

static void test_file_ok(void **state)
{
    char path[256];
    char err[256] = "";
    json_t *out = NULL;

    snprintf(path, sizeof path, "%s/ok.yaml", (char *)*state);
    write_text(path, "central_api_host: 10.0.0.2\ncentral_api_port: 8000\n");
    assert_int_equal(yamljson_load_file(path, 1024, &out, err, sizeof err), 0);
    assert_json(out, "{\"central_api_host\": \"10.0.0.2\", \"central_api_port\": 8000}");
    json_decref(out);
}

static void test_file_error_names_file(void **state)
{
    char path[256];
    char want[320];
    char err[320] = "";
    json_t *out = NULL;

    snprintf(path, sizeof path, "%s/config.yaml", (char *)*state);
    write_text(path, "plugins: []\nedge_controllers:\n  - name: a\n    name: b\n");
    assert_int_equal(yamljson_load_file(path, 1024, &out, err, sizeof err), -EINVAL);
    assert_null(out);
    snprintf(want, sizeof want, "%s:4:5: duplicate key 'name'", path);
    assert_string_equal(err, want);

    write_text(path, "a: [1,\n");
    assert_int_equal(yamljson_load_file(path, 1024, &out, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want, "%s:2:1: did not find expected node content", path);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);

    write_text(path, "");
    assert_int_equal(yamljson_load_file(path, 1024, &out, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want, "%s:1:1: no YAML document (empty input)", path);
    assert_string_equal(err, want);
}

static void test_file_size_limit(void **state)
{
    char path[256];
    char want[320];
    char err[320] = "";
    char data[101];
    json_t *out = NULL;

    /* "k: xxx...x\n", 100 bytes */
    memset(data, 'x', 100);
    data[0] = 'k';
    data[1] = ':';
    data[2] = ' ';
    data[99] = '\n';
    snprintf(path, sizeof path, "%s/big.yaml", (char *)*state);
    write_file(path, data, 100);

    assert_int_equal(yamljson_load_file(path, 99, &out, err, sizeof err), -EFBIG);
    assert_null(out);
    snprintf(want, sizeof want, "%s: file is larger than 99 bytes", path);
    assert_string_equal(err, want);

    /* Exactly at the limit is accepted. */
    assert_int_equal(yamljson_load_file(path, 100, &out, err, sizeof err), 0);
    assert_int_equal(json_string_length(json_object_get(out, "k")), 96);
    json_decref(out);
}

static void test_file_missing(void **state)
{
    char path[256];
    char want[320];
    char err[320] = "";
    json_t *out = NULL;

    snprintf(path, sizeof path, "%s/nope.yaml", (char *)*state);
    assert_int_equal(yamljson_load_file(path, 1024, &out, err, sizeof err), -ENOENT);
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory", path);
    assert_string_equal(err, want);

    assert_int_equal(yamljson_load_file((char *)*state, 1024, &out, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want, "%s: not a regular file", (char *)*state);
    assert_string_equal(err, want);
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_resolution),
        cmocka_unit_test(test_real_and_integer_types),
        cmocka_unit_test(test_scalar_errors),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_top_level_kinds),
        cmocka_unit_test(test_keys_are_text),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_non_scalar_keys),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_aliases_rejected),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_only_first_document),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_buffer_length),
        cmocka_unit_test(test_null_err_buffer),
        cmocka_unit_test(test_short_err_buffer),
        cmocka_unit_test_setup_teardown(test_file_ok, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_file_error_names_file, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_file_size_limit, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_file_missing, dir_setup, dir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
