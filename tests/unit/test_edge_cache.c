/* Edge state files: every corrupt-cache case leads to the documented fallback
 * (docs/edge-state.md), never to a crash or to running a damaged config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "canon.h"
#include "fileio.h"
#include "identity.h"

#define NOW 1795000000000LL /* 2026-11-18 */
#define DAY (24LL * 3600 * 1000)
#define UUID "0b8a3f6e-4a59-4c1e-9d2b-1f6c2f3e4a5b"

static json_t *config_new(int version)
{
    json_t *c = json_pack("{s:s, s:s, s:i, s:{s:s, s:i}, s:i, s:[{s:s, s:s, s:{s:s, s:{s:i}}, "
                          "s:b, s:s, s:s}]}",
                          "uuid", UUID, "name", "pi-1", "version", version, "mqtt_broker", "host",
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

static void resum(json_t *c)
{
    char sum[CANON_CHECKSUM_LEN + 1];
    assert_int_equal(canon_checksum(c, sum), 0);
    json_object_set_new(c, "checksum", json_string(sum));
}

static char *envelope_text(const json_t *cfg, int64_t at, size_t *len)
{
    char *text = NULL;
    assert_int_equal(cache_entry_build(cfg, at, &text, len), 0);
    return text;
}

static enum cache_verdict check(const char *text, size_t len, int64_t max_age)
{
    json_t *cfg = NULL;
    int64_t at = 0;
    char reason[160] = "";
    enum cache_verdict v =
        cache_entry_check(text, len, NOW, max_age, &cfg, &at, reason, sizeof reason);
    assert_true(reason[0] != '\0');
    if (v == CACHE_VALID || v == CACHE_STALE)
        assert_non_null(cfg);
    else
        assert_null(cfg);
    json_decref(cfg);
    return v;
}

static void test_valid_roundtrip(void **state)
{
    (void)state;
    json_t *cfg = config_new(3);
    size_t len;
    char *text = envelope_text(cfg, NOW - 1000, &len);
    json_t *out = NULL;
    int64_t at = 0;
    assert_int_equal(cache_entry_check(text, len, NOW, 7 * DAY, &out, &at, NULL, 0), CACHE_VALID);
    assert_true(json_equal(out, cfg));
    assert_true(at == NOW - 1000);
    json_decref(out);
    free(text);
    json_decref(cfg);
}

static void test_truncated(void **state)
{
    (void)state;
    json_t *cfg = config_new(1);
    size_t len;
    char *text = envelope_text(cfg, NOW, &len);
    /* Every prefix (a write cut short at any byte) is rejected. */
    for (size_t n = 0; n < len - 1; n++)
        assert_int_equal(check(text, n, 0), CACHE_INVALID);
    free(text);
    json_decref(cfg);
}

static void test_flipped_byte(void **state)
{
    (void)state;
    json_t *cfg = config_new(1);
    size_t len;
    char *text = envelope_text(cfg, NOW, &len);
    for (size_t i = 0; i < len; i++) {
        text[i] ^= 0x01;
        enum cache_verdict v = check(text, len, 0);
        if (v != CACHE_INVALID)
            fail_msg("flipping byte %zu ('%c') was not detected", i, text[i] ^ 0x01);
        text[i] ^= 0x01;
    }
    assert_int_equal(check(text, len, 0), CACHE_VALID);
    free(text);
    json_decref(cfg);
}

static void test_wrong_checksums(void **state)
{
    (void)state;
    json_t *cfg = config_new(1);
    size_t len;
    char *text = envelope_text(cfg, NOW, &len);
    json_t *env = json_loads(text, 0, NULL);
    free(text);

    /* Envelope checksum of another document. */
    json_object_set_new(env, "checksum",
                        json_string("sha256:0000000000000000000000000000000000000000000000000000"
                                    "000000000000"));
    text = json_dumps(env, 0);
    assert_int_equal(check(text, strlen(text), 0), CACHE_INVALID);
    free(text);

    /* Envelope correct, but the central's checksum inside does not match the config. */
    json_object_set_new(json_object_get(env, "config"), "name", json_string("tampered"));
    resum(env);
    text = json_dumps(env, 0);
    assert_int_equal(check(text, strlen(text), 0), CACHE_INVALID);
    free(text);

    /* No checksum at all. */
    json_object_del(env, "checksum");
    text = json_dumps(env, 0);
    assert_int_equal(check(text, strlen(text), 0), CACHE_INVALID);
    free(text);
    json_decref(env);
    json_decref(cfg);
}

static void test_future_cached_at(void **state)
{
    (void)state;
    json_t *cfg = config_new(1);
    size_t len;
    /* A clock behind the last write (no battery clock): the checksum vouches for it. */
    char *text = envelope_text(cfg, NOW + DAY, &len);
    assert_int_equal(check(text, len, 0), CACHE_VALID);
    assert_int_equal(check(text, len, DAY / 2), CACHE_VALID);
    free(text);
    /* A few seconds of clock difference are tolerated. */
    text = envelope_text(cfg, NOW + 5000, &len);
    assert_int_equal(check(text, len, 0), CACHE_VALID);
    free(text);
    json_decref(cfg);
}

static void test_cached_at_before_1970(void **state)
{
    (void)state;
    /* Found by fuzz_edge_cache: no time this edge could have written, whatever the maximum
     * age (0 = no limit would have let it through). */
    json_t *cfg = config_new(1);
    json_t *env = json_pack("{s:i, s:s, s:O}", "format", 1, "cached_at",
                            "0226-11-18T09:00:00+01:00", "config", cfg);
    resum(env);
    char *text = json_dumps(env, JSON_COMPACT);
    assert_non_null(text);
    assert_int_equal(check(text, strlen(text), 0), CACHE_INVALID);
    assert_int_equal(check(text, strlen(text), 7 * DAY), CACHE_INVALID);
    free(text);
    json_decref(env);
    json_decref(cfg);
}

static void test_document_check(void **state)
{
    (void)state;
    json_t *doc = NULL;
    char reason[200];
    json_t *cfg = config_new(7);
    char *text = json_dumps(cfg, JSON_COMPACT);

    /* Damaged on the way (worth another download): not JSON, not an object, bad checksum. */
    assert_int_equal(cache_config_parse("{\"uuid\":", 8, &doc, reason, sizeof reason), -EBADMSG);
    assert_null(doc);
    assert_int_equal(cache_config_parse("[1]", 3, &doc, reason, sizeof reason), -EBADMSG);
    assert_int_equal(cache_config_parse("", 0, &doc, reason, sizeof reason), -EBADMSG);
    assert_int_equal(cache_config_parse("{\"a\":1,\"a\":2}", 13, &doc, NULL, 0), -EBADMSG);
    assert_null(doc);
    assert_int_equal(cache_config_parse(text, strlen(text), &doc, reason, sizeof reason), 0);
    assert_int_equal(cache_config_check(doc, UUID, reason, sizeof reason), 0);
    assert_int_equal(cache_config_check(doc, NULL, reason, sizeof reason), 0);
    json_object_set_new(doc, "version", json_integer(8));
    assert_int_equal(cache_config_check(doc, UUID, reason, sizeof reason), -EBADMSG);
    json_object_del(doc, "checksum");
    assert_int_equal(cache_config_check(doc, UUID, reason, sizeof reason), -EBADMSG);
    /* Wrong content with a right checksum: refused for good. */
    json_object_set_new(doc, "version", json_integer(-1));
    resum(doc);
    assert_int_equal(cache_config_check(doc, UUID, reason, sizeof reason), -EINVAL);
    assert_non_null(strstr(reason, "version"));
    json_object_set_new(doc, "version", json_integer(8));
    resum(doc);
    assert_int_equal(
        cache_config_check(doc, "11111111-2222-4333-8444-555555555555", reason, sizeof reason),
        -EINVAL);
    assert_non_null(strstr(reason, "for controller"));
    assert_int_equal(cache_config_check(doc, UUID, NULL, 0), 0);
    json_decref(doc);
    free(text);
    json_decref(cfg);
}

static void test_max_age(void **state)
{
    (void)state;
    json_t *cfg = config_new(1);
    size_t len;
    char *text = envelope_text(cfg, NOW - 8 * DAY, &len);
    assert_int_equal(check(text, len, 7 * DAY), CACHE_STALE);
    assert_int_equal(check(text, len, 9 * DAY), CACHE_VALID);
    assert_int_equal(check(text, len, 0), CACHE_VALID); /* 0 = no limit */
    free(text);
    json_decref(cfg);
}

static void test_not_json_and_empty(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "hello",
        "{",
        "[]",
        "null",
        "42",
        "\"text\"",
        "{}",
        "{\"format\":1}",
        "{\"format\":2,\"cached_at\":\"x\",\"config\":{},\"checksum\":\"sha256:\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(check(bad[i], strlen(bad[i]), 0), CACHE_INVALID);
    assert_int_equal(check(NULL, 0, 0), CACHE_INVALID);
    char nul[] = "{\"format\":1}\0garbage";
    assert_int_equal(check(nul, sizeof nul - 1, 0), CACHE_INVALID);
}

static void schema_rejects(void (*mutate)(json_t *))
{
    json_t *cfg = config_new(1);
    char reason[160] = "";
    mutate(cfg);
    resum(cfg);
    assert_int_equal(cache_config_validate(cfg, reason, sizeof reason), -EINVAL);
    assert_true(reason[0] != '\0');
    json_decref(cfg);
}

static void m_no_broker(json_t *c)
{
    json_object_del(c, "mqtt_broker");
}
static void m_bad_port(json_t *c)
{
    json_object_set_new(json_object_get(c, "mqtt_broker"), "port", json_integer(70000));
}
static void m_port_string(json_t *c)
{
    json_object_set_new(json_object_get(c, "mqtt_broker"), "port", json_string("1883"));
}
static void m_bad_uuid(json_t *c)
{
    json_object_set_new(c, "uuid", json_string("pi-1"));
}
static void m_version_neg(json_t *c)
{
    json_object_set_new(c, "version", json_integer(-1));
}
static void m_trains_obj(json_t *c)
{
    json_object_set_new(c, "trains", json_object());
}
static void m_no_trains(json_t *c)
{
    json_object_del(c, "trains");
}
static void m_wild_id(json_t *c)
{
    json_object_set_new(json_array_get(json_object_get(c, "trains"), 0), "train_id",
                        json_string("t+"));
}
static void m_wild_topic(json_t *c)
{
    json_object_set_new(json_array_get(json_object_get(c, "trains"), 0), "commands_topic",
                        json_string("trains/#"));
}
static void m_dup_train(json_t *c)
{
    json_t *t = json_object_get(c, "trains");
    json_array_append_new(t, json_deep_copy(json_array_get(t, 0)));
}
static void m_no_plugin(json_t *c)
{
    json_object_del(json_array_get(json_object_get(c, "trains"), 0), "plugin");
}
static void m_invert_str(json_t *c)
{
    json_object_set_new(json_array_get(json_object_get(c, "trains"), 0), "invert_directions",
                        json_string("yes"));
}
static void set_id(json_t *c, const char *id)
{
    json_object_set_new(json_array_get(json_object_get(c, "trains"), 0), "train_id",
                        json_string(id));
}
static void m_id_slash(json_t *c)
{
    set_id(c, "a/b");
}
static void m_id_hash(json_t *c)
{
    set_id(c, "t#");
}
static void m_id_space(json_t *c)
{
    set_id(c, "my train");
}
static void m_id_tab(json_t *c)
{
    set_id(c, "t\t1");
}
static void m_id_del(json_t *c)
{
    set_id(c, "t\x7f");
}
static void m_id_empty(json_t *c)
{
    set_id(c, "");
}
static void m_id_101(json_t *c)
{
    char id[102];
    memset(id, 'x', 101);
    id[101] = '\0';
    set_id(c, id);
}
static void m_id_nul(json_t *c)
{
    json_object_set_new(json_array_get(json_object_get(c, "trains"), 0), "train_id",
                        json_stringn("t\0x", 3));
}
static void m_hb_zero(json_t *c)
{
    json_object_set_new(c, "heartbeat_interval", json_integer(0));
}

static void test_schema(void **state)
{
    (void)state;
    void (*const muts[])(json_t *) = {
        m_no_broker, m_bad_port, m_port_string, m_bad_uuid,  m_version_neg, m_trains_obj,
        m_no_trains, m_wild_id,  m_wild_topic,  m_dup_train, m_no_plugin,   m_invert_str,
        m_hb_zero,   m_id_slash, m_id_hash,     m_id_space,  m_id_tab,      m_id_del,
        m_id_empty,  m_id_101,   m_id_nul};
    for (size_t i = 0; i < sizeof muts / sizeof muts[0]; i++)
        schema_rejects(muts[i]);
    /* The central's train-id rule: up to 100 bytes, any other printable byte (UTF-8 too). */
    static const char *const good_ids[] = {
        "t1", "Ünterwegs-Zug", "a.b:c_d-e@f",
        /* one id of 100 bytes (parenthesised: one element, not two) */
        ("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxx")};
    for (size_t i = 0; i < sizeof good_ids / sizeof good_ids[0]; i++) {
        json_t *ok = config_new(1);
        set_id(ok, good_ids[i]);
        resum(ok);
        assert_int_equal(cache_config_validate(ok, NULL, 0), 0);
        json_decref(ok);
    }
    /* No trains is a valid config ("waiting for assignment"); compat keys may be null. */
    json_t *cfg = config_new(1);
    json_object_set_new(cfg, "trains", json_array());
    json_object_set_new(cfg, "train_id", json_null());
    resum(cfg);
    assert_int_equal(cache_config_validate(cfg, NULL, 0), 0);
    json_decref(cfg);
}

static void test_select(void **state)
{
    (void)state;
    assert_int_equal(cache_select(CACHE_VALID, CACHE_VALID), 0);
    assert_int_equal(cache_select(CACHE_INVALID, CACHE_VALID), 1);
    assert_int_equal(cache_select(CACHE_MISSING, CACHE_VALID), 1);
    assert_int_equal(cache_select(CACHE_STALE, CACHE_VALID), 1);
    assert_int_equal(cache_select(CACHE_STALE, CACHE_INVALID), 0);
    assert_int_equal(cache_select(CACHE_INVALID, CACHE_STALE), 1);
    assert_int_equal(cache_select(CACHE_INVALID, CACHE_INVALID), -1);
    assert_int_equal(cache_select(CACHE_MISSING, CACHE_MISSING), -1);
}

/* --- files ------------------------------------------------------------------------------ */

static char dir[64];

static int dir_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rh-edge-cache-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static void rm_file(const char *name)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
}

static int dir_teardown(void **state)
{
    (void)state;
    rm_file(CACHE_CURRENT);
    rm_file(CACHE_PREVIOUS);
    rm_file(IDENTITY_FILE);
    return rmdir(dir);
}

static void put(const char *name, const char *text, size_t len)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(fileio_write_atomic(p, text, len, 0600), 0);
}

static void put_config(const char *name, int version, int64_t at)
{
    json_t *cfg = config_new(version);
    size_t len;
    char *text = envelope_text(cfg, at, &len);
    put(name, text, len);
    free(text);
    json_decref(cfg);
}

static void test_load_fallbacks(void **state)
{
    (void)state;
    struct cache_boot b;

    /* Nothing there. */
    assert_int_equal(cache_load(dir, NOW, 7 * DAY, &b), 0);
    assert_null(b.config);
    assert_int_equal(b.verdict, CACHE_MISSING);

    /* Current good. */
    put_config(CACHE_CURRENT, 5, NOW - 1000);
    put_config(CACHE_PREVIOUS, 4, NOW - 2000);
    assert_int_equal(cache_load(dir, NOW, 7 * DAY, &b), 0);
    assert_int_equal(b.verdict, CACHE_VALID);
    assert_string_equal(b.source, "current");
    assert_int_equal(json_integer_value(json_object_get(b.config, "version")), 5);
    cache_boot_clear(&b);

    /* Current corrupt (each way) -> previous. */
    static const char *const corrupt[] = {"", "not json", "{\"format\":1", "[]"};
    for (size_t i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
        put(CACHE_CURRENT, corrupt[i], strlen(corrupt[i]));
        assert_int_equal(cache_load(dir, NOW, 7 * DAY, &b), 0);
        assert_int_equal(b.current, CACHE_INVALID);
        assert_int_equal(b.verdict, CACHE_VALID);
        assert_string_equal(b.source, "previous");
        assert_int_equal(json_integer_value(json_object_get(b.config, "version")), 4);
        cache_boot_clear(&b);
    }

    /* Current written "after" now (this clock is behind): still the current one. */
    put_config(CACHE_CURRENT, 5, NOW + DAY);
    assert_int_equal(cache_load(dir, NOW, 7 * DAY, &b), 0);
    assert_string_equal(b.source, "current");
    assert_true(b.clock_behind);
    cache_boot_clear(&b);
    put_config(CACHE_CURRENT, 5, NOW);
    assert_int_equal(cache_load(dir, NOW, 7 * DAY, &b), 0);
    assert_false(b.clock_behind);
    cache_boot_clear(&b);

    /* Both invalid -> nothing (the identity is separate and survives). */
    put(CACHE_CURRENT, "x", 1);
    put(CACHE_PREVIOUS, "x", 1);
    assert_int_equal(cache_load(dir, NOW, 7 * DAY, &b), 0);
    assert_null(b.config);
    assert_null(b.source);
    assert_int_equal(b.verdict, CACHE_INVALID);

    /* Only a stale one -> held as stale. */
    put_config(CACHE_CURRENT, 5, NOW - 10 * DAY);
    assert_int_equal(cache_load(dir, NOW, 7 * DAY, &b), 0);
    assert_int_equal(b.verdict, CACHE_STALE);
    assert_non_null(b.config);
    cache_boot_clear(&b);
    cache_boot_clear(NULL);
}

static void test_store_rotation(void **state)
{
    (void)state;
    struct cache_boot b;
    json_t *a = config_new(1), *c2 = config_new(2);
    rm_file(CACHE_CURRENT);
    rm_file(CACHE_PREVIOUS);

    assert_int_equal(cache_store(dir, a, NOW - 3000), 0);
    assert_int_equal(cache_store(dir, c2, NOW - 2000), 0);
    /* Same config again (a 304 refresh): previous stays the older, different config. */
    assert_int_equal(cache_store(dir, c2, NOW - 1000), 0);
    assert_int_equal(cache_load(dir, NOW, 0, &b), 0);
    assert_int_equal(json_integer_value(json_object_get(b.config, "version")), 2);
    assert_true(b.cached_at_ms == NOW - 1000);
    assert_int_equal(b.previous, CACHE_VALID);
    cache_boot_clear(&b);

    put(CACHE_CURRENT, "garbage", 7);
    assert_int_equal(cache_load(dir, NOW, 0, &b), 0);
    assert_string_equal(b.source, "previous");
    assert_int_equal(json_integer_value(json_object_get(b.config, "version")), 1);
    cache_boot_clear(&b);

    /* A corrupt current never becomes the previous (last known good stays good). */
    assert_int_equal(cache_store(dir, c2, NOW), 0);
    assert_int_equal(cache_load(dir, NOW, 0, &b), 0);
    assert_int_equal(b.previous, CACHE_VALID);
    cache_boot_clear(&b);
    json_decref(a);
    json_decref(c2);
}

static void put_raw(const char *name, const char *text, size_t len)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static bool exists(const char *name)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* What kill -9 in the middle of cache_store can leave: a temporary file of the write that
 * never got renamed, next to a current file cut short (a file system that lost the tail). */
static void test_crash_leftovers(void **state)
{
    (void)state;
    struct cache_boot b;
    json_t *v6 = config_new(6), *v5 = config_new(5);
    size_t len6, len5;
    char *t6 = envelope_text(v6, NOW - 500, &len6);
    char *t5 = envelope_text(v5, NOW - 1000, &len5);
    int removed = -1;

    rm_file(CACHE_CURRENT);
    put_config(CACHE_PREVIOUS, 4, NOW - 2000);
    put_raw(CACHE_CURRENT, t5, len5 / 2);
    put_raw(CACHE_CURRENT ".tmp.4242", t6, len6); /* complete, valid, and newer: still not it */
    put_raw(CACHE_PREVIOUS ".tmp.17", t6, len6 / 3);
    put_raw("session.json.tmp.1", "{", 1);

    assert_int_equal(cache_load(dir, NOW, 7 * DAY, &b), 0);
    assert_int_equal(b.current, CACHE_INVALID);
    assert_int_equal(b.verdict, CACHE_VALID);
    assert_string_equal(b.source, "previous");
    assert_int_equal(json_integer_value(json_object_get(b.config, "version")), 4);
    cache_boot_clear(&b);

    /* At boot the leftovers go; nothing else does. */
    put_raw("config.json.tmp.", "x", 1);
    put_raw("config.json.tmp.12a", "x", 1);
    put_raw("notes.json.tmp.5", "x", 1);
    assert_int_equal(cache_leftovers_remove(dir, &removed), 0);
    assert_int_equal(removed, 3);
    assert_false(exists(CACHE_CURRENT ".tmp.4242"));
    assert_false(exists(CACHE_PREVIOUS ".tmp.17"));
    assert_false(exists("session.json.tmp.1"));
    assert_true(exists(CACHE_CURRENT));
    assert_true(exists(CACHE_PREVIOUS));
    assert_true(exists("config.json.tmp."));
    assert_true(exists("config.json.tmp.12a"));
    assert_true(exists("notes.json.tmp.5"));
    rm_file("config.json.tmp.");
    rm_file("config.json.tmp.12a");
    rm_file("notes.json.tmp.5");
    assert_int_equal(cache_leftovers_remove(dir, &removed), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(cache_leftovers_remove("/nonexistent/rh-edge", &removed), 0);

    /* Only a leftover temporary file: no config at all (never read). */
    rm_file(CACHE_CURRENT);
    rm_file(CACHE_PREVIOUS);
    put_raw(CACHE_CURRENT ".tmp.4242", t6, len6);
    assert_int_equal(cache_load(dir, NOW, 7 * DAY, &b), 0);
    assert_null(b.config);
    assert_int_equal(b.verdict, CACHE_MISSING);
    rm_file(CACHE_CURRENT ".tmp.4242");

    /* A truncated current and nothing else: invalid, not driven. */
    put_raw(CACHE_CURRENT, t5, len5 - 1);
    assert_int_equal(cache_load(dir, NOW, 7 * DAY, &b), 0);
    assert_null(b.config);
    assert_int_equal(b.verdict, CACHE_INVALID);
    /* The next store does not rotate the damaged one into the previous slot. */
    assert_int_equal(cache_store(dir, v6, NOW), 0);
    assert_int_equal(cache_load(dir, NOW, 7 * DAY, &b), 0);
    assert_string_equal(b.source, "current");
    assert_int_equal(b.previous, CACHE_MISSING);
    cache_boot_clear(&b);

    assert_true(cache_leftover_name("identity.json.tmp.99"));
    assert_false(cache_leftover_name("identity.json.tmp"));
    assert_false(cache_leftover_name("xconfig.json.tmp.1"));
    assert_false(cache_leftover_name(CACHE_CURRENT));
    free(t6);
    free(t5);
    json_decref(v6);
    json_decref(v5);
}

static void test_identity(void **state)
{
    (void)state;
    char u1[UUIDSTR_LEN + 1], u2[UUIDSTR_LEN + 1];
    enum identity_origin o;
    rm_file(IDENTITY_FILE);

    /* First boot: no UUID invented, nothing written; the central will assign one. */
    assert_int_equal(identity_load(dir, NULL, NOW, u1, &o), 0);
    assert_int_equal(o, IDENTITY_NONE);
    assert_string_equal(u1, "");
    assert_string_equal(identity_origin_name(o), "none");
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, IDENTITY_FILE);
    assert_int_equal(access(p, F_OK), -1);
    /* The one the central assigned is kept from then on. */
    assert_int_equal(identity_save(dir, UUID, NOW), 0);
    assert_int_equal(identity_load(dir, NULL, NOW, u2, &o), 0);
    assert_int_equal(o, IDENTITY_LOADED);
    assert_string_equal(u2, UUID);
    /* A corrupt file and nothing to recover from: none (not a new one). */
    put(IDENTITY_FILE, "{", 1);
    assert_int_equal(identity_load(dir, NULL, NOW, u1, &o), 0);
    assert_int_equal(o, IDENTITY_NONE);
    assert_int_equal(identity_save(dir, "not-a-uuid", NOW), -EINVAL);

    /* Corrupt identity with a cached config UUID at hand -> recovered, not a new one. */
    put(IDENTITY_FILE, "{\"uuid\":", 8);
    assert_int_equal(identity_load(dir, UUID, NOW, u2, &o), 0);
    assert_int_equal(o, IDENTITY_RECOVERED);
    assert_string_equal(u2, UUID);
    assert_int_equal(identity_load(dir, NULL, NOW, u2, &o), 0);
    assert_int_equal(o, IDENTITY_LOADED);
    assert_string_equal(u2, UUID);

    /* A hand-edited UUID without a matching checksum is not trusted. */
    char buf[] = "{\"format\":1,\"uuid\":\"" UUID "\",\"checksum\":\"sha256:00\"}";
    assert_int_equal(identity_parse(buf, strlen(buf), u2), -EINVAL);
    assert_int_equal(identity_parse("", 0, u2), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_roundtrip),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_flipped_byte),
        cmocka_unit_test(test_wrong_checksums),
        cmocka_unit_test(test_future_cached_at),
        cmocka_unit_test(test_cached_at_before_1970),
        cmocka_unit_test(test_document_check),
        cmocka_unit_test(test_max_age),
        cmocka_unit_test(test_not_json_and_empty),
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_load_fallbacks),
        cmocka_unit_test(test_store_rotation),
        cmocka_unit_test(test_crash_leftovers),
        cmocka_unit_test(test_identity),
    };
    return cmocka_run_group_tests(tests, dir_setup, dir_teardown);
}
