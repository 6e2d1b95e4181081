#include "driving.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int bad(char *field, size_t fl, char *why, size_t wl, const char *key, const char *text)
{
    if (field != NULL)
        snprintf(field, fl, "%s", key);
    snprintf(why, wl, "%s", text);
    return -EINVAL;
}

static const json_t *present(const json_t *d, const char *key)
{
    const json_t *v = json_object_get(d, key);
    return json_is_null(v) ? NULL : v;
}

static int int_in(const json_t *v, json_int_t lo, json_int_t hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

int driving_check(const json_t *d, char *field, size_t fl, char *why, size_t wl)
{
    if (!json_is_object(d))
        return bad(field, fl, why, wl, "", "expected an object");
    static const char *const keys[] = {"acceleration_s", "braking_s", "min_speed", "max_speed",
                                       "start_resumes"};
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)d, key, v)
    {
        size_t k = 0;
        while (k < sizeof keys / sizeof keys[0] && strcmp(keys[k], key) != 0)
            k++;
        if (k == sizeof keys / sizeof keys[0])
            return bad(field, fl, why, wl, key, "unknown key");
    }
    for (size_t k = 0; k < 2; k++) {
        v = present(d, keys[k]);
        if (v != NULL && !(json_is_number(v) && json_number_value(v) >= 0 &&
                           json_number_value(v) <= DRIVING_MOMENTUM_MAX_S))
            return bad(field, fl, why, wl, keys[k], "expected 0-600 seconds");
    }
    const json_t *lo = present(d, "min_speed"), *hi = present(d, "max_speed");
    if (lo != NULL && !int_in(lo, 0, 99))
        return bad(field, fl, why, wl, "min_speed", "expected an integer 0-99");
    if (hi != NULL && !int_in(hi, 1, 100))
        return bad(field, fl, why, wl, "max_speed", "expected an integer 1-100");
    if ((lo ? json_integer_value(lo) : 0) >= (hi ? json_integer_value(hi) : 100))
        return bad(field, fl, why, wl, "min_speed", "must be below max_speed");
    v = present(d, "start_resumes");
    if (v != NULL && !json_is_boolean(v))
        return bad(field, fl, why, wl, "start_resumes", "expected a boolean");
    return 0;
}
