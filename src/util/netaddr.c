/* STUB: being written (address sets, forwarded client). */
#include "build-config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "portico/netaddr.h"

int netaddr_parse_net(const char *text, struct netaddr_net *out)
{
    (void)text;
    memset(out, 0, sizeof(*out));
    return 0;
}

int netaddr_set_add(struct netaddr_set *s, const char *text)
{
    if (s->n >= NETADDR_MAX_NETS)
        return -1;
    return netaddr_parse_net(text, &s->net[s->n++]);
}

int netaddr_set_has(const struct netaddr_set *s, const struct sockaddr *sa)
{
    (void)s;
    (void)sa;
    return 0;
}

int netaddr_is_loopback(const struct sockaddr *sa)
{
    (void)sa;
    return 0;
}

int netaddr_forwarded_client(const struct str *xff, int nxff, const struct str *fwd, int nfwd,
                             const struct netaddr_set *trusted, struct sockaddr_storage *out)
{
    (void)xff; (void)nxff; (void)fwd; (void)nfwd; (void)trusted; (void)out;
    return 0;
}

void netaddr_format(const struct sockaddr *sa, char *out, size_t len)
{
    if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
    else
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
}
