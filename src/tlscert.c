/* Certificate loading, checking and generation with the OpenSSL API. Every
 * failure becomes one line a user can act on; nothing here touches a socket. */
#include "build-config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "portico/tlscert.h"

void tlscert_free(struct tlscert *tc)
{
    X509_free(tc->cert);
    sk_X509_pop_free(tc->chain, X509_free);
    EVP_PKEY_free(tc->key);
    memset(tc, 0, sizeof(*tc));
}

static FILE *open_pem(const char *path, const char *what, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");

    if (f == NULL)
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
    return f;
}

/* RSA of 2048 bits or more, or an ECDSA key on P-256 or P-384: what browsers take. */
static int key_supported(EVP_PKEY *key, char *err, size_t errlen, const char *path)
{
    char group[64];
    size_t glen = 0;

    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(key) >= 2048)
            return 0;
        snprintf(err, errlen, "--tls-key %s: RSA key of %d bits; use 2048 or more", path,
                 EVP_PKEY_get_bits(key));
        return -1;
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &glen) == 1 &&
            (strcmp(group, "prime256v1") == 0 || strcmp(group, "secp384r1") == 0))
            return 0;
        snprintf(err, errlen, "--tls-key %s: EC key on curve %s; use P-256 or P-384", path,
                 glen ? group : "(unknown)");
        return -1;
    default:
        snprintf(err, errlen, "--tls-key %s: unsupported key type %s; use RSA or ECDSA", path,
                 OBJ_nid2sn(EVP_PKEY_get_base_id(key)));
        return -1;
    }
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

int tlscert_load(struct tlscert *tc, const char *cert_path, const char *key_path, char *err,
                 size_t errlen)
{
    FILE *f;
    X509 *extra;
    int warn = 0;

    memset(tc, 0, sizeof(*tc));
    if ((f = open_pem(cert_path, "--tls-cert", err, errlen)) == NULL)
        return -1;
    tc->cert = PEM_read_X509(f, NULL, no_passphrase, NULL);
    if (tc->cert == NULL) {
        fclose(f);
        snprintf(err, errlen, "--tls-cert %s: not a PEM certificate", cert_path);
        goto fail;
    }
    tc->chain = sk_X509_new_null();
    while (tc->chain != NULL && (extra = PEM_read_X509(f, NULL, no_passphrase, NULL)) != NULL)
        sk_X509_push(tc->chain, extra);
    ERR_clear_error(); /* the read that ended the chain */
    fclose(f);

    if ((f = open_pem(key_path, "--tls-key", err, errlen)) == NULL)
        goto fail;
    /* no passphrase prompt: a server starting unattended must fail, not wait */
    tc->key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (tc->key == NULL) {
        snprintf(err, errlen, "--tls-key %s: not a PEM private key (or it is encrypted)",
                 key_path);
        goto fail;
    }
    if (key_supported(tc->key, err, errlen, key_path) < 0)
        goto fail;
    if (X509_check_private_key(tc->cert, tc->key) != 1) {
        snprintf(err, errlen, "--tls-key %s does not match the certificate in %s", key_path,
                 cert_path);
        goto fail;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(tc->cert)) < 0) {
        snprintf(err, errlen, "--tls-cert %s expired; clients will refuse it", cert_path);
        warn = 1;
    } else if (X509_cmp_current_time(X509_get0_notBefore(tc->cert)) > 0) {
        snprintf(err, errlen, "--tls-cert %s is not valid yet; clients will refuse it",
                 cert_path);
        warn = 1;
    }
    ERR_clear_error();
    return warn;
fail:
    ERR_clear_error();
    tlscert_free(tc);
    return -1;
}

static int add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return 0;
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

int tlscert_generate(struct tlscert *tc, char *err, size_t errlen)
{
    unsigned char serial[16];
    X509_NAME *name;
    BIGNUM *bn = NULL;
    const char *reason;

    memset(tc, 0, sizeof(*tc));
    tc->key = EVP_EC_gen("P-256");
    tc->cert = X509_new();
    if (tc->key == NULL || tc->cert == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
        goto fail;
    serial[0] &= 0x7f; /* a positive serial number */
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(tc->cert)) == NULL)
        goto fail;
    X509_set_version(tc->cert, X509_VERSION_3);
    /* an hour of slack for clocks behind ours; a year, below browsers' 398-day cap */
    X509_gmtime_adj(X509_getm_notBefore(tc->cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(tc->cert), 365L * 24 * 3600);
    name = X509_get_subject_name(tc->cert);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"portico", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
                               -1, 0);
    X509_set_issuer_name(tc->cert, name);
    X509_set_pubkey(tc->cert, tc->key);
    if (!add_ext(tc->cert, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(tc->cert, NID_key_usage, "critical,digitalSignature") ||
        !add_ext(tc->cert, NID_ext_key_usage, "serverAuth") ||
        !add_ext(tc->cert, NID_subject_key_identifier, "hash") ||
        !add_ext(tc->cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") ||
        X509_sign(tc->cert, tc->key, EVP_sha256()) == 0)
        goto fail;
    BN_free(bn);
    return 0;
fail:
    BN_free(bn);
    reason = ERR_reason_error_string(ERR_peek_last_error());
    snprintf(err, errlen, "cannot generate a TLS certificate: %s",
             reason ? reason : "unknown OpenSSL error");
    ERR_clear_error();
    tlscert_free(tc);
    return -1;
}

void tlscert_fingerprint(X509 *cert, char *out, size_t outlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    size_t o = 0;

    out[0] = '\0';
    if (X509_digest(cert, EVP_sha256(), md, &n) != 1)
        return;
    for (i = 0; i < n && o + 3 < outlen; i++)
        o += (size_t)snprintf(out + o, outlen - o, i ? ":%02X" : "%02X", md[i]);
}

int tlscert_save(X509 *cert, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        snprintf(err, errlen, "--tls-save-cert %s: %s", path, strerror(errno));
        return -1;
    }
    if (PEM_write_X509(f, cert) != 1 || fclose(f) != 0) {
        snprintf(err, errlen, "--tls-save-cert %s: write failed", path);
        return -1;
    }
    return 0;
}
