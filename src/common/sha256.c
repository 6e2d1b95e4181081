/* libcrypto's low-level SHA256_Init/Update/Final rather than EVP_Digest: OpenSSL 3 starts its
 * provider machinery (configuration file, provider tables) on the first EVP call, which made
 * every process that computed one checksum touch about 2 MiB more of libcrypto; the edge's
 * RSS target is 4 MiB. The low-level functions are deprecated in OpenSSL 3 but remain part
 * of its API; OPENSSL_API_COMPAT asks for them without deprecation warnings. */
#define OPENSSL_API_COMPAT 0x10100000L

#include "sha256.h"

#include <openssl/sha.h>

void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256_CTX ctx;
    /* These only fail on a NULL argument; an all-zero digest would then never match. */
    if (SHA256_Init(&ctx) != 1 || SHA256_Update(&ctx, data, len) != 1 ||
        SHA256_Final(md, &ctx) != 1) {
        for (int i = 0; i < SHA256_HEX_LEN; i++)
            out[i] = '0';
        out[SHA256_HEX_LEN] = '\0';
        return;
    }
    for (unsigned int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[SHA256_HEX_LEN] = '\0';
}
