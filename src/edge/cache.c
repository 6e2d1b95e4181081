#include "cache.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "canon.h"
#include "driving.h"
#include "fileio.h"
#include "strbuf.h"
#include "timeutil.h"
#include "uuidstr.h"

#define CACHE_FORMAT 1

static const char *const verdict_names[] = {"valid", "stale", "missing", "invalid"};

const char *cache_verdict_name(enum cache_verdict v)
{
    if ((unsigned)v < sizeof verdict_names / sizeof verdict_names[0])
        return verdict_names[v];
    return "invalid";
}

static bool is_int_in(const json_t *v, json_int_t lo, json_int_t hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static bool is_str_len(const json_t *v, size_t lo, size_t hi)
{
    return json_is_string(v) && json_string_length(v) >= lo && json_string_length(v) <= hi;
}

/* A string used as a C string (a name looked up, a host connected to): an embedded NUL would
 * make it mean something shorter than what the checksum covered. */
static bool is_text(const json_t *v, size_t lo, size_t hi)
{
    return is_str_len(v, lo, hi) && strlen(json_string_value(v)) == json_string_length(v);
}

/* A topic we subscribe to must not contain wildcards: "+" or "#" would deliver other trains'
 * commands to this motor. */
static bool topic_ok(const json_t *v)
{
    return is_text(v, 1, 256) && strpbrk(json_string_value(v), "+#") == NULL;
}

static int train_validate(const json_t *t, size_t i, char *reason, size_t len)
{
    if (!json_is_object(t)) {
        strbuf_errorf(reason, len, "trains[%zu]: not an object", i);
        return -EINVAL;
    }
    const json_t *id = json_object_get(t, "train_id");
    if (!json_is_string(id) ||
        !proto_train_id_valid(json_string_value(id), json_string_length(id))) {
        strbuf_errorf(reason, len,
                      "trains[%zu].train_id: expected 1-%d bytes without whitespace, control "
                      "characters, / + #",
                      i, PROTO_TRAIN_ID_MAX);
        return -EINVAL;
    }
    const json_t *plugin = json_object_get(t, "plugin");
    if (!json_is_object(plugin) ||
        !is_text(json_object_get(plugin, "name"), 1, PROTO_PLUGIN_NAME_MAX)) {
        strbuf_errorf(reason, len, "trains[%zu].plugin: expected an object with a name", i);
        return -EINVAL;
    }
    const json_t *pc = json_object_get(plugin, "config");
    if (pc != NULL && !json_is_object(pc) && !json_is_null(pc)) {
        strbuf_errorf(reason, len, "trains[%zu].plugin.config: expected an object", i);
        return -EINVAL;
    }
    const json_t *inv = json_object_get(t, "invert_directions");
    if (inv != NULL && !json_is_boolean(inv) && !json_is_null(inv)) {
        strbuf_errorf(reason, len, "trains[%zu].invert_directions: expected a boolean", i);
        return -EINVAL;
    }
    const json_t *d = json_object_get(t, "driving");
    char dfield[32], dwhy[64];
    if (d != NULL && !json_is_null(d) &&
        driving_check(d, dfield, sizeof dfield, dwhy, sizeof dwhy) < 0) {
        strbuf_errorf(reason, len, "trains[%zu].driving.%s: %s", i, dfield, dwhy);
        return -EINVAL;
    }
    static const char *const topics[] = {"commands_topic", "status_topic"};
    for (size_t k = 0; k < 2; k++) {
        const json_t *tp = json_object_get(t, topics[k]);
        if (tp != NULL && !json_is_null(tp) && !topic_ok(tp)) {
            strbuf_errorf(reason, len, "trains[%zu].%s: expected a topic without wildcards", i,
                          topics[k]);
            return -EINVAL;
        }
    }
    const json_t *name = json_object_get(t, "name");
    if (name != NULL && !json_is_null(name) && !json_is_string(name)) {
        strbuf_errorf(reason, len, "trains[%zu].name: expected a string", i);
        return -EINVAL;
    }
    return 0;
}

/* The runtime config's schema (docs/api.md), everything but its checksum. */
static int config_schema_check(const json_t *config, char *reason, size_t len)
{
    if (!json_is_object(config)) {
        strbuf_errorf(reason, len, "runtime config: not an object");
        return -EINVAL;
    }
    const json_t *uuid = json_object_get(config, "uuid");
    if (!is_text(uuid, UUIDSTR_LEN, UUIDSTR_LEN) || !uuidstr_valid(json_string_value(uuid))) {
        strbuf_errorf(reason, len, "uuid: expected a canonical UUID");
        return -EINVAL;
    }
    if (!is_int_in(json_object_get(config, "version"), 0, INT64_MAX)) {
        strbuf_errorf(reason, len, "version: expected an integer >= 0");
        return -EINVAL;
    }
    const json_t *broker = json_object_get(config, "mqtt_broker");
    if (!json_is_object(broker) || !is_text(json_object_get(broker, "host"), 1, 255) ||
        !is_int_in(json_object_get(broker, "port"), 1, 65535)) {
        strbuf_errorf(reason, len, "mqtt_broker: expected {host, port 1-65535}");
        return -EINVAL;
    }
    const json_t *tls = json_object_get(broker, "tls");
    if (tls != NULL && !json_is_null(tls) && !json_is_boolean(tls)) {
        strbuf_errorf(reason, len, "mqtt_broker.tls: expected true or false");
        return -EINVAL;
    }
    static const char *const creds[] = {"username", "password"};
    for (size_t k = 0; k < 2; k++) {
        const json_t *c = json_object_get(broker, creds[k]);
        if (c != NULL && !json_is_null(c) && !is_text(c, 0, 255)) {
            strbuf_errorf(reason, len, "mqtt_broker.%s: expected a string", creds[k]);
            return -EINVAL;
        }
    }
    const json_t *hb = json_object_get(config, "heartbeat_interval");
    if (hb != NULL && !json_is_null(hb) && !is_int_in(hb, 1, 3600)) {
        strbuf_errorf(reason, len, "heartbeat_interval: expected 1-3600 seconds");
        return -EINVAL;
    }
    const json_t *trains = json_object_get(config, "trains");
    if (!json_is_array(trains) || json_array_size(trains) > CACHE_MAX_TRAINS) {
        strbuf_errorf(reason, len, "trains: expected an array of at most %d trains",
                      CACHE_MAX_TRAINS);
        return -EINVAL;
    }
    for (size_t i = 0; i < json_array_size(trains); i++) {
        if (train_validate(json_array_get(trains, i), i, reason, len) < 0)
            return -EINVAL;
        const char *id = json_string_value(json_object_get(json_array_get(trains, i), "train_id"));
        for (size_t j = 0; j < i; j++) {
            const json_t *o = json_object_get(json_array_get(trains, j), "train_id");
            if (strcmp(json_string_value(o), id) == 0) {
                strbuf_errorf(reason, len, "trains[%zu].train_id: duplicate %s", i, id);
                return -EINVAL;
            }
        }
    }
    return 0;
}

/* The document's own checksum: present and matching its canonical form. */
static int config_checksum_check(const json_t *config, char *reason, size_t len)
{
    char sum[CANON_CHECKSUM_LEN + 1];
    const json_t *given = json_object_get(config, "checksum");
    if (!json_is_string(given)) {
        strbuf_errorf(reason, len, "checksum: missing");
        return -EINVAL;
    }
    if (canon_checksum(config, sum) < 0 || strcmp(sum, json_string_value(given)) != 0) {
        strbuf_errorf(reason, len, "checksum: does not match the content");
        return -EINVAL;
    }
    return 0;
}

int cache_config_validate(const json_t *config, char *reason, size_t len)
{
    int rc = config_schema_check(config, reason, len);
    if (rc == 0)
        rc = config_checksum_check(config, reason, len);
    return rc;
}

int cache_config_parse(const char *text, size_t len, json_t **doc, char *reason, size_t reasonlen)
{
    json_error_t jerr;
    json_t *j = NULL;
    if (text == NULL || len == 0) {
        strbuf_errorf(reason, reasonlen, "not JSON: empty document");
        return -EBADMSG;
    }
    if (len > CACHE_FILE_MAX) {
        strbuf_errorf(reason, reasonlen, "larger than %d bytes", CACHE_FILE_MAX);
        return -EBADMSG;
    }
    j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        strbuf_errorf(reason, reasonlen, "not JSON: %s", jerr.text);
        return -EBADMSG;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        strbuf_errorf(reason, reasonlen, "not a JSON object");
        return -EBADMSG;
    }
    *doc = j;
    return 0;
}

int cache_config_check(const json_t *config, const char *own_uuid, char *reason, size_t len)
{
    /* The checksum first: a document that does not match it may have been damaged on the
     * way, and its content (version included) cannot be trusted to say anything. */
    if (!json_is_object(config) || config_checksum_check(config, reason, len) < 0) {
        if (!json_is_object(config))
            strbuf_errorf(reason, len, "not a JSON object");
        return -EBADMSG;
    }
    int rc = config_schema_check(config, reason, len);
    if (rc < 0)
        return rc;
    const char *for_uuid = json_string_value(json_object_get(config, "uuid"));
    if (own_uuid != NULL && own_uuid[0] != '\0' && strcmp(for_uuid, own_uuid) != 0) {
        strbuf_errorf(reason, len, "config is for controller %s", for_uuid);
        return -EINVAL;
    }
    return 0;
}

enum cache_verdict cache_entry_check(const char *text, size_t len, int64_t now_ms,
                                     int64_t max_age_ms, json_t **config, int64_t *cached_at_ms,
                                     char *reason, size_t reasonlen)
{
    enum cache_verdict v = CACHE_INVALID;
    json_t *env = NULL;
    json_error_t jerr;
    char sum[CANON_CHECKSUM_LEN + 1];
    char inner[128];
    int64_t at = 0;

    if (text == NULL || len == 0) {
        strbuf_errorf(reason, reasonlen, "empty file");
        goto out;
    }
    if (len > CACHE_FILE_MAX) {
        strbuf_errorf(reason, reasonlen, "larger than %d bytes", CACHE_FILE_MAX);
        goto out;
    }
    env = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (env == NULL) {
        strbuf_errorf(reason, reasonlen, "not JSON: %s (line %d)", jerr.text, jerr.line);
        goto out;
    }
    if (!json_is_object(env)) {
        strbuf_errorf(reason, reasonlen, "not a JSON object");
        goto out;
    }
    if (!is_int_in(json_object_get(env, "format"), CACHE_FORMAT, CACHE_FORMAT)) {
        strbuf_errorf(reason, reasonlen, "format: expected %d", CACHE_FORMAT);
        goto out;
    }
    const json_t *given = json_object_get(env, "checksum");
    if (!json_is_string(given)) {
        strbuf_errorf(reason, reasonlen, "checksum: missing");
        goto out;
    }
    if (canon_checksum(env, sum) < 0 || strcmp(sum, json_string_value(given)) != 0) {
        strbuf_errorf(reason, reasonlen, "checksum: does not match the content");
        goto out;
    }
    const json_t *ca = json_object_get(env, "cached_at");
    /* Before 1970 is no time this edge could have written (found by fuzz_edge_cache: such a
     * file was valid with --cache-max-age 0 but could not be written back as it was). */
    if (!json_is_string(ca) || timeutil_parse_ms(json_string_value(ca), &at) < 0 || at < 0) {
        strbuf_errorf(reason, reasonlen, "cached_at: expected an ISO-8601 UTC time");
        goto out;
    }
    json_t *cfg = json_object_get(env, "config");
    if (cache_config_validate(cfg, inner, sizeof inner) < 0) {
        strbuf_errorf(reason, reasonlen, "config: %s", inner);
        goto out;
    }
    if (max_age_ms > 0 && now_ms - at > max_age_ms) {
        strbuf_errorf(reason, reasonlen,
                      "cached %" PRId64 " s ago, older than the maximum age of %" PRId64 " s",
                      (now_ms - at) / 1000, max_age_ms / 1000);
        v = CACHE_STALE;
    } else if (at > now_ms + CACHE_FUTURE_SKEW_MS) {
        /* Written "later" than now: this clock is behind (a Pi without a battery clock after a
         * power cut, before NTP). The checksum vouches for the content and the file is the
         * last one written, so it drives; its age is unknown, and the edge says so. */
        strbuf_errorf(reason, reasonlen, "cached_at %s is ahead of this clock",
                      json_string_value(ca));
        v = CACHE_VALID;
    } else {
        strbuf_errorf(reason, reasonlen, "ok");
        v = CACHE_VALID;
    }
    *config = json_incref(cfg);
    *cached_at_ms = at;
out:
    json_decref(env);
    return v;
}

int cache_entry_build(const json_t *config, int64_t now_ms, char **out, size_t *len)
{
    char ts[32], sum[CANON_CHECKSUM_LEN + 1];
    json_t *env = NULL;
    char *text = NULL;
    int rc = timeutil_format_ms(now_ms, ts, sizeof ts);
    if (rc < 0)
        goto out;
    env = json_pack("{s:i, s:s, s:O}", "format", CACHE_FORMAT, "cached_at", ts, "config", config);
    if (env == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = canon_checksum(env, sum);
    if (rc < 0)
        goto out;
    if (json_object_set_new(env, "checksum", json_string(sum)) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    /* Indented for people reading the state directory; the checksum is over the canonical
     * form, so the layout does not matter. */
    text = json_dumps(env, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (text == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    *len = strlen(text);
    *out = text;
    rc = 0;
out:
    json_decref(env);
    return rc;
}

int cache_select(enum cache_verdict current, enum cache_verdict previous)
{
    if (current == CACHE_VALID)
        return 0;
    if (previous == CACHE_VALID)
        return 1;
    if (current == CACHE_STALE)
        return 0;
    if (previous == CACHE_STALE)
        return 1;
    return -1;
}

int cache_path(char *out, size_t outlen, const char *dir, const char *file)
{
    int n = snprintf(out, outlen, "%s/%s", dir, file);
    return (n < 0 || (size_t)n >= outlen) ? -ENAMETOOLONG : 0;
}

static enum cache_verdict file_check(const char *dir, const char *file, int64_t now_ms,
                                     int64_t max_age_ms, json_t **config, int64_t *at, char *reason,
                                     size_t reasonlen)
{
    char path[1024];
    char *text = NULL;
    size_t len = 0;
    if (cache_path(path, sizeof path, dir, file) < 0) {
        strbuf_errorf(reason, reasonlen, "path too long");
        return CACHE_INVALID;
    }
    int rc = fileio_read_all(path, CACHE_FILE_MAX, &text, &len);
    if (rc == -ENOENT) {
        strbuf_errorf(reason, reasonlen, "no file");
        return CACHE_MISSING;
    }
    if (rc < 0) {
        strbuf_errorf(reason, reasonlen, "unreadable: %s", strerror(-rc));
        return CACHE_INVALID;
    }
    enum cache_verdict v =
        cache_entry_check(text, len, now_ms, max_age_ms, config, at, reason, reasonlen);
    free(text);
    return v;
}

/* The boot config is *config (taken over) from the file named source. */
static void boot_from(struct cache_boot *out, json_t **config, enum cache_verdict verdict,
                      const char *source, int64_t at)
{
    out->config = *config;
    *config = NULL;
    out->verdict = verdict;
    out->source = source;
    out->cached_at_ms = at;
}

int cache_load(const char *dir, int64_t now_ms, int64_t max_age_ms, struct cache_boot *out)
{
    json_t *cur = NULL, *prev = NULL;
    int64_t cur_at = 0, prev_at = 0;
    memset(out, 0, sizeof *out);
    out->current = file_check(dir, CACHE_CURRENT, now_ms, max_age_ms, &cur, &cur_at,
                              out->current_reason, sizeof out->current_reason);
    out->previous = file_check(dir, CACHE_PREVIOUS, now_ms, max_age_ms, &prev, &prev_at,
                               out->previous_reason, sizeof out->previous_reason);
    switch (cache_select(out->current, out->previous)) {
    case 0:
        boot_from(out, &cur, out->current, "current", cur_at);
        break;
    case 1:
        boot_from(out, &prev, out->previous, "previous", prev_at);
        break;
    default:
        out->verdict = (out->current == CACHE_MISSING && out->previous == CACHE_MISSING)
                           ? CACHE_MISSING
                           : CACHE_INVALID;
        break;
    }
    out->clock_behind = out->config != NULL && out->cached_at_ms > now_ms + CACHE_FUTURE_SKEW_MS;
    json_decref(cur);
    json_decref(prev);
    return 0;
}

void cache_boot_clear(struct cache_boot *b)
{
    if (b == NULL)
        return;
    json_decref(b->config);
    b->config = NULL;
}

int cache_store(const char *dir, const json_t *config, int64_t now_ms)
{
    char cur_path[1024], prev_path[1024];
    char *old = NULL, *text = NULL;
    size_t old_len = 0, len = 0;
    json_t *old_cfg = NULL;
    int64_t old_at = 0;
    int rc;

    if ((rc = cache_path(cur_path, sizeof cur_path, dir, CACHE_CURRENT)) < 0 ||
        (rc = cache_path(prev_path, sizeof prev_path, dir, CACHE_PREVIOUS)) < 0)
        goto out;
    rc = fileio_mkdirs(dir, 0700);
    if (rc < 0)
        goto out;
    /* Only an intact current file becomes the previous one: last-known-good must stay good. */
    if (fileio_read_all(cur_path, CACHE_FILE_MAX, &old, &old_len) == 0) {
        enum cache_verdict v =
            cache_entry_check(old, old_len, now_ms, 0, &old_cfg, &old_at, NULL, 0);
        const char *a = json_string_value(json_object_get(old_cfg, "checksum"));
        const char *b = json_string_value(json_object_get(config, "checksum"));
        if (v == CACHE_VALID && a != NULL && b != NULL && strcmp(a, b) != 0) {
            rc = fileio_write_atomic(prev_path, old, old_len, 0600);
            if (rc < 0)
                goto out;
        }
    }
    rc = cache_entry_build(config, now_ms, &text, &len);
    if (rc < 0)
        goto out;
    rc = fileio_write_atomic(cur_path, text, len, 0600);
out:
    free(old);
    free(text);
    json_decref(old_cfg);
    return rc;
}

/* The state directory's files, all written by fileio_write_atomic through a temporary file
 * "<name>.tmp.<pid>" in the same directory. */
static const char *const state_files[] = {CACHE_CURRENT, CACHE_PREVIOUS, "identity.json",
                                          "session.json"};

bool cache_leftover_name(const char *name)
{
    for (size_t i = 0; i < sizeof state_files / sizeof state_files[0]; i++) {
        size_t n = strlen(state_files[i]);
        if (strncmp(name, state_files[i], n) != 0 || strncmp(name + n, ".tmp.", 5) != 0)
            continue;
        const char *p = name + n + 5;
        if (*p == '\0')
            return false;
        for (; *p != '\0'; p++)
            if (!isdigit((unsigned char)*p))
                return false;
        return true;
    }
    return false;
}

int cache_leftovers_remove(const char *dir, int *removed)
{
    char path[1024];
    struct dirent *de;
    int rc = 0, n = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        rc = errno == ENOENT ? 0 : -errno;
        goto out;
    }
    while ((de = readdir(d)) != NULL) {
        if (!cache_leftover_name(de->d_name))
            continue;
        if (cache_path(path, sizeof path, dir, de->d_name) < 0)
            continue;
        if (unlink(path) == 0)
            n++;
        else if (errno != ENOENT && rc == 0)
            rc = -errno;
    }
out:
    if (d != NULL)
        closedir(d);
    *removed = n;
    return rc;
}

json_t *cache_read_sealed(const char *text, size_t len, size_t max)
{
    char sum[CANON_CHECKSUM_LEN + 1];
    if (text == NULL || len == 0 || len > max)
        return NULL;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    const char *given = json_string_value(json_object_get(doc, "checksum"));
    if (!json_is_object(doc) || given == NULL || canon_checksum(doc, sum) < 0 ||
        strcmp(sum, given) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

int cache_write_sealed(const char *dir, const char *path, json_t *doc)
{
    char sum[CANON_CHECKSUM_LEN + 1];
    if (doc == NULL)
        return -ENOMEM;
    int rc = canon_checksum(doc, sum);
    if (rc < 0)
        return rc;
    if (json_object_set_new(doc, "checksum", json_string(sum)) < 0)
        return -ENOMEM;
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (text == NULL)
        return -ENOMEM;
    rc = fileio_mkdirs(dir, 0700);
    if (rc == 0)
        rc = fileio_write_atomic(path, text, strlen(text), 0600);
    free(text);
    return rc;
}
