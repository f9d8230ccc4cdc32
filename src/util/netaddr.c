/* Network sets (trusted proxies, metrics-allow) and the client named by X-Forwarded-For or
 * Forwarded (RFC 7239). Pure functions: no I/O, no allocation, and no more than the rightmost
 * HOPS_MAX hops of a list are ever parsed, however long the client made it. */
#include "build-config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "portico/netaddr.h"

/* Hops looked at, from the right: the left part of a list is whatever the client wrote. */
#define HOPS_MAX 64

/* The bits of byte i that a prefix of the given length covers. */
static uint8_t prefix_mask(unsigned bits, unsigned i)
{
    if (bits >= 8 * (i + 1))
        return 0xff;
    if (bits <= 8 * i)
        return 0;
    return (uint8_t)(0xff << (8 - (bits - 8 * i)));
}

/* "0" or a decimal number without leading zeros, at most max: "/08" is refused as inet_pton
 * refuses "010.0.0.0", so that a network has one spelling. */
static int parse_prefix(const char *s, unsigned max, unsigned *bits)
{
    unsigned v = 0;
    size_t i;

    for (i = 0; i < 3 && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    if (i == 0 || s[i] != '\0' || (s[0] == '0' && i > 1) || v > max)
        return -1;
    *bits = v;
    return 0;
}

int netaddr_parse_net(const char *text, struct netaddr_net *out)
{
    char buf[INET6_ADDRSTRLEN];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    unsigned bits, max = 128, base = 0, i;
    struct in_addr a4;

    memset(out, 0, sizeof(*out));
    if (alen == 0 || alen >= sizeof(buf))
        return -1;
    memcpy(buf, text, alen);
    buf[alen] = '\0';
    if (strchr(buf, ':') != NULL) {
        if (inet_pton(AF_INET6, buf, out->addr) != 1)
            return -1;
    } else {
        if (inet_pton(AF_INET, buf, &a4) != 1)
            return -1;
        out->addr[10] = out->addr[11] = 0xff;
        memcpy(out->addr + 12, &a4, 4);
        max = 32;
        base = 96;
    }
    bits = max;
    if (slash != NULL && parse_prefix(slash + 1, max, &bits) < 0)
        return -1;
    out->bits = (uint8_t)(base + bits);
    /* "10.0.0.1/8" meant 10.0.0.1 or 10.0.0.0/8; which is not ours to guess */
    for (i = 0; i < 16; i++)
        if (out->addr[i] & (uint8_t)~prefix_mask(out->bits, i))
            return -1;
    return 0;
}

int netaddr_set_add(struct netaddr_set *s, const char *text)
{
    struct netaddr_net net;

    if (s->n >= NETADDR_MAX_NETS || netaddr_parse_net(text, &net) < 0)
        return -1;
    s->net[s->n++] = net;
    return 0;
}

void netaddr_set_add_all(struct netaddr_set *s, const char *const *texts, int n)
{
    int i;

    for (i = 0; i < n; i++)
        netaddr_set_add(s, texts[i]);
}

int netaddr_bytes(const struct sockaddr *sa, uint8_t a[16])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (sa->sa_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return memcmp(a, mapped, sizeof(mapped)) == 0 ? 4 : 16;
    }
    if (sa->sa_family != AF_INET)
        return -1;
    memcpy(a, mapped, sizeof(mapped));
    memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    return 4;
}

int netaddr_set_has(const struct netaddr_set *s, const struct sockaddr *sa)
{
    uint8_t a[16];
    unsigned i;
    int k;

    if (s == NULL || netaddr_bytes(sa, a) < 0)
        return 0;
    /* IPv4 networks are ::ffff:0:0/96 and below, so "0.0.0.0/0" never takes in an IPv6 peer */
    for (k = 0; k < s->n; k++) {
        const struct netaddr_net *net = &s->net[k];
        for (i = 0; i < 16 && ((a[i] ^ net->addr[i]) & prefix_mask(net->bits, i)) == 0; i++)
            ;
        if (i == 16)
            return 1;
    }
    return 0;
}

int netaddr_is_loopback(const struct sockaddr *sa)
{
    static const struct netaddr_set loopback = {
        {{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127}, 104},
         {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128}},
        2,
    };

    return netaddr_set_has(&loopback, sa);
}

/* RFC 7239 6.3: obfport = "_" 1*(ALPHA / DIGIT / "." / "_" / "-") */
static int obf_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '.' ||
           c == '_' || c == '-';
}

/* A port: 1 to 5 digits up to 65535, or with obf RFC 7239's obfuscated "_abc" (as 0). */
static int parse_port(const char *p, const char *end, int obf, uint16_t *port)
{
    unsigned long v = 0;
    const char *s;

    if (obf && p < end && *p == '_') {
        for (s = p + 1; s < end && obf_char((unsigned char)*s); s++)
            ;
        *port = 0;
        return s > p + 1 && s == end ? 0 : -1;
    }
    if (p == end || end - p > 5)
        return -1;
    for (s = p; s < end; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned long)(*s - '0');
    }
    if (v > 65535)
        return -1;
    *port = htons((uint16_t)v);
    return 0;
}

/* "1.2.3.4", "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:80". A bare IPv6
 * address has no port: its last group would be read as one. */
static int parse_node(const char *s, size_t len, int obf, struct sockaddr_storage *out)
{
    char buf[INET6_ADDRSTRLEN];
    const char *end = s + len, *a = s, *ae, *port = NULL, *c;
    uint16_t pn = 0;
    int v6;

    if (len > 0 && s[0] == '[') {
        if ((ae = memchr(s, ']', len)) == NULL)
            return -1;
        a = s + 1;
        v6 = 1;
        if (ae + 1 < end && ae[1] != ':')
            return -1;
        if (ae + 1 < end)
            port = ae + 2;
    } else {
        c = memchr(s, ':', len);
        v6 = c != NULL && memchr(c + 1, ':', (size_t)(end - c - 1)) != NULL;
        ae = c != NULL && !v6 ? c : end;
        port = c != NULL && !v6 ? c + 1 : NULL;
    }
    if ((size_t)(ae - a) >= sizeof(buf) || (port && parse_port(port, end, obf, &pn) < 0))
        return -1;
    memcpy(buf, a, (size_t)(ae - a));
    buf[ae - a] = '\0';
    memset(out, 0, sizeof(*out));
    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = pn;
        return inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1 ? 0 : -1;
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)out;
        sin->sin_family = AF_INET;
        sin->sin_port = pn;
        return inet_pton(AF_INET, buf, &sin->sin_addr) == 1 ? 0 : -1;
    }
}

/* The next sep-separated item of [*p, end), whitespace trimmed, empty ones skipped (RFC 9110
 * 5.6.1); a quoted-string may hold sep. Returns 0 when none is left. */
static int next_item(const char **p, const char *end, char sep, struct str *item)
{
    const char *s = *p, *e;
    int quoted = 0;

    while (s < end && (*s == ' ' || *s == '\t' || *s == sep))
        s++;
    for (e = s; e < end && (quoted || *e != sep); e++) {
        if (*e == '"')
            quoted = !quoted;
        else if (*e == '\\' && quoted && e + 1 < end)
            e++;
    }
    *p = e;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    item->p = s;
    item->len = (size_t)(e - s);
    return e > s;
}

/* The node of a Forwarded element's one for= pair (RFC 7239 4), unquoted; -1 when the
 * element names none, names it twice, or names no address. */
static int forwarded_node(struct str el, struct sockaddr_storage *out)
{
    const char *p = el.p, *end = el.p + el.len;
    struct str pair, v = {NULL, 0};
    char buf[INET6_ADDRSTRLEN + 8];
    size_t i, n = 0;

    while (next_item(&p, end, ';', &pair)) {
        if (pair.len < 4 || !str_ieq(pair.p, 4, "for="))
            continue;
        if (v.p != NULL)
            return -1; /* RFC 7239 4: not twice in an element; which would we believe? */
        v.p = pair.p + 4;
        v.len = pair.len - 4;
    }
    if (v.p == NULL)
        return -1;
    if (v.len == 0 || v.p[0] != '"')
        return parse_node(v.p, v.len, 1, out);
    if (v.len < 2 || v.p[v.len - 1] != '"')
        return -1;
    for (i = 1; i < v.len - 1; i++) {
        if (v.p[i] == '"' || (v.p[i] == '\\' && ++i == v.len - 1) || n == sizeof(buf))
            return -1;
        buf[n++] = v.p[i];
    }
    return parse_node(buf, n, 1, out);
}

/* The rightmost HOPS_MAX elements of a list's field lines, in a ring. */
struct hops {
    struct str h[HOPS_MAX];
    size_t n; /* elements seen: hop k is h[k % HOPS_MAX] */
};

static void hops_collect(struct hops *w, const struct str *lines, int nlines, int forwarded)
{
    struct str tok;
    int i;

    for (i = 0; i < nlines; i++) {
        const char *p = lines[i].p, *end;
        if (p == NULL)
            continue;
        end = p + lines[i].len;
        /* X-Forwarded-For has no quoting: a '"' there is junk, not a reason to join items */
        while (forwarded ? next_item(&p, end, ',', &tok)
                         : str_next_token(&p, end, &tok.p, &tok.len))
            w->h[w->n++ % HOPS_MAX] = tok;
    }
}

static int lines_present(const struct str *lines, int n)
{
    int i;

    for (i = 0; i < n; i++)
        if (lines[i].p != NULL)
            return 1;
    return 0;
}

int netaddr_forwarded_client(const struct str *xff, int nxff, const struct str *fwd, int nfwd,
                             const struct netaddr_set *trusted, struct sockaddr_storage *out)
{
    struct hops w;
    struct sockaddr_storage sa;
    int forwarded = !lines_present(xff, nxff), found = 0;
    size_t k, stop;

    w.n = 0;
    if (forwarded)
        hops_collect(&w, fwd, nfwd, 1);
    else
        hops_collect(&w, xff, nxff, 0);
    /* Past the window the walk stops as at junk, which yields the same leftmost hop seen
     * as "every hop trusted" does. */
    stop = w.n > HOPS_MAX ? w.n - HOPS_MAX : 0;
    for (k = w.n; k > stop; k--) {
        struct str h = w.h[(k - 1) % HOPS_MAX];
        /* "unknown", "_hidden" or junk: whoever wrote the hops left of it is unknown too */
        if ((forwarded ? forwarded_node(h, &sa) : parse_node(h.p, h.len, 0, &sa)) < 0)
            break;
        *out = sa; /* a trusted hop stands only when nothing usable lies to its left */
        found = 1;
        if (!netaddr_set_has(trusted, (const struct sockaddr *)&sa))
            break;
    }
    return found;
}

/* a.b.c.d, as inet_ntop writes it: glibc's goes through sprintf, which cost more than
 * the rest of an access-log line (every request formats its client) */
static void format_ipv4(const unsigned char *a, char *out, size_t len)
{
    char text[INET_ADDRSTRLEN], *p = text;
    int i;

    for (i = 0; i < 4; i++) {
        if (a[i] >= 100)
            *p++ = (char)('0' + a[i] / 100);
        if (a[i] >= 10)
            *p++ = (char)('0' + a[i] / 10 % 10);
        *p++ = (char)('0' + a[i] % 10);
        *p++ = i < 3 ? '.' : '\0';
    }
    if ((size_t)(p - text) <= len)
        memcpy(out, text, (size_t)(p - text));
}

void netaddr_format(const struct sockaddr *sa, char *out, size_t len)
{
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

    if (len > 0)
        out[0] = '\0'; /* inet_ntop leaves out as it was when it fails */
    /* a dual-stack listener sees an IPv4 client as ::ffff:a.b.c.d; logs show a.b.c.d */
    if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(a6))
        format_ipv4(&a6->s6_addr[12], out, len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, a6, out, (socklen_t)len);
    else
        format_ipv4((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr, out, len);
}
