/* The messages that several centrals on one PostgreSQL database send each other (cluster.h),
 * as NOTIFY payloads on one channel. Pure: formatting, parsing and the reassembly of events
 * sent in parts; no connection, no clock.
 *
 * A payload is one line of text, "1 SEQ KIND ...": 1 is the format, SEQ the sender's message
 * number (PostgreSQL drops a notification identical to one already sent in the same
 * transaction; the number keeps each one distinct), KIND one of
 *   E PART PARTS TYPE TEXT  an event of the stream (events.h) of type TYPE, whose JSON text
 *                           is the concatenation of the TEXT of parts 1..PARTS, all with the
 *                           same SEQ (a payload must stay under PostgreSQL's 8000 bytes)
 *   C UUID                  the config_version of controller UUID rose (long polls wake)
 *   S COUNT                 the sender has COUNT event streams open
 *
 * Errors: 0 on success, -EINVAL for a payload that is none of these (the receiver drops it),
 * -EMSGSIZE for an event larger than CLUSTER_PROTO_EVENT_MAX, -ENOMEM. */
#ifndef ROUNDHOUSE_CLUSTER_PROTO_H
#define ROUNDHOUSE_CLUSTER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "uuidstr.h"

/* PostgreSQL refuses payloads of 8000 bytes and more; a part's text stays well below. */
#define CLUSTER_PROTO_PAYLOAD_MAX 7999
#define CLUSTER_PROTO_PART_TEXT 7000
/* An event of the stream is a view of one controller or train: kilobytes. */
#define CLUSTER_PROTO_EVENT_MAX (1024 * 1024)
#define CLUSTER_PROTO_TYPE_MAX 31

enum cluster_msg_kind {
    CLUSTER_MSG_EVENT,
    CLUSTER_MSG_CONFIG,
    CLUSTER_MSG_STREAMS,
};

struct cluster_msg {
    enum cluster_msg_kind kind;
    uint64_t seq;
    /* CLUSTER_MSG_EVENT */
    unsigned part, parts;
    char type[CLUSTER_PROTO_TYPE_MAX + 1];
    const char *text; /* this part's text, inside the parsed payload (not NUL-terminated) */
    size_t text_len;
    /* CLUSTER_MSG_CONFIG */
    char uuid[UUIDSTR_LEN + 1];
    /* CLUSTER_MSG_STREAMS */
    unsigned long count;
};

int cluster_proto_parse(const char *payload, struct cluster_msg *out);

/* The payloads of one event: *out receives *n malloc'd strings in a malloc'd array (free
 * each, then the array). Parts are cut between UTF-8 characters, never inside one. type is
 * [a-z_]{1,31}; json any text without a newline (json_dumps' compact output). */
int cluster_proto_event(uint64_t seq, const char *type, const char *json, char ***out, size_t *n);
/* One payload into out (at least CLUSTER_PROTO_PAYLOAD_MAX + 1 bytes). */
int cluster_proto_config(uint64_t seq, const char *uuid, char *out, size_t outlen);
int cluster_proto_streams(uint64_t seq, unsigned long count, char *out, size_t outlen);

/* An event arriving in parts from one sender. Parts of one event come in order and together
 * (they are sent in one transaction, and PostgreSQL delivers a transaction's notifications
 * in order and together); anything else restarts the assembly. */
struct cluster_assembly {
    uint64_t seq;
    unsigned next; /* the part expected next; 0: nothing under way */
    char *buf;
    size_t len;
};

/* Adds one event part. 1 when the event is complete: *json (NUL-terminated, malloc'd, the
 * caller's) and type (at least CLUSTER_PROTO_TYPE_MAX + 1 bytes) are set. 0 while parts are
 * missing; -EINVAL for a part out of order (the assembly restarts; a first part starts a
 * new one), -EMSGSIZE, -ENOMEM. */
int cluster_assembly_add(struct cluster_assembly *a, const struct cluster_msg *m, char **json,
                         char *type);
void cluster_assembly_clear(struct cluster_assembly *a);

#endif
