/* The PROXY protocol header, versions 1 and 2 (HAProxy's proxy-protocol.txt): pure
 * parsing of bytes already received, deciding as early as it can. It never reads past
 * the bytes it is given and never touches a socket; proxy.c reads and consumes. */
#include "build-config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "portico/proxyproto.h"

/* v1: "PROXY UNKNOWN" with two full IPv6 addresses and ports is the longest line (§2.1) */
#define V1_MAX 107

#define V2_FIXED        16
#define V2_CMD_LOCAL    0x0
#define V2_CMD_PROXY    0x1
#define PP2_TYPE_SSL    0x20
#define PP2_CLIENT_SSL  0x01
#define PP2_SSL_MIN_LEN 5 /* struct pp2_tlv_ssl: client (1) and verify (4) */

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Sets the port of an address whose family is already set; port in host order. */
static void set_port(struct sockaddr_storage *ss, unsigned port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((unsigned short)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((unsigned short)port);
}

/* A v1 port or the beginning of one: 0..65535 in decimal, no sign, and no leading zero
 * that could be read as octal (§2.1). Any prefix of a valid port passes; -1 if not. */
static long v1_port(const char *s, size_t n)
{
    long v = 0;
    size_t i;

    if (n > 5 || (n > 1 && s[0] == '0'))
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v > 65535 ? -1 : v;
}

/* An address field: only the characters its family's text form can hold (a NUL or a
 * "%scope" would otherwise slip past inet_pton), and once complete, inet_pton's word. */
static int v1_addr(const char *s, size_t n, int done, int family, struct sockaddr_storage *ss)
{
    const char *allowed = family == AF_INET ? "0123456789." : "0123456789abcdefABCDEF:.";
    char text[INET6_ADDRSTRLEN];
    void *dst;
    size_t i;

    if (n > (family == AF_INET ? sizeof("255.255.255.255") - 1 : sizeof(text) - 1))
        return 0;
    for (i = 0; i < n; i++)
        if (s[i] == '\0' || strchr(allowed, s[i]) == NULL)
            return 0;
    if (!done)
        return 1;
    memcpy(text, s, n);
    text[n] = '\0';
    ss->ss_family = (sa_family_t)family;
    if (family == AF_INET)
        dst = &((struct sockaddr_in *)ss)->sin_addr;
    else
        dst = &((struct sockaddr_in6 *)ss)->sin6_addr;
    return inet_pton(family, text, dst) == 1;
}

/* The fields of a TCP4/TCP6 line, "src dst sport dport", in p[0..n). whole: the CR
 * follows, so the last field is complete; else it may still grow. Each field, whole or
 * begun, is checked as it stands, so a bad line is refused before its CRLF arrives. */
static enum proxy_result v1_fields(const char *p, size_t n, int whole, int family,
                                   struct proxy_info *out)
{
    struct sockaddr_storage *ends[4] = {&out->src, &out->dst, &out->src, &out->dst};
    size_t start = 0;
    int k;

    for (k = 0;; k++) {
        const char *sp = memchr(p + start, ' ', n - start);
        size_t flen = sp ? (size_t)(sp - (p + start)) : n - start;
        int done = sp != NULL || whole;
        long port;

        if (k == 4 || (flen == 0 && done))
            return PROXY_INVALID; /* a fifth field, or two spaces where one belongs */
        if (k < 2 && !v1_addr(p + start, flen, done, family, ends[k]))
            return PROXY_INVALID;
        if (k >= 2) {
            if ((port = v1_port(p + start, flen)) < 0)
                return PROXY_INVALID;
            if (done)
                set_port(ends[k], (unsigned)port);
        }
        if (sp == NULL)
            return !whole ? PROXY_MORE : k == 3 ? PROXY_DONE : PROXY_INVALID;
        start += flen + 1;
    }
}

/* Where the v1 line ends. DONE with *end just past the CRLF; MORE with *cr the CR's
 * offset when it is the last byte so far (else len); INVALID for a lone CR or LF
 * (§2.1 forbids either as a line end) or a line that cannot fit in V1_MAX bytes. */
static enum proxy_result v1_line_end(const char *b, size_t len, size_t *cr, size_t *end)
{
    size_t i, n = min_size(len, V1_MAX);

    *cr = len;
    for (i = 0; i < n; i++) {
        if (b[i] == '\n')
            return PROXY_INVALID;
        if (b[i] != '\r')
            continue;
        *cr = i;
        if (i + 2 > V1_MAX)
            return PROXY_INVALID;
        if (i + 1 == len)
            return PROXY_MORE;
        *end = i + 2;
        return b[i + 1] == '\n' ? PROXY_DONE : PROXY_INVALID;
    }
    /* no CR yet: the CRLF still to come would push the line past the limit */
    return len + 2 > V1_MAX ? PROXY_INVALID : PROXY_MORE;
}

static const struct {
    const char *word; /* what follows "PROXY " */
    int family;
} v1_protos[] = {
    {"TCP4 ", AF_INET},
    {"TCP6 ", AF_INET6},
    {"UNKNOWN", AF_UNSPEC}, /* the rest of the line is ignored, as HAProxy does */
};

static enum proxy_result v1_parse(const char *b, size_t len, struct proxy_info *out)
{
    const char *rest;
    size_t rlen, cr, end = 0, i, wlen;
    enum proxy_result line, fields;
    int begun = 0;

    if (memcmp(b, "PROXY ", min_size(len, 6)) != 0)
        return PROXY_INVALID;
    if (len <= 6)
        return PROXY_MORE;
    rest = b + 6;
    rlen = len - 6;
    for (i = 0; i < sizeof(v1_protos) / sizeof(v1_protos[0]); i++) {
        wlen = strlen(v1_protos[i].word);
        if (memcmp(rest, v1_protos[i].word, min_size(rlen, wlen)) != 0)
            continue;
        if (rlen < wlen) {
            begun = 1; /* "TCP" may still become either TCP4 or TCP6 */
            continue;
        }
        break;
    }
    if (i == sizeof(v1_protos) / sizeof(v1_protos[0]))
        return begun ? PROXY_MORE : PROXY_INVALID;

    line = v1_line_end(b, len, &cr, &end);
    if (line == PROXY_INVALID)
        return PROXY_INVALID;
    if (v1_protos[i].family == AF_UNSPEC) {
        out->local = 1;
        fields = PROXY_DONE;
    } else {
        size_t at = 6 + wlen; /* past "PROXY TCPn " */
        fields = v1_fields(b + at, cr - at, cr < len, v1_protos[i].family, out);
    }
    if (fields != PROXY_DONE || line != PROXY_DONE)
        return fields == PROXY_INVALID ? PROXY_INVALID : PROXY_MORE;
    out->version = 1;
    out->len = end;
    return PROXY_DONE;
}

/* The bytes of addresses a PROXY command's family byte announces (§2.2); -1 for UDP,
 * which makes no sense on a stream, and for values the spec leaves unassigned. */
static int v2_addr_len(unsigned char fam)
{
    switch (fam) {
    case 0x00:
        return 0; /* AF_UNSPEC: whatever follows is not ours to read */
    case 0x11:
        return 12;
    case 0x21:
        return 36;
    case 0x31:
    case 0x32:
        return 216;
    default:
        return -1;
    }
}

/* The TLVs of b[off..total), of which avail bytes are here. Each is checked against the
 * header's end as soon as its type and length are in, so an overrun is refused early. */
static enum proxy_result v2_tlvs(const unsigned char *b, size_t off, size_t avail, size_t total,
                                 int *ssl)
{
    while (off < total) {
        size_t vlen;

        if (total - off < 3)
            return PROXY_INVALID; /* the header ends inside a TLV's type and length */
        if (avail < off + 3)
            return PROXY_MORE;
        vlen = (size_t)b[off + 1] << 8 | b[off + 2];
        if (vlen > total - off - 3 || (b[off] == PP2_TYPE_SSL && vlen < PP2_SSL_MIN_LEN))
            return PROXY_INVALID;
        if (avail - off - 3 < vlen)
            return PROXY_MORE;
        /* sub-TLVs (version, cipher, CN) and the other types are not ours to judge */
        if (b[off] == PP2_TYPE_SSL)
            *ssl = (b[off + 3] & PP2_CLIENT_SSL) != 0;
        off += 3 + vlen;
    }
    return PROXY_DONE;
}

/* Copies the v2 address block of family 0x11 or 0x21; ports stay in network order. */
static void v2_addrs(const unsigned char *a, unsigned char fam, struct proxy_info *out)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)&out->src, *d4 = (struct sockaddr_in *)&out->dst;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->src;
    struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&out->dst;

    if (fam == 0x11) {
        s4->sin_family = d4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, a, 4);
        memcpy(&d4->sin_addr, a + 4, 4);
        memcpy(&s4->sin_port, a + 8, 2);
        memcpy(&d4->sin_port, a + 10, 2);
    } else {
        s6->sin6_family = d6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, a, 16);
        memcpy(&d6->sin6_addr, a + 16, 16);
        memcpy(&s6->sin6_port, a + 32, 2);
        memcpy(&d6->sin6_port, a + 34, 2);
    }
}

static enum proxy_result v2_parse(const unsigned char *b, size_t len, struct proxy_info *out)
{
    size_t total, avail;
    int cmd, alen = 0;
    enum proxy_result r;

    if (memcmp(b, v2_sig, min_size(len, sizeof(v2_sig))) != 0)
        return PROXY_INVALID;
    if (len <= 12)
        return PROXY_MORE;
    cmd = b[12] & 0x0F;
    if (b[12] >> 4 != 2 || (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY))
        return PROXY_INVALID;
    /* LOCAL (a balancer's own health check): the block and its family are ignored (§2.2) */
    if (len > 13 && cmd == V2_CMD_PROXY && (alen = v2_addr_len(b[13])) < 0)
        return PROXY_INVALID;
    if (len < V2_FIXED)
        return PROXY_MORE;
    total = V2_FIXED + ((size_t)b[14] << 8 | b[15]);
    if (total > PROXY_HEADER_MAX || total < V2_FIXED + (size_t)alen)
        return PROXY_INVALID;
    avail = min_size(len, total);
    if (avail < V2_FIXED + (size_t)alen)
        return PROXY_MORE;
    /* after AF_UNSPEC addresses nobody can say where TLVs would start */
    if (cmd == V2_CMD_PROXY && b[13] != 0x00) {
        r = v2_tlvs(b, V2_FIXED + (size_t)alen, avail, total, &out->ssl);
        if (r != PROXY_DONE)
            return r;
    }
    if (avail < total)
        return PROXY_MORE;
    if (cmd == V2_CMD_PROXY && (b[13] == 0x11 || b[13] == 0x21))
        v2_addrs(b + V2_FIXED, b[13], out);
    else
        out->local = 1; /* LOCAL, UNSPEC or UNIX: the connection's own peer stands */
    out->version = 2;
    out->len = total;
    return PROXY_DONE;
}

enum proxy_result proxy_parse(const void *buf, size_t len, struct proxy_info *out)
{
    const unsigned char *b = buf;
    enum proxy_result r;

    memset(out, 0, sizeof(*out));
    if (len == 0)
        return PROXY_MORE;
    if (b[0] == 'P')
        r = v1_parse(buf, len, out);
    else if (b[0] == v2_sig[0])
        r = v2_parse(b, len, out);
    else
        r = PROXY_INVALID; /* an HTTP request line, a TLS ClientHello: not from a balancer */
    if (r != PROXY_DONE)
        memset(out, 0, sizeof(*out));
    return r;
}
