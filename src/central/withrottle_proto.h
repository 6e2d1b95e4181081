/* The WiThrottle line protocol (JMRI's description, the part a DC-motor layout has): splitting
 * the byte stream into lines, parsing one client line, and formatting the server's lines.
 * Pure: no sockets, no clocks, no store. docs/throttles.md describes what is supported.
 *
 * Errors: 0 on success, -EINVAL for a line that is not a command this module knows (the caller
 * ignores it), -EMSGSIZE for a line longer than WITHROTTLE_LINE_MAX. */
#ifndef ROUNDHOUSE_WITHROTTLE_PROTO_H
#define ROUNDHOUSE_WITHROTTLE_PROTO_H

#include <stdbool.h>
#include <stddef.h>

/* Longest client line: a roster entry name (100) with the framing fits many times over. */
#define WITHROTTLE_LINE_MAX 512
#define WITHROTTLE_TEXT_MAX 100
#define WITHROTTLE_ADDRESS_MAX 9999
/* The 126 speed steps of the 128-step mode; -1 in a V command is an emergency stop. */
#define WITHROTTLE_SPEED_MAX 126

/* Bytes of a connection, cut into lines at \n, \r or \r\n; empty lines are skipped. */
struct withrottle_linebuf {
    char buf[WITHROTTLE_LINE_MAX + 1];
    size_t len;
};

/* Calls fn for each complete line in data (line without its terminator, NUL-terminated);
 * an incomplete tail waits for the next call. 0; -EMSGSIZE when a line is longer than
 * WITHROTTLE_LINE_MAX (the connection should be closed); or fn's negative return, which
 * stops the feed. */
int withrottle_linebuf_feed(struct withrottle_linebuf *lb, const char *data, size_t n,
                            int (*fn)(void *ctx, const char *line, size_t len), void *ctx);

enum withrottle_kind {
    WT_NAME,          /* N<name>: the device's name */
    WT_HWID,          /* HU<id>: the device's unique id */
    WT_HEARTBEAT,     /* *: keep-alive */
    WT_HEARTBEAT_ON,  /* *+: the server may stop the trains after a silence */
    WT_HEARTBEAT_OFF, /* *- */
    WT_POWER,         /* PPA0 / PPA1 */
    WT_QUIT,          /* Q */
    WT_THROTTLE,      /* M<throttle><op><key><;><action> */
    WT_IGNORED,       /* known to clients but meaningless here: turnouts, routes, consists, clock */
};

enum withrottle_op {
    WT_OP_ACQUIRE = '+',
    WT_OP_RELEASE = '-',
    WT_OP_ACTION = 'A',
    WT_OP_STEAL = 'S', /* acquire a train another throttle holds: the same as acquire here */
};

enum withrottle_action {
    WT_ACT_NONE = 0,
    WT_ACT_ADDRESS = 'L', /* acquire by address (L or S key repeated) */
    WT_ACT_ROSTER = 'E',  /* acquire by roster entry name */
    WT_ACT_RELEASE = 'r',
    WT_ACT_DISPATCH = 'd',
    WT_ACT_SPEED = 'V',
    WT_ACT_DIRECTION = 'R',
    WT_ACT_IDLE = 'I',
    WT_ACT_ESTOP = 'X',
    WT_ACT_STEPS = 's',
    WT_ACT_FUNCTION = 'F',
    WT_ACT_FORCE_FUNCTION = 'f',
    WT_ACT_QUERY = 'q',
    WT_ACT_OTHER = '?', /* a throttle action this server does not implement */
};

struct withrottle_cmd {
    enum withrottle_kind kind;
    /* WT_THROTTLE */
    char throttle;         /* any printable character: the client's throttle id */
    enum withrottle_op op; /* + - A S */
    bool all;              /* key '*': every train of the throttle */
    char key_type;         /* 'S' (short) or 'L' (long), as the client wrote it */
    int address;           /* 1-9999 when !all */
    enum withrottle_action action;
    int value;  /* V: -1..126; R: 0 reverse, 1 forward; s: mode; F/f: function; q: 'V','R','s' */
    bool press; /* F/f: 1 pressed, 0 released */
    /* WT_NAME, WT_HWID, WT_ACT_ROSTER: the text; WT_POWER: value 0 or 1 */
    char text[WITHROTTLE_TEXT_MAX + 1];
};

/* Parses one line (no terminator). 0 with *out filled, or -EINVAL: unknown, malformed, a
 * control or non-ASCII byte outside a name, a number out of range. */
int withrottle_parse(const char *line, size_t len, struct withrottle_cmd *out);

/* 0-126 steps <-> Roundhouse's 0-100 speed, rounded to the nearest. */
int withrottle_speed_to_percent(int steps);
int withrottle_percent_to_speed(int percent);

/* Copies text into out (outlen > 0), replacing what would break a WiThrottle line or its
 * delimiters ([ ] { } | < > ; and control bytes) with spaces. */
void withrottle_clean_text(const char *text, char *out, size_t outlen);

/* "MT+L41<;>" followed by payload: the prefix of every line about one train of one throttle.
 * 0 or -ENOSPC. */
int withrottle_format_train(char *out, size_t outlen, char throttle, char op, char key_type,
                            int address, const char *payload);

struct withrottle_roster_entry {
    const char *name;
    int address;
};

/* "RL<n>]\[name}|{address}|{S|L..." (S for addresses below 128, as DCC does); malloc'd in
 * *out (the caller frees). 0 or -ENOMEM. */
int withrottle_format_roster(const struct withrottle_roster_entry *e, size_t n, char **out);

#endif
