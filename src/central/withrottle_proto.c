#include "withrottle_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

int withrottle_linebuf_feed(struct withrottle_linebuf *lb, const char *data, size_t n,
                            int (*fn)(void *ctx, const char *line, size_t len), void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        char ch = data[i];
        if (ch == '\n' || ch == '\r') {
            if (lb->len == 0)
                continue; /* the \n of \r\n, or an empty line */
            lb->buf[lb->len] = '\0';
            size_t len = lb->len;
            lb->len = 0;
            int rc = fn(ctx, lb->buf, len);
            if (rc < 0)
                return rc;
            continue;
        }
        if (lb->len == WITHROTTLE_LINE_MAX) {
            lb->len = 0;
            return -EMSGSIZE;
        }
        lb->buf[lb->len++] = ch;
    }
    return 0;
}

/* Digits only, no sign, at most 5 of them, value in [min, max]. */
static int number(const char *s, size_t len, int min, int max, int *out)
{
    if (len == 0 || len > 5)
        return -EINVAL;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* A name or id: printable, UTF-8 allowed, no control bytes; cut to WITHROTTLE_TEXT_MAX. */
static int text(const char *s, size_t len, char *out)
{
    size_t n = len < WITHROTTLE_TEXT_MAX ? len : WITHROTTLE_TEXT_MAX;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return -EINVAL;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* "L1234" or "S3" (or "*" when star_ok). */
static int parse_key(const char *s, size_t len, bool star_ok, struct withrottle_cmd *c)
{
    if (len == 1 && s[0] == '*' && star_ok) {
        c->all = true;
        return 0;
    }
    if (len < 2 || (s[0] != 'L' && s[0] != 'S'))
        return -EINVAL;
    c->key_type = s[0];
    return number(s + 1, len - 1, 1, WITHROTTLE_ADDRESS_MAX, &c->address);
}

static int parse_action(const char *a, size_t len, struct withrottle_cmd *c)
{
    if (len == 0)
        return -EINVAL;
    switch (a[0]) {
    case 'V':
        c->action = WT_ACT_SPEED;
        if (len >= 2 && a[1] == '-')
            return len == 3 && a[2] == '1' ? (c->value = -1, 0) : -EINVAL;
        return number(a + 1, len - 1, 0, WITHROTTLE_SPEED_MAX, &c->value);
    case 'R':
        c->action = WT_ACT_DIRECTION;
        return number(a + 1, len - 1, 0, 1, &c->value);
    case 'I':
        c->action = WT_ACT_IDLE;
        return len == 1 ? 0 : -EINVAL;
    case 'X':
        c->action = WT_ACT_ESTOP;
        return len == 1 ? 0 : -EINVAL;
    case 's':
        c->action = WT_ACT_STEPS;
        return number(a + 1, len - 1, 0, 255, &c->value);
    case 'F':
    case 'f': {
        c->action = a[0] == 'F' ? WT_ACT_FUNCTION : WT_ACT_FORCE_FUNCTION;
        if (len < 3 || (a[1] != '0' && a[1] != '1'))
            return -EINVAL;
        c->press = a[1] == '1';
        return number(a + 2, len - 2, 0, 68, &c->value);
    }
    case 'q':
        c->action = WT_ACT_QUERY;
        if (len != 2 || (a[1] != 'V' && a[1] != 'R' && a[1] != 's'))
            return -EINVAL;
        c->value = (unsigned char)a[1];
        return 0;
    case 'r':
    case 'd':
        c->action = a[0] == 'r' ? WT_ACT_RELEASE : WT_ACT_DISPATCH;
        return len == 1 ? 0 : -EINVAL;
    default:
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)a[i] < 0x20 || (unsigned char)a[i] >= 0x7f)
                return -EINVAL;
        c->action = WT_ACT_OTHER;
        return 0;
    }
}

static int parse_throttle(const char *line, size_t len, struct withrottle_cmd *c)
{
    /* M T + L41 <;> ... */
    if (len < 4)
        return -EINVAL;
    c->kind = WT_THROTTLE;
    c->throttle = line[1];
    if ((unsigned char)c->throttle <= 0x20 || (unsigned char)c->throttle >= 0x7f)
        return -EINVAL;
    char op = line[2];
    if (op != '+' && op != '-' && op != 'A' && op != 'S')
        return -EINVAL;
    c->op = (enum withrottle_op)op;
    const char *key = line + 3;
    const char *end = line + len;
    const char *sep = NULL;
    for (const char *p = key; p + 3 <= end; p++) {
        if (memcmp(p, "<;>", 3) == 0) {
            sep = p;
            break;
        }
    }
    if (sep == NULL)
        return -EINVAL;
    const char *act = sep + 3;
    size_t alen = (size_t)(end - act);
    if (parse_key(key, (size_t)(sep - key), c->op != WT_OP_ACQUIRE && c->op != WT_OP_STEAL, c) < 0)
        return -EINVAL;
    if (c->op == WT_OP_ACQUIRE || c->op == WT_OP_STEAL) {
        if (alen >= 2 && act[0] == 'E') {
            c->action = WT_ACT_ROSTER;
            return text(act + 1, alen - 1, c->text);
        }
        struct withrottle_cmd again = {0};
        if (parse_key(act, alen, false, &again) < 0)
            return -EINVAL;
        c->action = WT_ACT_ADDRESS;
        return 0;
    }
    if (c->op == WT_OP_RELEASE) {
        if (alen == 0) {
            c->action = WT_ACT_RELEASE;
            return 0;
        }
        if (parse_action(act, alen, c) < 0 ||
            (c->action != WT_ACT_RELEASE && c->action != WT_ACT_DISPATCH))
            return -EINVAL;
        return 0;
    }
    return parse_action(act, alen, c);
}

int withrottle_parse(const char *line, size_t len, struct withrottle_cmd *out)
{
    struct withrottle_cmd c;
    memset(&c, 0, sizeof c);
    if (line == NULL || len == 0 || len > WITHROTTLE_LINE_MAX)
        return -EINVAL;
    int rc = -EINVAL;
    switch (line[0]) {
    case 'N':
        c.kind = WT_NAME;
        rc = text(line + 1, len - 1, c.text);
        break;
    case 'H':
        if (len >= 2 && line[1] == 'U') {
            c.kind = WT_HWID;
            rc = text(line + 2, len - 2, c.text);
        }
        break;
    case '*':
        if (len == 1)
            c.kind = WT_HEARTBEAT, rc = 0;
        else if (len == 2 && line[1] == '+')
            c.kind = WT_HEARTBEAT_ON, rc = 0;
        else if (len == 2 && line[1] == '-')
            c.kind = WT_HEARTBEAT_OFF, rc = 0;
        break;
    case 'P':
        if (len == 4 && memcmp(line, "PPA", 3) == 0 && (line[3] == '0' || line[3] == '1')) {
            c.kind = WT_POWER;
            c.value = line[3] - '0';
            rc = 0;
        } else if (len >= 2 && (line[1] == 'T' || line[1] == 'R' || line[1] == 'F')) {
            c.kind = WT_IGNORED; /* turnouts, routes, fast clock */
            rc = 0;
        }
        break;
    case 'Q':
        if (len == 1)
            c.kind = WT_QUIT, rc = 0;
        break;
    case 'M':
        rc = parse_throttle(line, len, &c);
        break;
    case 'R':
        if (len >= 2 && (line[1] == 'C' || line[1] == 'F')) {
            c.kind = WT_IGNORED; /* consists, roster functions */
            rc = 0;
        }
        break;
    default:
        break;
    }
    if (rc == 0 && c.kind == WT_IGNORED) {
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
                return -EINVAL;
    }
    if (rc < 0)
        return -EINVAL;
    *out = c;
    return 0;
}

int withrottle_speed_to_percent(int steps)
{
    if (steps <= 0)
        return 0;
    if (steps >= WITHROTTLE_SPEED_MAX)
        return 100;
    return (steps * 100 + WITHROTTLE_SPEED_MAX / 2) / WITHROTTLE_SPEED_MAX;
}

int withrottle_percent_to_speed(int percent)
{
    if (percent <= 0)
        return 0;
    if (percent >= 100)
        return WITHROTTLE_SPEED_MAX;
    int s = (percent * WITHROTTLE_SPEED_MAX + 50) / 100;
    return s < 1 ? 1 : s; /* moving is never shown as stopped */
}

void withrottle_clean_text(const char *in, char *out, size_t outlen)
{
    size_t i = 0;
    for (; in != NULL && in[i] != '\0' && i + 1 < outlen; i++) {
        unsigned char ch = (unsigned char)in[i];
        out[i] = (ch < 0x20 || ch == 0x7f || strchr("[]{}|<>;", ch) != NULL) ? ' ' : (char)ch;
    }
    out[i] = '\0';
}

int withrottle_format_train(char *out, size_t outlen, char throttle, char op, char key_type,
                            int address, const char *payload)
{
    int n = snprintf(out, outlen, "M%c%c%c%d<;>%s", throttle, op, key_type, address,
                     payload ? payload : "");
    return n < 0 || (size_t)n >= outlen ? -ENOSPC : 0;
}

int withrottle_format_roster(const struct withrottle_roster_entry *e, size_t n, char **out)
{
    size_t len = 0, cap = 256;
    char *buf = malloc(cap);
    if (buf == NULL)
        return -ENOMEM;
    buf[0] = '\0';
    if (strbuf_appendf(&buf, &len, &cap, "RL%zu", n) < 0) {
        free(buf);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        char name[WITHROTTLE_TEXT_MAX + 1];
        withrottle_clean_text(e[i].name, name, sizeof name);
        if (strbuf_appendf(&buf, &len, &cap, "]\\[%s}|{%d}|{%c", name, e[i].address,
                           e[i].address < 128 ? 'S' : 'L') < 0) {
            free(buf);
            return -ENOMEM;
        }
    }
    *out = buf;
    return 0;
}
