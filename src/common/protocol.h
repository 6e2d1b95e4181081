/* The limits and words that the central, the edge and the tools agree on, defined once: a
 * value the central accepts but an edge refuses leaves that edge on an old config forever (a
 * 65-character plugin name did, before these were shared). docs/api.md lists the limits,
 * docs/mqtt.md the topics and commands. protocol.c: the identifier rule, the topics' builder
 * and parser, and the command parser, used by the central, the edge and the fleet simulator. */
#ifndef ROUNDHOUSE_PROTOCOL_H
#define ROUNDHOUSE_PROTOCOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Train ids are MQTT topic levels (trains/{id}/commands): 1-100 bytes, no whitespace, no '/',
 * '+' or '#' (proto_train_id_valid). */
#define PROTO_TRAIN_ID_MAX 100
/* Names of controllers, trains and plugins' descriptions, in characters. */
#define PROTO_NAME_MAX 100
#define PROTO_DESCRIPTION_MAX 500
#define PROTO_MODEL_MAX 200
#define PROTO_ADDRESS_MAX 255
/* A train's number for throttles (WiThrottle, DCC-style): 1 to this, unique. */
#define PROTO_TRAIN_NUMBER_MAX 9999
/* A plugin name, in characters: what the edge's plugin table can hold. */
#define PROTO_PLUGIN_NAME_MAX 64
/* Trains one controller runs (the edge's motor table). */
#define PROTO_CONTROLLER_TRAINS_MAX 64
/* A runtime config document, as canonical JSON: what an edge downloads and caches. */
#define PROTO_RUNTIME_CONFIG_MAX (1024 * 1024)
/* What an edge reads for it: the document, or the document inside its cache envelope
 * (format, cached_at, checksum: well under this slack). */
#define PROTO_RUNTIME_CONFIG_READ_MAX (PROTO_RUNTIME_CONFIG_MAX + 64 * 1024)

/* Prefixes of the config problems an edge reports in its heartbeat's errors; the central
 * shows the first such error as the controller's config_error. */
#define PROTO_ERROR_CONFIG_REJECTED "config_rejected: "
#define PROTO_ERROR_CONFIG_ROLLED_BACK "config_rolled_back: "

/* A limit as a string literal, for messages built at compile time. */
#define PROTO_STR_(x) #x
#define PROTO_STR(x) PROTO_STR_(x)

/* ---- identifiers ---- */

/* Train ids become MQTT topic levels: 1-PROTO_TRAIN_ID_MAX bytes (len is the byte length, so
 * an embedded NUL fails), no whitespace or control characters, no '/', '+' or '#' (topic
 * separators and wildcards: such an id would subscribe a motor to other trains' commands). */
bool proto_train_id_valid(const char *id, size_t len);

/* ---- MQTT topics (docs/mqtt.md) ---- */

#define PROTO_TOPIC_ESTOP "roundhouse/emergency-stop"
/* What the central subscribes to. */
#define PROTO_TOPIC_ALL_STATUS "trains/+/status"
#define PROTO_TOPIC_ALL_PRESENCE "controllers/+/presence"
#define PROTO_TOPIC_ALL_ESTOP_ACK "controllers/+/estop-ack"
/* Room for any topic of a valid id (the longest: a controller's config/update). */
#define PROTO_TOPIC_MAX (PROTO_TRAIN_ID_MAX + 32)

enum proto_topic {
    PROTO_TOPIC_NONE = 0,
    PROTO_TOPIC_COMMANDS,      /* trains/{train_id}/commands: central -> edge */
    PROTO_TOPIC_STATUS,        /* trains/{train_id}/status: edge -> central */
    PROTO_TOPIC_PRESENCE,      /* controllers/{uuid}/presence: edge birth and will */
    PROTO_TOPIC_PROBE,         /* controllers/{uuid}/probe: the edge's fail-safe probe */
    PROTO_TOPIC_ESTOP_ACK,     /* controllers/{uuid}/estop-ack: edge -> central */
    PROTO_TOPIC_CONFIG_UPDATE, /* controllers/{uuid}/config/update: central -> edge */
    PROTO_TOPIC_LAYOUT_ESTOP,  /* roundhouse/emergency-stop: central -> every edge */
};

/* The topic of that kind for id (a train id or a controller uuid; unused for the layout's
 * emergency stop). 0, or -ENOSPC when buf is too small, -EINVAL for PROTO_TOPIC_NONE. */
int proto_topic(char *buf, size_t len, enum proto_topic kind, const char *id);
/* Which of the protocol's topics this is; its id level is copied into id (idlen bytes with
 * the NUL; a longer or empty one is PROTO_TOPIC_NONE). The id is not otherwise checked. */
enum proto_topic proto_topic_parse(const char *topic, char *id, size_t idlen);

/* ---- commands (trains/{id}/commands) ---- */

enum proto_action {
    PROTO_ACT_SET_SPEED = 0,
    PROTO_ACT_SET_DIRECTION,
    PROTO_ACT_START,
    PROTO_ACT_STOP,
    PROTO_ACT_ESTOP,
    PROTO_ACT_COUNT
};
/* "setSpeed", "setDirection", "start", "stop", "emergencyStop"; "unknown" out of range. */
const char *proto_action_name(enum proto_action a);
/* The action a word names, in any case (the earlier gateway and scripts were not consistent);
 * -1 for none. */
int proto_action_parse(const char *word);
/* "setSpeed, setDirection, start, stop, emergencyStop": for messages. */
#define PROTO_ACTION_WORDS "setSpeed, setDirection, start, stop, emergencyStop"

struct proto_command {
    enum proto_action action;
    bool has_speed;
    int speed; /* 0-100 */
    bool has_direction;
    bool reverse; /* REVERSE (or BACKWARD, as statuses say) rather than FORWARD */
};

/* Largest command payload an edge takes. */
#define PROTO_COMMAND_MAX (64 * 1024)

/* A command document, with every form the edges take: {action, speed?, direction?}, the
 * earlier {command: A} (action and command must agree when both are given) and {speed: N}
 * (setSpeed). Speeds 0-100, integers or reals (rounded half up); setSpeed needs a speed,
 * setDirection a direction. 0, or -EINVAL with the offending key in *field (when not NULL)
 * and a reason in err: the command is rejected whole. */
int proto_command_from_json(const json_t *doc, struct proto_command *out, const char **field,
                            char *err, size_t errlen);
/* The same from a payload's bytes (at most PROTO_COMMAND_MAX, one JSON object, duplicate
 * keys refused). */
int proto_command_parse(const char *payload, size_t len, struct proto_command *out, char *err,
                        size_t errlen);

#endif
