/* TLS pieces shared by the programs, all on OpenSSL (libssl is loaded anyway: Debian's
 * libmosquitto links it): certificate pins, the central's certificate and key checked before
 * they are handed to libmicrohttpd, and the client contexts of the edge (its HTTP client and
 * its MQTT link).
 *
 * Every function returns 0 or a negative errno and, on failure, a message for people in err
 * that names the file or the value at fault. Outputs are untouched on failure. */
#ifndef ROUNDHOUSE_TLSUTIL_H
#define ROUNDHOUSE_TLSUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

/* Certificate files are small; anything larger is not one. */
#define TLS_PEM_MAX (1024 * 1024)

/* A pin is "sha256:" and the SHA-256 of either the server's certificate (DER) or its public
 * key (the DER SubjectPublicKeyInfo, as HPKP and curl's --pinnedpubkey hash it), in base64
 * (44 characters, padding optional) or hex (64 digits). Several pins, comma-separated, allow
 * a key change without an outage: any one of them matches. */
#define TLS_PINS_MAX 4
struct tls_pins {
    size_t n;
    unsigned char sha256[TLS_PINS_MAX][32];
};

/* -EINVAL on a malformed pin list. */
int tls_pins_parse(const char *text, struct tls_pins *out, char *err, size_t errlen);
/* Whether cert's DER or its public key's DER hashes to one of the pins. */
bool tls_pins_match(const struct tls_pins *pins, X509 *cert);

/* Reads a PEM certificate (chain) and its private key for a server, and checks that both
 * parse and that the key belongs to the first certificate. *cert_pem and *key_pem are
 * malloc'd, NUL-terminated; the caller frees them (the key with tls_pem_free, which wipes
 * it). */
int tls_server_files_load(const char *cert_path, const char *key_path, char **cert_pem,
                          char **key_pem, char *err, size_t errlen);
void tls_pem_free(char *pem);

struct tls_client_opts {
    const char *ca_file;   /* PEM CA certificates; NULL: the system's trust store */
    const char *cert_file; /* client certificate (chain) and key; both or neither */
    const char *key_file;
    /* false: the chain and host name are not checked by OpenSSL (a pinned certificate is
     * checked by the caller after the handshake); the CA file is then not read. */
    bool verify;
};

/* A client context: TLS 1.2 or later, the trust anchors loaded, the client certificate
 * when given. */
int tls_client_ctx_new(const struct tls_client_opts *o, SSL_CTX **out, char *err, size_t errlen);

/* After a handshake without OpenSSL's verification (pins only): the peer certificate is
 * within its validity period and matches a pin. 0, or -EPERM with the reason in err. */
int tls_pins_check_peer(const struct tls_pins *pins, SSL *ssl, char *err, size_t errlen);

/* The reason of the first error in OpenSSL's error queue, or of a failed certificate
 * verification, as text; the queue is emptied. */
void tls_error_text(SSL *ssl, char *buf, size_t len);

#endif
