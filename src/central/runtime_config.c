#include "runtime_config.h"

#include <errno.h>
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
