/* Client addresses: sets of networks (trusted proxies, who may read metrics) and the
 * real client named by X-Forwarded-For or Forwarded. Pure functions. */
#ifndef PORTICO_NETADDR_H
#define PORTICO_NETADDR_H

#include <stdint.h>
#include <sys/socket.h>

#include "portico/str.h"

#define NETADDR_MAX_NETS 32

/* A network; IPv4 is kept as its IPv4-mapped IPv6 form (::ffff:a.b.c.d, 96 + bits),
 * so that an IPv4 peer on a dual-stack socket matches an IPv4 network. */
struct netaddr_net {
    uint8_t addr[16]; /* host bits zero */
    uint8_t bits;     /* prefix length, 0..128 */
};

struct netaddr_set {
    struct netaddr_net net[NETADDR_MAX_NETS];
    int n;
};

/* "10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1": 0, or -1 when text is no
 * address, the prefix is out of range, or host bits are set below the prefix
 * ("10.0.0.1/8": a mistake worth refusing at start-up). */
int netaddr_parse_net(const char *text, struct netaddr_net *out);
/* Parses text and adds it: 0, or -1 (not a network, or the set is full). */
int netaddr_set_add(struct netaddr_set *s, const char *text);
/* Adds n networks that were checked when the settings were read (netaddr_parse_net). */
void netaddr_set_add_all(struct netaddr_set *s, const char *const *texts, int n);
/* sa's address as 16 bytes, IPv4 in its IPv4-mapped form: 4 for IPv4 (as it came, or
 * mapped), 16 for IPv6, -1 for a family that has no address. */
int netaddr_bytes(const struct sockaddr *sa, uint8_t a[16]);
/* 1 when sa (AF_INET, AF_INET6, IPv4-mapped IPv6) is in one of the set's networks; 0 for
 * other families and a NULL set. "0.0.0.0/0" takes in every IPv4 peer, "::/0" every peer. */
int netaddr_set_has(const struct netaddr_set *s, const struct sockaddr *sa);
/* 1 for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
int netaddr_is_loopback(const struct sockaddr *sa);

/* The real client behind trusted proxies. The field lines come in order (xff: each
 * X-Forwarded-For line, fwd: each Forwarded line; a line whose p is NULL is absent);
 * X-Forwarded-For is used when any line of it is present, even an empty one, else
 * Forwarded's for= parameters. Walking the hops from the right, the first address not
 * in trusted (NULL: none) is the client; when every hop is trusted, the leftmost. An
 * element that is no address ("unknown", "_hidden", junk, a Forwarded element without
 * for= or with two) ends the walk: the client is then the hop to its right, as far as
 * it is known. Only the rightmost 64 hops are looked at, as if junk lay beyond them.
 * Accepts "1.2.3.4", "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:80"
 * and Forwarded's quoted forms (with an obfuscated port "_x" read as 0). Returns 1
 * with *out set (sockaddr_in or sockaddr_in6 as written, port in network order or 0),
 * or 0, *out untouched, when the headers name no usable address (the peer stands). */
int netaddr_forwarded_client(const struct str *xff, int nxff, const struct str *fwd, int nfwd,
                             const struct netaddr_set *trusted, struct sockaddr_storage *out);

/* Writes sa's numeric address (no port; an IPv4-mapped IPv6 address as IPv4) into
 * out, which has room for INET6_ADDRSTRLEN; "" when it cannot. */
void netaddr_format(const struct sockaddr *sa, char *out, size_t len);

#endif
