#include "runtime_config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"

static json_t *train_entry(const json_t *row)
{
    const char *id = json_string_value(json_object_get(row, "id"));
    char cmd[PROTO_TOPIC_MAX], status[PROTO_TOPIC_MAX];
    if (id == NULL || proto_topic(cmd, sizeof cmd, PROTO_TOPIC_COMMANDS, id) < 0 ||
        proto_topic(status, sizeof status, PROTO_TOPIC_STATUS, id) < 0)
        return NULL;
    json_t *config = json_object_get(row, "plugin_config");
    config = json_is_object(config) ? json_incref(config) : json_object();
    json_t *t =
        json_pack("{s:s, s:O, s:{s:O, s:o}, s:b, s:s, s:s}", "train_id", id, "name",
                  json_object_get(row, "name"), "plugin", "name",
                  json_object_get(row, "plugin_name"), "config", config, "invert_directions",
                  json_is_true(json_object_get(row, "invert_directions")), "commands_topic", cmd,
                  "status_topic", status);
    /* Only when set: a config without them stays what earlier edges and caches know. */
    const json_t *driving = json_object_get(row, "driving");
    if (t != NULL && json_object_size(driving) > 0)
        json_object_set(t, "driving", (json_t *)driving);
    return t;
}

/* The document without its checksum. */
static json_t *build_doc(const json_t *controller, const json_t *trains,
                         const struct runtime_broker *broker, int heartbeat_interval)
{
    json_t *list = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(trains, i, row)
    {
        json_t *entry = train_entry(row);
        if (entry == NULL) {
            json_decref(list);
            return NULL;
        }
        json_array_append_new(list, entry);
    }
    json_t *mqtt = json_pack("{s:s, s:i}", "host", broker->host, "port", broker->port);
    /* Only when on: a plain broker's config, and its checksum, stay what earlier edges and
     * their caches know. */
    if (mqtt != NULL && broker->tls)
        json_object_set_new(mqtt, "tls", json_true());
    if (mqtt != NULL && broker->username != NULL) {
        json_object_set_new(mqtt, "username", json_string(broker->username));
        json_object_set_new(mqtt, "password",
                            json_string(broker->password ? broker->password : ""));
    }
    /* The compat keys describe the first train and are null, never a placeholder train,
     * when none is assigned (the earlier system's "default_train" stranded controllers). */
    json_t *first = json_array_get(list, 0);
    json_t *doc =
        json_pack("{s:O, s:O, s:O, s:O?, s:O?, s:O?, s:o, s:i, s:o}", "uuid",
                  json_object_get(controller, "id"), "name", json_object_get(controller, "name"),
                  "version", json_object_get(controller, "config_version"), "train_id",
                  first ? json_object_get(first, "train_id") : NULL, "status_topic",
                  first ? json_object_get(first, "status_topic") : NULL, "commands_topic",
                  first ? json_object_get(first, "commands_topic") : NULL, "mqtt_broker", mqtt,
                  "heartbeat_interval", heartbeat_interval, "trains", list);
    return doc;
}

/* The document without its checksum (*doc, unless NULL is passed), its canonical text
 * (*canon, malloc'd) and the checksum of that text: one serialisation for all three. */
static int seal(const json_t *controller, const json_t *trains, const struct runtime_broker *broker,
                int heartbeat_interval, json_t **doc, char **canon,
                char checksum[CANON_CHECKSUM_LEN + 1])
{
    json_t *d = build_doc(controller, trains, broker, heartbeat_interval);
    int rc = d == NULL ? -ENOMEM : canon_dump(d, canon);
    if (rc == 0)
        canon_text_checksum(*canon, strlen(*canon), checksum);
    if (rc == 0 && doc != NULL)
        *doc = d;
    else
        json_decref(d);
    return rc;
}

json_t *runtime_config_build(const json_t *controller, const json_t *trains,
                             const struct runtime_broker *broker, int heartbeat_interval)
{
    json_t *doc = NULL;
    char *canon = NULL;
    char checksum[CANON_CHECKSUM_LEN + 1];
    if (seal(controller, trains, broker, heartbeat_interval, &doc, &canon, checksum) < 0)
        return NULL;
    free(canon);
    json_object_set_new(doc, "checksum", json_string(checksum));
    return doc;
}

int runtime_config_text(const json_t *controller, const json_t *trains,
                        const struct runtime_broker *broker, int heartbeat_interval, char **text,
                        char checksum[CANON_CHECKSUM_LEN + 1])
{
    char *canon = NULL;
    int rc = seal(controller, trains, broker, heartbeat_interval, NULL, &canon, checksum);
    if (rc < 0)
        return rc;
    size_t len = strlen(canon);
    /* {"checksum":"sha256:…", then the canonical text after its opening brace (the document
     * is never empty). Key order means nothing to a JSON reader, and the checksum is of the
     * text without it, as the edge recomputes it. */
    size_t size = sizeof "{\"checksum\":\"\"," + CANON_CHECKSUM_LEN + len;
    char *out = malloc(size);
    if (out == NULL) {
        free(canon);
        return -ENOMEM;
    }
    snprintf(out, size, "{\"checksum\":\"%s\",%s", checksum, canon + 1);
    free(canon);
    *text = out;
    return 0;
}

/* ---- the cache of texts ---- */

struct cached_config {
    char *id, *name; /* NULL: the slot is empty */
    int64_t version;
    json_t *trains;
    char *host, *username, *password;
    int port, interval;
    bool tls;
    char *text;
    size_t len;
    char checksum[CANON_CHECKSUM_LEN + 1];
};

struct runtime_config_cache {
    pthread_mutex_t lock;
    unsigned slots;
    struct cached_config *slot;
};

struct runtime_config_cache *runtime_config_cache_new(unsigned slots)
{
    struct runtime_config_cache *cache = calloc(1, sizeof *cache);
    if (cache == NULL || slots == 0)
        goto fail;
    cache->slot = calloc(slots, sizeof *cache->slot);
    if (cache->slot == NULL)
        goto fail;
    cache->slots = slots;
    pthread_mutex_init(&cache->lock, NULL);
    return cache;
fail:
    free(cache);
    return NULL;
}

static void entry_clear(struct cached_config *e)
{
    free(e->id);
    free(e->name);
    json_decref(e->trains);
    free(e->host);
    free(e->username);
    free(e->password);
    free(e->text);
    memset(e, 0, sizeof *e);
}

void runtime_config_cache_free(struct runtime_config_cache *cache)
{
    if (cache == NULL)
        return;
    for (unsigned i = 0; i < cache->slots; i++)
        entry_clear(&cache->slot[i]);
    free(cache->slot);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static uint32_t slot_of(const char *id, unsigned slots)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % slots;
}

/* Whether e was made from these inputs. */
static bool entry_matches(const struct cached_config *e, const char *id, const char *name,
                          int64_t version, const json_t *trains, const struct runtime_broker *b,
                          int interval)
{
    return e->id != NULL && strcmp(e->id, id) == 0 && same_text(e->name, name) &&
           e->version == version && e->port == b->port && e->interval == interval &&
           e->tls == b->tls && same_text(e->host, b->host) && same_text(e->username, b->username) &&
           same_text(e->password, b->password) && json_equal(e->trains, trains);
}

/* A copy of the text (its length n) for the caller. */
static int hand_out(const char *text, size_t n, char **out, size_t *len)
{
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return -ENOMEM;
    memcpy(copy, text, n + 1);
    *out = copy;
    *len = n;
    return 0;
}

int runtime_config_cached_text(struct runtime_config_cache *cache, const json_t *controller,
                               const json_t *trains, const struct runtime_broker *broker,
                               int heartbeat_interval, char **text, size_t *len,
                               char checksum[CANON_CHECKSUM_LEN + 1])
{
    const char *id = json_string_value(json_object_get(controller, "id"));
    const char *name = json_string_value(json_object_get(controller, "name"));
    int64_t version = json_integer_value(json_object_get(controller, "config_version"));
    struct cached_config *e = NULL;
    if (cache != NULL && id != NULL) {
        pthread_mutex_lock(&cache->lock);
        e = &cache->slot[slot_of(id, cache->slots)];
        if (entry_matches(e, id, name, version, trains, broker, heartbeat_interval)) {
            int rc = hand_out(e->text, e->len, text, len);
            memcpy(checksum, e->checksum, sizeof e->checksum);
            pthread_mutex_unlock(&cache->lock);
            return rc;
        }
        pthread_mutex_unlock(&cache->lock);
    }
    int rc = runtime_config_text(controller, trains, broker, heartbeat_interval, text, checksum);
    if (rc < 0)
        return rc;
    *len = strlen(*text);
    if (e == NULL)
        return 0;
    /* Kept for the next download; the document stays the caller's whatever happens here. */
    struct cached_config fresh = {.id = strdup(id),
                                  .name = dup_or_null(name),
                                  .version = version,
                                  .trains = json_deep_copy(trains),
                                  .host = dup_or_null(broker->host),
                                  .username = dup_or_null(broker->username),
                                  .password = dup_or_null(broker->password),
                                  .port = broker->port,
                                  .interval = heartbeat_interval,
                                  .tls = broker->tls,
                                  .text = malloc(*len + 1),
                                  .len = *len};
    if (fresh.id == NULL || (name != NULL && fresh.name == NULL) || fresh.trains == NULL ||
        fresh.text == NULL || (broker->host != NULL && fresh.host == NULL) ||
        (broker->username != NULL && fresh.username == NULL) ||
        (broker->password != NULL && fresh.password == NULL)) {
        entry_clear(&fresh);
        return 0;
    }
    memcpy(fresh.text, *text, *len + 1);
    memcpy(fresh.checksum, checksum, sizeof fresh.checksum);
    pthread_mutex_lock(&cache->lock);
    entry_clear(e);
    *e = fresh;
    pthread_mutex_unlock(&cache->lock);
    return 0;
}
