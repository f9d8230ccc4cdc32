/* Certificates for the TLS listener: reading and checking PEM files, and making a
 * self-signed one for localhost. Runs in the master, before any worker forks. */
#ifndef PORTICO_TLSCERT_H
#define PORTICO_TLSCERT_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct tlscert {
    X509 *cert;
    STACK_OF(X509) *chain; /* intermediates after the leaf in the same file */
    EVP_PKEY *key;
};

/* Reads and checks a certificate (with chain) and its key. Returns 0, 1 when it
 * loaded but deserves a warning (expired, not yet valid: in err), or -1 with the
 * reason in err. */
int tlscert_load(struct tlscert *tc, const char *cert_path, const char *key_path, char *err,
                 size_t errlen);
/* Makes an ECDSA P-256 certificate for localhost, 127.0.0.1 and ::1. */
int tlscert_generate(struct tlscert *tc, char *err, size_t errlen);
/* "AB:CD:..." — the SHA-256 fingerprint, as openssl x509 -fingerprint prints it. */
void tlscert_fingerprint(X509 *cert, char *out, size_t outlen);
int tlscert_save(X509 *cert, const char *path, char *err, size_t errlen);
void tlscert_free(struct tlscert *tc);

#endif
