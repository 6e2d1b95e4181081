/* The command path that REST (`POST /api/trains/{id}/command`, api_commands.c) and the
 * WiThrottle server (withrottle.c) share: the rules a command meets before it goes out, whom
 * it reaches, and its publishing on the train's command topic (docs/api.md, docs/mqtt.md). */
#ifndef ROUNDHOUSE_COMMAND_H
#define ROUNDHOUSE_COMMAND_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "presence.h"
#include "uuidstr.h"

struct central;

/* A command, validated by its caller. */
struct command {
    const char *action;    /* canonical (proto_action_name) */
    int speed;             /* 0-100, -1: not given */
    const char *direction; /* "FORWARD", "REVERSE", or NULL: not given */
};

/* Whom a command reaches: the controller running the train, else the one it is assigned to. */
struct command_target {
    char *name;               /* its name (owned), NULL: none */
    char id[UUIDSTR_LEN + 1]; /* "": none */
    enum presence presence;
};

enum command_result {
    COMMAND_SENT,           /* the broker has it (QoS 1) */
    COMMAND_LAYOUT_STOPPED, /* it would drive, and the layout is stopped */
    COMMAND_NO_TRAIN,
    COMMAND_DISABLED,  /* it would drive, and the train's controller is disabled */
    COMMAND_NO_BROKER, /* not published: the broker is not reachable */
    COMMAND_FAILED,    /* the store failed (*store_rc) or publishing did */
};

/* Whether the command sets the train moving: start, or a speed above 0. */
bool command_drives(const struct command *cmd);

/* Checks cmd for train tid at wall time now (seconds) and publishes it. t is filled as far as
 * it was learnt (free it with command_target_clear); *payload, when asked for, receives what
 * was published (a new reference, NULL when nothing was); *store_rc, with COMMAND_FAILED,
 * the store's error (0 when publishing failed). */
enum command_result command_send(struct central *c, const char *tid, const struct command *cmd,
                                 int64_t now, struct command_target *t, json_t **payload,
                                 int *store_rc);
void command_target_clear(struct command_target *t);

#endif
