#include "tlsutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "fileio.h"
#include "strbuf.h"

/* --- pins ---------------------------------------------------------------------------------- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* One pin value (after "sha256:"), hex or base64, into out. */
static int pin_decode(const char *v, size_t len, unsigned char out[32])
{
    if (len == 64) {
        size_t i;
        for (i = 0; i < 32; i++) {
            int hi = hexval((unsigned char)v[2 * i]), lo = hexval((unsigned char)v[2 * i + 1]);
            if (hi < 0 || lo < 0)
                break;
            out[i] = (unsigned char)(hi << 4 | lo);
        }
        if (i == 32)
            return 0;
    }
    if (len != 43 && len != 44)
        return -EINVAL;
    char in[45];
    memcpy(in, v, 43);
    in[43] = '=';
    in[44] = '\0';
    if (len == 44 && v[43] != '=')
        return -EINVAL;
    unsigned char dec[34];
    if (EVP_DecodeBlock(dec, (const unsigned char *)in, 44) != 33)
        return -EINVAL;
    /* Only the one canonical spelling: decoding is lenient, so compare with the encoding of
     * what was decoded. */
    char again[45];
    EVP_EncodeBlock((unsigned char *)again, dec, 32);
    if (strcmp(again, in) != 0)
        return -EINVAL;
    memcpy(out, dec, 32);
    return 0;
}

int tls_pins_parse(const char *text, struct tls_pins *out, char *err, size_t errlen)
{
    struct tls_pins p = {0};
    const char *s = text;
    for (;;) {
        while (*s == ' ')
            s++;
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        while (len > 0 && s[len - 1] == ' ')
            len--;
        if (p.n == TLS_PINS_MAX) {
            strbuf_errorf(err, errlen, "at most %d pins", TLS_PINS_MAX);
            return -EINVAL;
        }
        if (len < 7 || strncasecmp(s, "sha256:", 7) != 0 ||
            pin_decode(s + 7, len - 7, p.sha256[p.n]) < 0) {
            strbuf_errorf(err, errlen,
                          "pin %zu: expected sha256: and the SHA-256 of the certificate or of "
                          "its public key, in base64 (44 characters) or hex (64 digits)",
                          p.n + 1);
            return -EINVAL;
        }
        p.n++;
        if (end == NULL)
            break;
        s = end + 1;
    }
    *out = p;
    return 0;
}

static bool der_sha256(int len, unsigned char *der, unsigned char md[32])
{
    if (len <= 0 || der == NULL)
        return false;
    SHA256(der, (size_t)len, md);
    return true;
}

/* The pins of a certificate: [0] of the certificate, [1] of its public key. */
static int cert_hashes(X509 *cert, unsigned char md[2][32])
{
    unsigned char *der = NULL;
    int len = i2d_X509(cert, &der);
    bool ok = der_sha256(len, der, md[0]);
    OPENSSL_free(der);
    der = NULL;
    len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    ok = ok && der_sha256(len, der, md[1]);
    OPENSSL_free(der);
    return ok ? 0 : -EINVAL;
}

bool tls_pins_match(const struct tls_pins *pins, X509 *cert)
{
    unsigned char md[2][32];
    if (cert == NULL || cert_hashes(cert, md) < 0)
        return false;
    for (size_t i = 0; i < pins->n; i++)
        if (memcmp(pins->sha256[i], md[0], 32) == 0 || memcmp(pins->sha256[i], md[1], 32) == 0)
            return true;
    return false;
}

int tls_pins_check_peer(const struct tls_pins *pins, SSL *ssl, char *err, size_t errlen)
{
    X509 *cert = SSL_get0_peer_certificate(ssl);
    unsigned char md[2][32];
    if (cert == NULL || cert_hashes(cert, md) < 0) {
        strbuf_errorf(err, errlen, "the server sent no usable certificate");
        return -EPERM;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
        strbuf_errorf(err, errlen, "certificate verify failed: certificate has expired");
        return -EPERM;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
        strbuf_errorf(err, errlen, "certificate verify failed: certificate is not yet valid");
        return -EPERM;
    }
    if (tls_pins_match(pins, cert))
        return 0;
    char b64[45];
    EVP_EncodeBlock((unsigned char *)b64, md[1], 32);
    strbuf_errorf(err, errlen,
                  "pin mismatch: the server's certificate matches none of the pins (its public "
                  "key is sha256:%s)",
                  b64);
    return -EPERM;
}

/* --- files --------------------------------------------------------------------------------- */

/* Encrypted keys are not supported: OpenSSL's default would ask on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static void openssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "no PEM data");
    ERR_clear_error();
}

static int pem_read(const char *path, const char *what, char **out, char *err, size_t errlen)
{
    size_t len = 0;
    int rc = fileio_read_all(path, TLS_PEM_MAX, out, &len);
    if (rc == -EFBIG)
        strbuf_errorf(err, errlen, "%s %s: larger than %d bytes, not a PEM file", what, path,
                      TLS_PEM_MAX);
    else if (rc < 0)
        strbuf_errorf(err, errlen, "cannot read %s %s: %s", what, path, strerror(-rc));
    return rc;
}

void tls_pem_free(char *pem)
{
    if (pem == NULL)
        return;
    OPENSSL_cleanse(pem, strlen(pem));
    free(pem);
}

int tls_server_files_load(const char *cert_path, const char *key_path, char **cert_pem,
                          char **key_pem, char *err, size_t errlen)
{
    char *cert_text = NULL, *key_text = NULL;
    BIO *bio = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    char why[256];
    int rc = pem_read(cert_path, "certificate file", &cert_text, err, errlen);
    if (rc < 0)
        goto out;
    rc = pem_read(key_path, "key file", &key_text, err, errlen);
    if (rc < 0)
        goto out;
    rc = -EINVAL;
    ERR_clear_error();
    bio = BIO_new_mem_buf(cert_text, -1);
    cert = bio ? PEM_read_bio_X509(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    if (cert == NULL) {
        openssl_reason(why, sizeof why);
        strbuf_errorf(err, errlen, "certificate file %s: no PEM certificate in it (%s)", cert_path,
                      why);
        goto out;
    }
    bio = BIO_new_mem_buf(key_text, -1);
    key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    if (key == NULL) {
        openssl_reason(why, sizeof why);
        strbuf_errorf(err, errlen, "key file %s: no unencrypted PEM private key in it (%s)",
                      key_path, why);
        goto out;
    }
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        strbuf_errorf(err, errlen, "key file %s: not the private key of the certificate in %s",
                      key_path, cert_path);
        goto out;
    }
    *cert_pem = cert_text;
    *key_pem = key_text;
    cert_text = key_text = NULL;
    rc = 0;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    free(cert_text);
    tls_pem_free(key_text);
    return rc;
}

/* All certificates of a PEM file into the context's trust store. */
static int ca_load(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    int rc = pem_read(path, "CA file", &text, err, errlen);
    if (rc < 0)
        return rc;
    ERR_clear_error();
    BIO *bio = BIO_new_mem_buf(text, -1);
    STACK_OF(X509_INFO) *infos = bio ? PEM_X509_INFO_read_bio(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    int n = 0;
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    for (int i = 0; infos != NULL && i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *xi = sk_X509_INFO_value(infos, i);
        if (xi->x509 != NULL && X509_STORE_add_cert(store, xi->x509) == 1)
            n++;
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    free(text);
    if (n == 0) {
        char why[256];
        openssl_reason(why, sizeof why);
        strbuf_errorf(err, errlen, "CA file %s: no PEM certificate in it (%s)", path, why);
        return -EINVAL;
    }
    ERR_clear_error();
    return 0;
}

int tls_client_ctx_new(const struct tls_client_opts *o, SSL_CTX **out, char *err, size_t errlen)
{
    char why[256];
    int rc = -EINVAL;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        openssl_reason(why, sizeof why);
        strbuf_errorf(err, errlen, "cannot create a TLS context: %s", why);
        return -ENOMEM;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_default_passwd_cb(ctx, no_password);
    if (o->verify) {
        if (o->ca_file != NULL) {
            rc = ca_load(ctx, o->ca_file, err, errlen);
            if (rc < 0)
                goto fail;
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            openssl_reason(why, sizeof why);
            strbuf_errorf(err, errlen, "cannot load the system's trust store: %s", why);
            goto fail;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if ((o->cert_file == NULL) != (o->key_file == NULL)) {
        strbuf_errorf(err, errlen, "a client certificate needs both a certificate and a key file");
        goto fail;
    }
    if (o->cert_file != NULL) {
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
            openssl_reason(why, sizeof why);
            strbuf_errorf(err, errlen, "client certificate file %s: %s", o->cert_file, why);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1) {
            openssl_reason(why, sizeof why);
            strbuf_errorf(err, errlen, "client key file %s: %s", o->key_file, why);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            ERR_clear_error();
            strbuf_errorf(err, errlen, "client key file %s: not the key of the certificate in %s",
                          o->key_file, o->cert_file);
            goto fail;
        }
    }
    *out = ctx;
    return 0;
fail:
    SSL_CTX_free(ctx);
    return rc < 0 ? rc : -EINVAL;
}

void tls_error_text(SSL *ssl, char *buf, size_t len)
{
    long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e = ERR_peek_last_error();
    if (v != X509_V_OK) {
        snprintf(buf, len, "certificate verify failed: %s", X509_verify_cert_error_string(v));
    } else if (e != 0) {
        char s[256];
        ERR_error_string_n(e, s, sizeof s);
        snprintf(buf, len, "TLS error: %s", s);
    } else {
        snprintf(buf, len, "TLS handshake failed");
    }
    ERR_clear_error();
}
