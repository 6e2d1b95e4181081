#include "cluster_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT "1"
#define MAX_PARTS (CLUSTER_PROTO_EVENT_MAX / CLUSTER_PROTO_PART_TEXT + 1)

/* Decimal digits up to the next space or the end, at most max. Advances *p past them. */
static int take_number(const char **p, uint64_t max, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    size_t n = 0;
    for (; s[n] >= '0' && s[n] <= '9'; n++) {
        uint64_t d = (uint64_t)(s[n] - '0');
        if (v > (max - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    if (n == 0 || (s[n] != ' ' && s[n] != '\0'))
        return -EINVAL;
    *p = s + n;
    *out = v;
    return 0;
}

/* One space, then more. */
static bool take_space(const char **p)
{
    if (**p != ' ' || (*p)[1] == '\0')
        return false;
    (*p)++;
    return true;
}

static bool type_valid(const char *type, size_t len)
{
    if (len == 0 || len > CLUSTER_PROTO_TYPE_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((type[i] >= 'a' && type[i] <= 'z') || type[i] == '_'))
            return false;
    return true;
}

static int parse_event(const char *p, struct cluster_msg *m)
{
    uint64_t part = 0, parts = 0;
    if (take_number(&p, MAX_PARTS, &part) < 0 || !take_space(&p) ||
        take_number(&p, MAX_PARTS, &parts) < 0 || !take_space(&p))
        return -EINVAL;
    if (part < 1 || parts < 1 || part > parts)
        return -EINVAL;
    const char *space = strchr(p, ' ');
    if (space == NULL || !type_valid(p, (size_t)(space - p)))
        return -EINVAL;
    memcpy(m->type, p, (size_t)(space - p));
    m->type[space - p] = '\0';
    m->part = (unsigned)part;
    m->parts = (unsigned)parts;
    m->text = space + 1;
    m->text_len = strlen(m->text);
    if (m->text_len > CLUSTER_PROTO_PART_TEXT)
        return -EINVAL;
    return 0;
}

int cluster_proto_parse(const char *payload, struct cluster_msg *out)
{
    struct cluster_msg m;
    memset(&m, 0, sizeof m);
    const char *p = payload;
    if (payload == NULL || strncmp(p, FORMAT " ", 2) != 0)
        return -EINVAL;
    p += 2;
    if (take_number(&p, UINT64_MAX, &m.seq) < 0 || !take_space(&p))
        return -EINVAL;
    char kind = *p++;
    if (!take_space(&p))
        return -EINVAL;
    uint64_t count = 0;
    switch (kind) {
    case 'E':
        m.kind = CLUSTER_MSG_EVENT;
        if (parse_event(p, &m) < 0)
            return -EINVAL;
        break;
    case 'C':
        m.kind = CLUSTER_MSG_CONFIG;
        if (!uuidstr_valid(p))
            return -EINVAL;
        memcpy(m.uuid, p, sizeof m.uuid);
        break;
    case 'S':
        m.kind = CLUSTER_MSG_STREAMS;
        if (take_number(&p, UINT32_MAX, &count) < 0 || *p != '\0')
            return -EINVAL;
        m.count = (unsigned long)count;
        break;
    default:
        return -EINVAL;
    }
    *out = m;
    return 0;
}

/* Where a part that starts at text and may take up to max bytes ends: before a UTF-8
 * continuation byte, so that every part is valid text on its own (PostgreSQL checks). */
static size_t part_length(const char *text, size_t left, size_t max)
{
    if (left <= max)
        return left;
    size_t n = max;
    while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
        n--;
    return n > 0 ? n : max;
}

int cluster_proto_event(uint64_t seq, const char *type, const char *json, char ***out, size_t *n)
{
    size_t len = strlen(json);
    if (!type_valid(type, strlen(type)) || strchr(json, '\n') != NULL)
        return -EINVAL;
    if (len > CLUSTER_PROTO_EVENT_MAX)
        return -EMSGSIZE;
    /* Counted first, cut second: the header of each part carries the number of parts. */
    size_t parts = 0;
    for (size_t off = 0; off < len || parts == 0; parts++)
        off += part_length(json + off, len - off, CLUSTER_PROTO_PART_TEXT);
    char **v = calloc(parts, sizeof *v);
    if (v == NULL)
        return -ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < parts; i++) {
        size_t take = part_length(json + off, len - off, CLUSTER_PROTO_PART_TEXT);
        size_t cap = take + 96;
        v[i] = malloc(cap);
        if (v[i] == NULL) {
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return -ENOMEM;
        }
        snprintf(v[i], cap, FORMAT " %" PRIu64 " E %zu %zu %s %.*s", seq, i + 1, parts, type,
                 (int)take, json + off);
        off += take;
    }
    *out = v;
    *n = parts;
    return 0;
}

int cluster_proto_config(uint64_t seq, const char *uuid, char *out, size_t outlen)
{
    char norm[UUIDSTR_LEN + 1];
    if (uuidstr_normalize(uuid, norm) < 0)
        return -EINVAL;
    int w = snprintf(out, outlen, FORMAT " %" PRIu64 " C %s", seq, norm);
    return w < 0 || (size_t)w >= outlen ? -EMSGSIZE : 0;
}

int cluster_proto_streams(uint64_t seq, unsigned long count, char *out, size_t outlen)
{
    int w = snprintf(out, outlen, FORMAT " %" PRIu64 " S %lu", seq, count);
    return w < 0 || (size_t)w >= outlen ? -EMSGSIZE : 0;
}

void cluster_assembly_clear(struct cluster_assembly *a)
{
    free(a->buf);
    memset(a, 0, sizeof *a);
}

int cluster_assembly_add(struct cluster_assembly *a, const struct cluster_msg *m, char **json,
                         char *type)
{
    if (m->kind != CLUSTER_MSG_EVENT)
        return -EINVAL;
    if (m->part == 1) {
        cluster_assembly_clear(a);
        a->seq = m->seq;
        a->next = 1;
    } else if (a->next != m->part || a->seq != m->seq) {
        cluster_assembly_clear(a);
        return -EINVAL;
    }
    if (a->len + m->text_len > CLUSTER_PROTO_EVENT_MAX) {
        cluster_assembly_clear(a);
        return -EMSGSIZE;
    }
    char *grown = realloc(a->buf, a->len + m->text_len + 1);
    if (grown == NULL) {
        cluster_assembly_clear(a);
        return -ENOMEM;
    }
    a->buf = grown;
    memcpy(a->buf + a->len, m->text, m->text_len);
    a->len += m->text_len;
    a->buf[a->len] = '\0';
    if (m->part < m->parts) {
        a->next++;
        return 0;
    }
    snprintf(type, CLUSTER_PROTO_TYPE_MAX + 1, "%s", m->type);
    *json = a->buf;
    a->buf = NULL;
    a->len = 0;
    a->next = 0;
    return 1;
}
