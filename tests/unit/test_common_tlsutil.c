/* tlsutil: pin parsing and matching, the central's certificate and key checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "tlsutil.h"

/* SHA-256 of the empty string, in the three spellings a pin may take. */
#define EMPTY_HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define EMPTY_B64 "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

static void test_pins_parse(void **state)
{
    (void)state;
    struct tls_pins p;
    char err[256] = "";
    assert_int_equal(tls_pins_parse("sha256:" EMPTY_HEX, &p, err, sizeof err), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.sha256[0][0], 0xe3);
    assert_int_equal(p.sha256[0][31], 0x55);
    struct tls_pins q;
    assert_int_equal(tls_pins_parse("SHA256:" EMPTY_B64, &q, err, sizeof err), 0);
    assert_memory_equal(p.sha256[0], q.sha256[0], 32);
    /* Padding optional; several pins with spaces around the commas. */
    assert_int_equal(tls_pins_parse("sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU , "
                                    "sha256:" EMPTY_HEX,
                                    &q, err, sizeof err),
                     0);
    assert_int_equal(q.n, 2);
    assert_memory_equal(q.sha256[0], q.sha256[1], 32);

    static const char *const bad[] = {
        "",
        "sha256:",
        EMPTY_HEX,                /* no algorithm */
        "sha1:" EMPTY_HEX,        /* another algorithm */
        "sha256:" EMPTY_HEX "00", /* too long */
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g", /* not hex */
        "sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU==", /* 45 characters */
        "sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF!=",  /* not base64 */
        "sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=",  /* non-canonical last digit */
        "sha256:" EMPTY_HEX ",",                                /* empty second pin */
        "sha256:" EMPTY_HEX ",sha256:" EMPTY_HEX ",sha256:" EMPTY_HEX ",sha256:" EMPTY_HEX
        ",sha256:" EMPTY_HEX, /* five */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct tls_pins keep = {.n = 7};
        err[0] = '\0';
        assert_int_equal(tls_pins_parse(bad[i], &keep, err, sizeof err), -EINVAL);
        assert_int_equal(keep.n, 7); /* untouched */
        assert_true(err[0] != '\0');
    }
}

static X509 *self_signed(EVP_PKEY **key_out)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(key);
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    *key_out = key;
    return x;
}

static void test_pins_match(void **state)
{
    (void)state;
    EVP_PKEY *key = NULL;
    X509 *cert = self_signed(&key);
    unsigned char *der = NULL;
    unsigned char md[32];
    char hex[65], text[80], err[256];
    struct tls_pins p;

    /* The certificate's own hash. */
    int len = i2d_X509(cert, &der);
    SHA256(der, (size_t)len, md);
    OPENSSL_free(der);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(text, sizeof text, "sha256:%s", hex);
    assert_int_equal(tls_pins_parse(text, &p, err, sizeof err), 0);
    assert_true(tls_pins_match(&p, cert));

    /* Its public key's hash, in base64. */
    der = NULL;
    len = i2d_PUBKEY(key, &der);
    SHA256(der, (size_t)len, md);
    OPENSSL_free(der);
    char b64[45];
    EVP_EncodeBlock((unsigned char *)b64, md, 32);
    snprintf(text, sizeof text, "sha256:%s", b64);
    assert_int_equal(tls_pins_parse(text, &p, err, sizeof err), 0);
    assert_true(tls_pins_match(&p, cert));

    /* Another key's. */
    assert_int_equal(tls_pins_parse("sha256:" EMPTY_HEX, &p, err, sizeof err), 0);
    assert_false(tls_pins_match(&p, cert));
    assert_false(tls_pins_match(&p, NULL));
    X509_free(cert);
    EVP_PKEY_free(key);
}

static void write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (cert != NULL)
        assert_int_equal(PEM_write_X509(f, cert), 1);
    if (key != NULL)
        assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

static void test_server_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/rh-tlsutil-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char crt[64], key[64], other[64], junk[64];
    snprintf(crt, sizeof crt, "%s/c.pem", dir);
    snprintf(key, sizeof key, "%s/k.pem", dir);
    snprintf(other, sizeof other, "%s/o.pem", dir);
    snprintf(junk, sizeof junk, "%s/j.pem", dir);
    EVP_PKEY *k1 = NULL, *k2 = NULL;
    X509 *c1 = self_signed(&k1), *c2 = self_signed(&k2);
    write_pem(crt, c1, NULL);
    write_pem(key, NULL, k1);
    write_pem(other, NULL, k2);
    FILE *f = fopen(junk, "w");
    assert_non_null(f);
    fputs("not a certificate\n", f);
    fclose(f);

    char *cp = NULL, *kp = NULL, err[512];
    assert_int_equal(tls_server_files_load(crt, key, &cp, &kp, err, sizeof err), 0);
    assert_non_null(strstr(cp, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(kp, "PRIVATE KEY"));
    free(cp);
    tls_pem_free(kp);

    cp = kp = NULL;
    assert_int_equal(tls_server_files_load(crt, other, &cp, &kp, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, other));
    assert_non_null(strstr(err, "not the private key"));
    assert_int_equal(tls_server_files_load(junk, key, &cp, &kp, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, junk));
    assert_int_equal(tls_server_files_load(crt, junk, &cp, &kp, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, junk));
    assert_int_equal(tls_server_files_load("/nonexistent/c.pem", key, &cp, &kp, err, sizeof err),
                     -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/c.pem"));
    assert_null(cp);
    assert_null(kp);

    /* Client contexts: a CA file without certificates is named; a good one loads. */
    SSL_CTX *ctx = NULL;
    struct tls_client_opts o = {.ca_file = junk, .verify = true};
    assert_int_equal(tls_client_ctx_new(&o, &ctx, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, junk));
    assert_null(ctx);
    o.ca_file = crt;
    assert_int_equal(tls_client_ctx_new(&o, &ctx, err, sizeof err), 0);
    SSL_CTX_free(ctx);
    ctx = NULL;
    o = (struct tls_client_opts){
        .ca_file = crt, .cert_file = crt, .key_file = other, .verify = true};
    assert_int_equal(tls_client_ctx_new(&o, &ctx, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, other));

    X509_free(c1);
    X509_free(c2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    unlink(crt);
    unlink(key);
    unlink(other);
    unlink(junk);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pins_parse),
        cmocka_unit_test(test_pins_match),
        cmocka_unit_test(test_server_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
