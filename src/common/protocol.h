/* The limits and words that the central, the edge and the tools agree on, defined once: a
 * value the central accepts but an edge refuses leaves that edge on an old config forever (a
 * 65-character plugin name did, before these were shared). docs/api.md lists them. */
#ifndef ROUNDHOUSE_PROTOCOL_H
#define ROUNDHOUSE_PROTOCOL_H

/* Train ids are MQTT topic levels (trains/{id}/commands): 1-100 bytes, no whitespace, no '/',
 * '+' or '#' (runtime_config_train_id_valid). */
#define PROTO_TRAIN_ID_MAX 100
/* Names of controllers, trains and plugins' descriptions, in characters. */
#define PROTO_NAME_MAX 100
#define PROTO_DESCRIPTION_MAX 500
#define PROTO_MODEL_MAX 200
#define PROTO_ADDRESS_MAX 255
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

#endif
