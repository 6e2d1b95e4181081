#include "uuidstr.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include <uuid/uuid.h>

void uuidstr_generate(char out[UUIDSTR_LEN + 1])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

static bool is_dash_pos(size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

bool uuidstr_valid(const char *s)
{
    if (s == NULL || strlen(s) != UUIDSTR_LEN)
        return false;
    for (size_t i = 0; i < UUIDSTR_LEN; i++) {
        char c = s[i];
        if (is_dash_pos(i)) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

int uuidstr_normalize(const char *s, char out[UUIDSTR_LEN + 1])
{
    if (s == NULL)
        return -EINVAL;
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if (len != UUIDSTR_LEN)
        return -EINVAL;
    char buf[UUIDSTR_LEN + 1];
    for (size_t i = 0; i < UUIDSTR_LEN; i++)
        buf[i] = (char)tolower((unsigned char)s[i]);
    buf[UUIDSTR_LEN] = '\0';
    if (!uuidstr_valid(buf))
        return -EINVAL;
    memcpy(out, buf, sizeof buf);
    return 0;
}
