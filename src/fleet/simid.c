#include "simid.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "sha256.h"

void simid_uuid(uint64_t seed, long index, char out[UUIDSTR_LEN + 1])
{
    char text[64], hex[SHA256_HEX_LEN + 1];
    int n = snprintf(text, sizeof text, "roundhouse-fleet:%" PRIu64 ":%ld", seed, index);
    sha256_hex(text, n > 0 ? (size_t)n : 0, hex);
    /* RFC 4122 layout: version nibble 4, variant bits 10xx, so validators accept it. */
    hex[12] = '4';
    hex[16] = "89ab"[(hex[16] >= 'a' ? hex[16] - 'a' + 10 : hex[16] - '0') & 3];
    snprintf(out, UUIDSTR_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
}

static int fit(int n, size_t outlen)
{
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

int simid_name(uint64_t seed, long index, char *out, size_t outlen)
{
    return fit(snprintf(out, outlen, "fleet-%" PRIu64 "-%ld", seed, index), outlen);
}

int simid_name_prefix(uint64_t seed, char *out, size_t outlen)
{
    return fit(snprintf(out, outlen, "fleet-%" PRIu64 "-", seed), outlen);
}

int simid_train_id(uint64_t seed, long index, int k, char *out, size_t outlen)
{
    if (outlen > SIMID_TRAIN_MAX + 1)
        outlen = SIMID_TRAIN_MAX + 1;
    return fit(snprintf(out, outlen, "fl%" PRIu64 "-c%ld-t%d", seed, index, k), outlen);
}
