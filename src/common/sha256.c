#include "sha256.h"

#include <openssl/evp.h>

void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    /* EVP_Digest only fails on allocation failure; an all-zero digest then never matches. */
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        for (int i = 0; i < SHA256_HEX_LEN; i++)
            out[i] = '0';
        out[SHA256_HEX_LEN] = '\0';
        return;
    }
    for (unsigned int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[SHA256_HEX_LEN] = '\0';
}
