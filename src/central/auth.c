/* Operator accounts, the pure part: the role decision and credential parsing (auth.h). */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const role_names[] = {"none", "viewer", "operator", "admin"};

int auth_role_parse(const char *s, enum auth_role *out)
{
    for (int r = AUTH_ROLE_VIEWER; s != NULL && r <= AUTH_ROLE_ADMIN; r++) {
        if (strcmp(s, role_names[r]) == 0) {
            *out = (enum auth_role)r;
            return 0;
        }
    }
    return -EINVAL;
}

const char *auth_role_name(enum auth_role role)
{
    return (unsigned)role <= AUTH_ROLE_ADMIN ? role_names[role] : "none";
}

enum auth_role auth_role_needed(enum route_access access)
{
    switch (access) {
    case ACCESS_PUBLIC:
    case ACCESS_CONTROLLER:
        return AUTH_ROLE_NONE;
    case ACCESS_READ:
    case ACCESS_USER:
    case ACCESS_STOP:
        return AUTH_ROLE_VIEWER;
    case ACCESS_DRIVE:
        return AUTH_ROLE_OPERATOR;
    case ACCESS_ADMIN:
    default: /* an unknown class is the strictest */
        return AUTH_ROLE_ADMIN;
    }
}

unsigned auth_decide(enum route_access access, enum auth_role role, bool public_read)
{
    enum auth_role need = auth_role_needed(access);
    if (need == AUTH_ROLE_NONE || (access == ACCESS_READ && public_read))
        return 0;
    if (role <= AUTH_ROLE_NONE || role > AUTH_ROLE_ADMIN)
        return 401;
    return role >= need ? 0 : 403;
}

int auth_cookie_find(const char *header, const char *name, char *out, size_t outlen)
{
    if (header == NULL || name == NULL || outlen == 0)
        return 0;
    size_t nlen = strlen(name);
    const char *p = header;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            const char *v = p + nlen + 1;
            size_t vlen = len - nlen - 1;
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            /* RFC 6265 allows a value in double quotes. */
            if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                v++;
                vlen -= 2;
            }
            if (vlen >= outlen)
                return -E2BIG;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return 1;
        }
        p += len;
    }
    return 0;
}

int auth_bearer_parse(const char *header, char *out, size_t outlen)
{
    if (header == NULL || outlen == 0)
        return 0;
    while (*header == ' ')
        header++;
    if (strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
        return 0;
    const char *v = header + 7;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len == 0)
        return 0;
    if (len >= outlen)
        return -E2BIG;
    memcpy(out, v, len);
    out[len] = '\0';
    return 1;
}

bool auth_username_valid(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > AUTH_USERNAME_MAX || !isalnum((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-')
            return false;
    }
    return true;
}
