#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int parse_long(const char *s, long min, long max, long *out)
{
    if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0')
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

int parse_int(const char *s, int min, int max, int *out)
{
    long v;
    int rc = parse_long(s, min, max, &v);
    if (rc < 0)
        return rc;
    *out = (int)v;
    return 0;
}

int parse_double(const char *s, double min, double max, double *out)
{
    if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || isnan(v))
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    if (s == NULL)
        return -EINVAL;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

int parse_host_port(const char *s, char *host, size_t hostlen, int *port)
{
    if (s == NULL || *s == '\0')
        return -EINVAL;
    const char *colon;
    const char *hstart = s;
    size_t hlen;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -EINVAL;
        hstart = s + 1;
        hlen = (size_t)(close - hstart);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -EINVAL;
        hlen = (size_t)(colon - s);
        if (memchr(s, ':', hlen) != NULL) /* bare IPv6 needs brackets */
            return -EINVAL;
    }
    if (hlen == 0 || hlen >= hostlen)
        return -EINVAL;
    int p;
    int rc = parse_int(colon + 1, 0, 65535, &p);
    if (rc < 0)
        return rc;
    memcpy(host, hstart, hlen);
    host[hlen] = '\0';
    *port = p;
    return 0;
}

int parse_rate_per_min(const char *s, long *out)
{
    if (s == NULL)
        return -EINVAL;
    const char *slash = strchr(s, '/');
    char num[32];
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof num)
        return -EINVAL;
    memcpy(num, s, n);
    num[n] = '\0';
    if (slash != NULL && strcasecmp(slash + 1, "min") != 0 && strcasecmp(slash + 1, "m") != 0)
        return -EINVAL;
    return parse_long(num, 1, 1000000000L, out);
}
