#include "protocol.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "strbuf.h"

bool proto_train_id_valid(const char *id, size_t len)
{
    if (id == NULL || len == 0 || len > PROTO_TRAIN_ID_MAX || strlen(id) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)id[i];
        if (ch <= ' ' || ch == 0x7f || ch == '/' || ch == '+' || ch == '#')
            return false;
    }
    return true;
}

/* ---- topics ---- */

struct topic_form {
    enum proto_topic kind;
    const char *prefix, *suffix;
};

static const struct topic_form forms[] = {
    {PROTO_TOPIC_COMMANDS, "trains/", "/commands"},
    {PROTO_TOPIC_STATUS, "trains/", "/status"},
    {PROTO_TOPIC_PRESENCE, "controllers/", "/presence"},
    {PROTO_TOPIC_PROBE, "controllers/", "/probe"},
    {PROTO_TOPIC_ESTOP_ACK, "controllers/", "/estop-ack"},
    {PROTO_TOPIC_CONFIG_UPDATE, "controllers/", "/config/update"},
};

int proto_topic(char *buf, size_t len, enum proto_topic kind, const char *id)
{
    int n = -1;
    if (kind == PROTO_TOPIC_LAYOUT_ESTOP) {
        n = snprintf(buf, len, "%s", PROTO_TOPIC_ESTOP);
    } else {
        for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
            if (forms[i].kind == kind)
                n = snprintf(buf, len, "%s%s%s", forms[i].prefix, id, forms[i].suffix);
        if (n < 0)
            return -EINVAL;
    }
    return (size_t)n >= len ? -ENOSPC : 0;
}

enum proto_topic proto_topic_parse(const char *topic, char *id, size_t idlen)
{
    if (strcmp(topic, PROTO_TOPIC_ESTOP) == 0) {
        if (idlen > 0)
            id[0] = '\0';
        return PROTO_TOPIC_LAYOUT_ESTOP;
    }
    size_t tlen = strlen(topic);
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        size_t plen = strlen(forms[i].prefix), slen = strlen(forms[i].suffix);
        if (tlen <= plen + slen || strncmp(topic, forms[i].prefix, plen) != 0 ||
            strcmp(topic + tlen - slen, forms[i].suffix) != 0)
            continue;
        size_t n = tlen - plen - slen;
        /* One level: "trains/a/b/status" is no train's status. */
        if (n >= idlen || memchr(topic + plen, '/', n) != NULL)
            return PROTO_TOPIC_NONE;
        memcpy(id, topic + plen, n);
        id[n] = '\0';
        return forms[i].kind;
    }
    return PROTO_TOPIC_NONE;
}

/* ---- commands ---- */

static const char *const action_names[PROTO_ACT_COUNT] = {
    "setSpeed", "setDirection", "start", "stop", "emergencyStop",
};

const char *proto_action_name(enum proto_action a)
{
    return (unsigned)a < PROTO_ACT_COUNT ? action_names[a] : "unknown";
}

int proto_action_parse(const char *word)
{
    for (int i = 0; word != NULL && i < PROTO_ACT_COUNT; i++)
        if (strcasecmp(word, action_names[i]) == 0)
            return i;
    return -1;
}

/* A JSON string whose bytes are all part of the C string: "stop\u0000x" is not "stop". */
static const char *json_text(const json_t *v)
{
    const char *s = json_string_value(v);
    return s != NULL && strlen(s) == json_string_length(v) ? s : NULL;
}

static int speed_parse(const json_t *v, int *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > 100)
            return -ERANGE;
        *out = (int)i;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0.0 && d <= 100.0))
            return -ERANGE;
        *out = (int)(d + 0.5); /* d >= 0: round half up */
        return 0;
    }
    return -EINVAL;
}

static int direction_parse(const json_t *v, bool *reverse)
{
    const char *s = json_text(v);
    if (s == NULL)
        return -EINVAL;
    if (strcasecmp(s, "FORWARD") == 0) {
        *reverse = false;
        return 0;
    }
    /* Commands say REVERSE, status messages say BACKWARD; both mean the same. */
    if (strcasecmp(s, "REVERSE") == 0 || strcasecmp(s, "BACKWARD") == 0) {
        *reverse = true;
        return 0;
    }
    return -EINVAL;
}

static int reject(const char **field, const char *name, char *err, size_t errlen,
                  const char *reason)
{
    if (field != NULL)
        *field = name;
    strbuf_errorf(err, errlen, "%s", reason);
    return -EINVAL;
}

int proto_command_from_json(const json_t *doc, struct proto_command *out, const char **field,
                            char *err, size_t errlen)
{
    struct proto_command c = {0};
    if (!json_is_object(doc))
        return reject(field, NULL, err, errlen, "not a JSON object");
    const json_t *action = json_object_get(doc, "action");
    const json_t *command = json_object_get(doc, "command");
    const json_t *speed = json_object_get(doc, "speed");
    const json_t *direction = json_object_get(doc, "direction");
    if (json_is_null(action))
        action = NULL;
    if (json_is_null(command))
        command = NULL;
    if (json_is_null(speed))
        speed = NULL;
    if (json_is_null(direction))
        direction = NULL;

    int a = -1;
    if (action != NULL) {
        if ((a = proto_action_parse(json_text(action))) < 0)
            return reject(field, "action", err, errlen, "unknown action: use " PROTO_ACTION_WORDS);
        if (command != NULL && proto_action_parse(json_text(command)) != a)
            return reject(field, "command", err, errlen,
                          "'action' and 'command' name different actions");
    } else if (command != NULL) {
        if ((a = proto_action_parse(json_text(command))) < 0)
            return reject(field, "command", err, errlen,
                          "unknown command: use " PROTO_ACTION_WORDS);
    } else if (speed != NULL) {
        a = PROTO_ACT_SET_SPEED; /* the earlier {"speed": N} */
    } else {
        return reject(field, "action", err, errlen,
                      "'action' is required: one of " PROTO_ACTION_WORDS);
    }
    c.action = (enum proto_action)a;
    if (speed != NULL) {
        int r = speed_parse(speed, &c.speed);
        if (r < 0)
            return reject(field, "speed", err, errlen,
                          r == -ERANGE ? "'speed' must be 0-100" : "'speed' must be a number");
        c.has_speed = true;
    }
    if (direction != NULL) {
        if (direction_parse(direction, &c.reverse) < 0)
            return reject(field, "direction", err, errlen,
                          "'direction' must be FORWARD or REVERSE");
        c.has_direction = true;
    }
    if (c.action == PROTO_ACT_SET_SPEED && !c.has_speed)
        return reject(field, "speed", err, errlen, "setSpeed needs 'speed' (0-100)");
    if (c.action == PROTO_ACT_SET_DIRECTION && !c.has_direction)
        return reject(field, "direction", err, errlen,
                      "setDirection needs 'direction' (FORWARD or REVERSE)");
    *out = c;
    return 0;
}

int proto_command_parse(const char *payload, size_t len, struct proto_command *out, char *err,
                        size_t errlen)
{
    if (payload == NULL || len == 0) {
        strbuf_errorf(err, errlen, "empty payload");
        return -EINVAL;
    }
    if (len > PROTO_COMMAND_MAX) {
        strbuf_errorf(err, errlen, "payload larger than %d bytes", PROTO_COMMAND_MAX);
        return -EINVAL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        strbuf_errorf(err, errlen, "not JSON: %s", jerr.text);
        return -EINVAL;
    }
    int rc = proto_command_from_json(doc, out, NULL, err, errlen);
    json_decref(doc);
    return rc;
}
