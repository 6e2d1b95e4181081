/* Strict parsing of command-line numbers, addresses, rates, timestamps and UUIDs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "timeutil.h"
#include "uuidstr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[256];
    if (size >= sizeof s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    long l;
    int i;
    double d;
    bool b;
    char host[64];
    int port;
    int64_t ms;
    char u[UUIDSTR_LEN + 1];
    if (parse_long(s, -5, 5, &l) == 0 && (l < -5 || l > 5))
        abort();
    if (parse_int(s, 0, 65535, &i) == 0 && (i < 0 || i > 65535))
        abort();
    if (parse_double(s, 0.0, 1.0, &d) == 0 && !(d >= 0.0 && d <= 1.0))
        abort();
    parse_bool(s, &b);
    if (parse_host_port(s, host, sizeof host, &port) == 0 &&
        (port < 0 || port > 65535 || strlen(host) >= sizeof host))
        abort();
    parse_rate_per_min(s, &l);
    if (timeutil_parse_ms(s, &ms) == 0) {
        char out[32];
        timeutil_format_ms(ms, out, sizeof out);
    }
    if (uuidstr_normalize(s, u) == 0 && !uuidstr_valid(u))
        abort();
    return 0;
}
