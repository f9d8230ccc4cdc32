/* What one setting needs of another, checked once every source (file, command
 * line) has been read: HTTPS for what only HTTPS has, trusted addresses for a PROXY
 * header, paths of their own for the endpoints, and what --dev turns on. It reads
 * nothing from disk. */
#include "build-config.h"

#include <stdio.h>
#include <string.h>

#include "portico/settings.h"

/* A PROXY header is believed only from trusted addresses: without any, none would be. */
static int validate_balancer(const struct settings *s, char *err, size_t errlen)
{
    if (strcmp(s->proxy_protocol, "off") != 0 && s->ntrusted_proxy == 0) {
        snprintf(err, errlen, "proxy-protocol needs the balancer's address: add trusted-proxy "
                              "CIDR, e.g. --trusted-proxy 10.0.0.0/8");
        return -1;
    }
    if (strcmp(s->proxy_protocol, "https") == 0 && !s->tls) {
        snprintf(err, errlen, "proxy-protocol https needs HTTPS: add tls, or tls-cert and tls-key");
        return -1;
    }
    if (s->health && s->metrics && strcmp(s->health, s->metrics) == 0) {
        snprintf(err, errlen, "health and metrics need paths of their own");
        return -1;
    }
    return 0;
}

/* --dev is a bundle: what working on a site needs, each also a setting of its own. */
static void apply_dev(struct settings *s)
{
    if (!s->dev)
        return;
    s->watch = 1;
    s->no_cache = 1;
    s->listing = 1;
}

int config_validate(struct settings *s, char *err, size_t errlen)
{
    apply_dev(s);
    if (s->ntls_cert != s->ntls_key) {
        snprintf(err, errlen, "each tls-cert needs its tls-key (%s)",
                 s->ntls_cert > s->ntls_key ? "a key is missing" : "a certificate is missing");
        return -1;
    }
    if ((s->redirect_https || s->hsts >= 0 || s->tls_save_cert) && !s->tls) {
        snprintf(err, errlen, "%s needs HTTPS: add tls, or tls-cert and tls-key",
                 s->redirect_https ? "redirect-https" : s->hsts >= 0 ? "hsts" : "tls-save-cert");
        return -1;
    }
    if (s->tls_save_cert && s->ntls_cert > 0) {
        snprintf(err, errlen, "tls-save-cert saves a generated certificate; tls-cert was given");
        return -1;
    }
    return validate_balancer(s, err, errlen);
}
