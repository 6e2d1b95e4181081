#include "timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

/* Times after 2038 and files with large inode numbers on 32-bit Pis: the build asks for 64-bit
 * time_t and off_t (CMakeLists.txt); a C library that cannot give them must fail the build,
 * not the layout in 2038. */
_Static_assert(sizeof(time_t) == 8, "64-bit time_t required (_TIME_BITS=64, glibc >= 2.34)");
_Static_assert(sizeof(off_t) == 8, "64-bit off_t required (_FILE_OFFSET_BITS=64)");

int64_t timeutil_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t timeutil_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t timeutil_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timespec timeutil_mono_after(int64_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (ms < 0)
        ms = 0;
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec += 1;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

int timeutil_format(int64_t unix_s, char out[TIMEUTIL_ISO_LEN + 1])
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return -EINVAL;
    if (strftime(out, TIMEUTIL_ISO_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) != TIMEUTIL_ISO_LEN)
        return -EINVAL;
    return 0;
}

int timeutil_format_ms(int64_t unix_ms, char *out, size_t outlen)
{
    int64_t s = unix_ms / 1000, ms = unix_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        s -= 1;
    }
    /* Every log line stamps itself: the second's text is kept, per thread, for the next. */
    static _Thread_local int64_t memo_s = INT64_MIN;
    static _Thread_local char memo[TIMEUTIL_ISO_LEN + 1];
    if (outlen < sizeof "YYYY-MM-DDTHH:MM:SS.mmmZ")
        return -ENOSPC;
    if (s != memo_s) {
        if (timeutil_format(s, memo) < 0)
            return -EINVAL;
        memo_s = s;
    }
    memcpy(out, memo, 19);
    out[19] = '.';
    out[20] = (char)('0' + ms / 100);
    out[21] = (char)('0' + ms / 10 % 10);
    out[22] = (char)('0' + ms % 10);
    out[23] = 'Z';
    out[24] = '\0';
    return 0;
}

static int digits(const char **p, int count, int *out)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -EINVAL;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += count;
    *out = v;
    return 0;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm);
 * avoids timegm's dependence on the TZ database. */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int timeutil_parse_ms(const char *s, int64_t *out_ms)
{
    if (s == NULL)
        return -EINVAL;
    const char *p = s;
    int y, mo, d, h, mi, se, ms = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
        return -EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -EINVAL;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &se))
        return -EINVAL;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n < 3)
                ms = ms * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return -EINVAL;
        for (; n < 3; n++)
            ms *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh))
            return -EINVAL;
        if (*p == ':')
            p++;
        if (digits(&p, 2, &om))
            return -EINVAL;
        if (oh > 23 || om > 59)
            return -EINVAL;
        offset_min = sign * (oh * 60 + om);
    }
    if (*p != '\0')
        return -EINVAL;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
        return -EINVAL;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return -EINVAL;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    secs -= (int64_t)offset_min * 60;
    *out_ms = secs * 1000 + ms;
    return 0;
}
