/* The HTTP server's pure rules (http_rules.h): UTF-8 checks of what is echoed, and the
 * origin rules of CORS and of the cross-origin write refusal (docs/security.md). */
#include "http_rules.h"

#include <string.h>
#include <strings.h>

/* Length of the UTF-8 sequence at s (RFC 3629: no overlongs, surrogates or code points past
 * U+10FFFF), or 0 when the bytes there are not one. */
static size_t utf8_seq(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        if (s[0] == 0xE0)
            lo = 0xA0;
        else if (s[0] == 0xED)
            hi = 0x9F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        if (s[0] == 0xF0)
            lo = 0x90;
        else if (s[0] == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

bool http_utf8_valid(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_seq(p);
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}

void http_utf8_scrub(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p;) {
        size_t n = utf8_seq(p);
        if (n == 0) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

bool http_origin_listed(const char *cors, const char *origin, bool *wildcard)
{
    *wildcard = false;
    if (cors == NULL || cors[0] == '\0')
        return false;
    if (strcmp(cors, "*") == 0) {
        *wildcard = true;
        return true;
    }
    if (origin == NULL)
        return false;
    size_t olen = strlen(origin);
    const char *p = cors;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *tail = end;
        while (tail > p && tail[-1] == ' ')
            tail--;
        if ((size_t)(tail - p) == olen && strncasecmp(p, origin, olen) == 0)
            return true;
        p = end;
    }
    return false;
}

/* An authority ("host[:port]") without the scheme's default port, for comparison. */
static size_t authority_len(const char *a, size_t n, bool https)
{
    const char *dflt = https ? ":443" : ":80";
    size_t dl = strlen(dflt);
    if (n > dl && strncmp(a + n - dl, dflt, dl) == 0)
        return n - dl;
    return n;
}

bool http_same_origin(const char *origin, const char *host)
{
    if (origin == NULL || host == NULL)
        return false;
    bool https;
    if (strncasecmp(origin, "http://", 7) == 0)
        https = false;
    else if (strncasecmp(origin, "https://", 8) == 0)
        https = true;
    else
        return false;
    const char *a = origin + (https ? 8 : 7);
    size_t an = strlen(a), hn = strlen(host);
    if (an == 0 || strchr(a, '/') != NULL)
        return false;
    an = authority_len(a, an, https);
    hn = authority_len(host, hn, https);
    return an == hn && strncasecmp(a, host, an) == 0;
}
