/* OpenSSL contexts: Mozilla-intermediate settings, SNI, ALPN, and session tickets
 * whose keys are made before fork so any worker resumes any session. Made in the
 * master; a connection's TLS is tlsio.c's. Never parses HTTP. */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "portico/log.h"
#include "portico/site.h"
#include "portico/tls.h"
#include "portico/tlscert.h"

/* Mozilla "intermediate": ECDHE key exchange and AEAD ciphers only, for TLS 1.2 */
#define CIPHERS_TLS12                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
/* and Mozilla's order for TLS 1.3 (OpenSSL's own puts AES-256 first): with server
 * preference, AES-128-GCM, as browsers choose it, which costs a quarter less CPU a byte */
#define CIPHERS_TLS13 "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

struct ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
};

struct tls_server {
    SSL_CTX **ctx;
    X509 **cert; /* for choosing by SNI */
    int *site;   /* whose certificate: 0 the global ones, n > 0 site n's own */
    int n;
    const struct settings *s; /* the sites, for choosing by SNI */
    /* made in the master for one generation of workers, so every worker of it
     * decrypts every other's tickets; a reload makes new ones */
    struct ticket_key key;
    struct tlscert generated; /* kept so a reload serves the same certificate */
    char fingerprint[100];
};

static int ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *ctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    const struct tls_server *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
    const struct ticket_key *key = &t->key;
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (enc) {
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
            return -1;
        memcpy(key_name, key->name, sizeof(key->name));
        if (EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key->aes, iv) != 1 ||
            EVP_MAC_init(hctx, key->hmac, sizeof(key->hmac), params) != 1)
            return -1;
        return 1;
    }
    if (memcmp(key_name, key->name, sizeof(key->name)) != 0)
        return 0; /* a ticket from another key: full handshake */
    if (EVP_MAC_init(hctx, key->hmac, sizeof(key->hmac), params) != 1 ||
        EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key->aes, iv) != 1)
        return -1;
    return 1;
}

static int alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *sel = NULL;
    unsigned char sellen = 0;

    (void)s;
    (void)arg;
    if (SSL_select_next_proto(&sel, &sellen, http11, sizeof(http11) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol (RFC 7301 §3.2) */
    *out = sel;
    *outlen = sellen;
    return SSL_TLSEXT_ERR_OK;
}

/* The certificate of site for name: the first of its own that covers the name,
 * else its first; -1 when it has none. */
static int site_cert(const struct tls_server *t, int site, const char *name)
{
    int i, first = -1;

    for (i = 0; i < t->n; i++)
        if (t->site[i] == site) {
            if (X509_check_host(t->cert[i], name, 0, 0, NULL) == 1)
                return i;
            if (first < 0)
                first = i;
        }
    return first;
}

static int sni_cb(SSL *s, int *alert, void *arg)
{
    struct tls_server *t = arg;
    const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
    int i = -1, site;

    (void)alert;
    if (name == NULL)
        return SSL_TLSEXT_ERR_OK;
    site = t->s->nsites > 0 ? site_for_host(t->s, name, strlen(name)) : 0;
    if (site > 0)
        i = site_cert(t, site, name);
    if (i < 0) /* a site without certificates of its own: the global ones */
        i = site_cert(t, 0, name);
    if (i > 0) /* 0, the first global one, is the context the connection has */
        SSL_set_SSL_CTX(s, t->ctx[i]);
    return SSL_TLSEXT_ERR_OK; /* unknown names get the default certificate */
}

static SSL_CTX *make_ctx(struct tls_server *t, struct tlscert *tc)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL)
        return NULL;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, CIPHERS_TLS12) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, CIPHERS_TLS13) != 1 ||
        SSL_CTX_set1_groups_list(ctx, "X25519:P-256") != 1 ||
        SSL_CTX_use_cert_and_key(ctx, tc->cert, tc->key, tc->chain, 1) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_NO_COMPRESSION | SSL_OP_ENABLE_KTLS);
    /* writes may be partial and retried from wherever the buffer has moved; record
     * buffers are given back when a connection goes idle (tlsio.c), not after every
     * record as SSL_MODE_RELEASE_BUFFERS would */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
    /* workers share no session cache: resumption rides on tickets, whose keys all share */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, t);
    SSL_CTX_set_app_data(ctx, t);
    return ctx;
}

void tls_server_free(struct tls_server *t)
{
    int i;

    if (t == NULL)
        return;
    for (i = 0; i < t->n; i++) {
        SSL_CTX_free(t->ctx[i]);
        X509_free(t->cert[i]);
    }
    free(t->ctx);
    free(t->cert);
    free(t->site);
    tlscert_free(&t->generated);
    free(t);
}

/* The generated certificate of prev, shared (reference counts), so that a reload
 * keeps the certificate a user may have chosen to trust. */
static int reuse_generated(struct tlscert *tc, const struct tls_server *prev)
{
    memset(tc, 0, sizeof(*tc));
    if (prev == NULL || prev->generated.cert == NULL)
        return 0;
    tc->cert = prev->generated.cert;
    tc->key = prev->generated.key;
    X509_up_ref(tc->cert);
    EVP_PKEY_up_ref(tc->key);
    return 1;
}

/* The certificate of a global pair (or a generated one, without pairs), for slot i. */
static int global_cert(struct tls_server *t, const struct settings *s, int i,
                       const struct tls_server *prev, struct tlscert *tc)
{
    char err[512];
    int rc;

    if (s->ntls_cert > 0) {
        rc = tlscert_load(tc, s->tls_cert[i], s->tls_key[i], err, sizeof(err));
        if (rc < 0) {
            log_errorx("%s", err);
            return -1;
        }
        if (rc > 0)
            log_warnx("%s", err);
        return 0;
    }
    if (!reuse_generated(tc, prev)) {
        if (tlscert_generate(tc, err, sizeof(err)) < 0) {
            log_errorx("%s", err);
            return -1;
        }
        if (s->tls_save_cert && tlscert_save(tc->cert, s->tls_save_cert, err, sizeof(err)) < 0) {
            log_errorx("%s", err);
            tlscert_free(tc);
            return -1;
        }
    }
    tlscert_fingerprint(tc->cert, t->fingerprint, sizeof(t->fingerprint));
    t->generated.cert = tc->cert;
    t->generated.key = tc->key;
    X509_up_ref(tc->cert);
    EVP_PKEY_up_ref(tc->key);
    return 0;
}

/* One context for a certificate; it owns a copy of the leaf for SNI. */
static int add_ctx(struct tls_server *t, struct tlscert *tc, int site, const char *what)
{
    t->ctx[t->n] = make_ctx(t, tc);
    if (t->ctx[t->n] == NULL) {
        log_errorx("TLS set-up for %s failed: %s", what,
                   ERR_reason_error_string(ERR_peek_last_error()));
        tlscert_free(tc);
        return -1;
    }
    t->cert[t->n] = X509_dup(tc->cert);
    t->site[t->n++] = site;
    tlscert_free(tc);
    return 0;
}

/* Each site's own pairs, after the global ones. */
static int site_certs(struct tls_server *t, const struct settings *s)
{
    char err[512];
    int i, j, rc;

    for (i = 0; i < s->nsites; i++)
        for (j = 0; j < s->sites[i].ntls_cert; j++) {
            struct tlscert tc;
            rc = tlscert_load(&tc, s->sites[i].tls_cert[j], s->sites[i].tls_key[j], err,
                              sizeof(err));
            if (rc < 0) {
                log_errorx("%s:%d: %s", s->config_file, s->sites[i].site_line, err);
                return -1;
            }
            if (rc > 0)
                log_warnx("%s", err);
            if (add_ctx(t, &tc, i + 1, s->sites[i].tls_cert[j]) < 0)
                return -1;
        }
    return 0;
}

struct tls_server *tls_server_new(const struct settings *s, const struct tls_server *prev)
{
    struct tls_server *t = calloc(1, sizeof(*t));
    int i, n = s->ntls_cert > 0 ? s->ntls_cert : 1, total = n;

    for (i = 0; i < s->nsites; i++)
        total += s->sites[i].ntls_cert;
    if (t == NULL || (t->ctx = calloc((size_t)total, sizeof(*t->ctx))) == NULL ||
        (t->cert = calloc((size_t)total, sizeof(*t->cert))) == NULL ||
        (t->site = calloc((size_t)total, sizeof(*t->site))) == NULL || tls_io_init() < 0) {
        log_errorx("out of memory for TLS");
        goto fail;
    }
    t->s = s;
    if (RAND_bytes((unsigned char *)&t->key, sizeof(t->key)) != 1) {
        log_errorx("cannot make TLS session-ticket keys");
        goto fail;
    }
    for (i = 0; i < n; i++) {
        struct tlscert tc;
        if (global_cert(t, s, i, prev, &tc) < 0 ||
            add_ctx(t, &tc, 0, s->ntls_cert ? s->tls_cert[i] : "localhost") < 0)
            goto fail;
    }
    if (site_certs(t, s) < 0)
        goto fail;
    return t;
fail:
    tls_server_free(t);
    return NULL;
}

const char *tls_generated_fingerprint(const struct tls_server *t)
{
    return t->generated.cert ? t->fingerprint : NULL;
}

SSL_CTX *tls_server_ctx(struct tls_server *t)
{
    return t->ctx[0];
}
