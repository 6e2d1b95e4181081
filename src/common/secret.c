/* SHA-256 rather than a password KDF (Argon2id, yescrypt): the secret is 256 bits from the
 * kernel's random source, not something a person chose, so nobody can guess it faster by
 * trying candidates against a stolen hash, and a slow KDF would only cost every heartbeat of
 * every controller CPU time. The operator passwords (a different thing) do get a KDF. */
#include "secret.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>

int secret_generate(char out[SECRET_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[SECRET_BYTES];
    size_t got = 0;
    /* At most a few rounds: getrandom only returns short for a signal. */
    for (int tries = 0; got < sizeof raw && tries < 8; tries++) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0)
            got += (size_t)n;
    }
    if (got < sizeof raw)
        return -EIO;
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 0xf];
    }
    out[SECRET_HEX_LEN] = '\0';
    OPENSSL_cleanse(raw, sizeof raw);
    return 0;
}

static bool lower_hex(const char *s, size_t want)
{
    if (s == NULL)
        return false;
    size_t n = 0;
    for (; n <= want && s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return n == want;
}

bool secret_valid(const char *s)
{
    return lower_hex(s, SECRET_HEX_LEN);
}

void secret_hash(const char *secret, char out[SHA256_HEX_LEN + 1])
{
    sha256_hex(secret, strlen(secret), out);
}

bool secret_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return false;
    size_t n = strlen(a);
    if (strlen(b) != n)
        return false;
    return CRYPTO_memcmp(a, b, n) == 0;
}

bool secret_matches(const char *secret, const char *stored_hash)
{
    if (!secret_valid(secret) || !lower_hex(stored_hash, SHA256_HEX_LEN))
        return false;
    char h[SHA256_HEX_LEN + 1];
    secret_hash(secret, h);
    return secret_equal(h, stored_hash);
}
