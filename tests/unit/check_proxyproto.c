/* The PROXY protocol parser (src/util/proxyproto.c): whole v1 and v2 headers, every
 * proper prefix of one waiting for more, and malformed ones refused at the first byte
 * that makes them so. Each call gets a heap copy of exactly its bytes, so a read past
 * them shows under the sanitizers. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portico/proxyproto.h"
#include "suites.h"

#define BIN(s)  s, sizeof(s) - 1
#define UPTO(s) (sizeof(s) - 1)

/* proxy_parse on a copy of b[0..n) that ends where the bytes do */
static enum proxy_result parse_exact(const char *b, size_t n, struct proxy_info *out)
{
    char *copy = malloc(n ? n : 1);
    enum proxy_result r;

    ck_assert_ptr_nonnull(copy);
    memcpy(copy, b, n);
    r = proxy_parse(copy, n, out);
    free(copy);
    return r;
}

/* An address and its port as text, "ip port", for comparing with a table. */
static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
        port = ntohs(s->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
        port = ntohs(s->sin6_port);
    }
    snprintf(buf, size, "%s %u", ip, port);
}

#define SIG "\r\n\r\n\0\r\nQUIT\n"
/* 192.0.2.1:56324 -> 198.51.100.7:443 */
#define V4_ADDRS "\xc0\x00\x02\x01\xc6\x33\x64\x07\xdc\x04\x01\xbb"
/* [2001:db8::1]:56324 -> [2001:db8::2]:443 */
#define V6_ADDRS                                                                                   \
    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"                                                   \
    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02"                                                   \
    "\xdc\x04\x01\xbb"
#define SSL_TLS13 "\x20\x00\x0f\x07\0\0\0\0\x21\x00\x07TLSv1.3"
#define X10       "xxxxxxxxxx"
#define MAPPED    "0000:0000:0000:0000:0000:ffff:255.255.255.255"
#define FFFF6     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
#define REQ       "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"

static const struct {
    const char *bytes;
    size_t n;
    size_t len; /* the header's length: what follows it is the request */
    int version, local, ssl;
    const char *src, *dst; /* "ip port", when !local */
} good[] = {
    {BIN("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), 47, 1, 0, 0, "192.168.0.1 56324",
     "192.168.0.11 443"},
    {BIN("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"), 56, 1, 0, 0,
     "255.255.255.255 65535", "255.255.255.255 65535"},
    {BIN("PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n"), 33, 1, 0, 0, "0.0.0.0 0", "10.0.0.1 0"},
    {BIN("PROXY TCP6 2001:db8::1 2001:DB8::2 56324 443\r\n"), 46, 1, 0, 0, "2001:db8::1 56324",
     "2001:db8::2 443"},
    {BIN("PROXY TCP6 " FFFF6 " " FFFF6 " 65535 65535\r\n"), 104, 1, 0, 0, FFFF6 " 65535",
     FFFF6 " 65535"},
    {BIN("PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n"), 37, 1, 0, 0, "::ffff:192.0.2.1 1", "::1 2"},
    {BIN("PROXY UNKNOWN\r\n"), 15, 1, 1, 0, NULL, NULL},
    {BIN("PROXY UNKNOWN " FFFF6 " " FFFF6 " 65535 65535\r\n"), 107, 1, 1, 0, NULL, NULL},
    {BIN("PROXY UNKNOWN" X10 X10 X10 X10 X10 X10 X10 X10 X10 " \t\r\n"), 107, 1, 1, 0, NULL, NULL},
    {BIN("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n" REQ), 45, 1, 0, 0, "192.0.2.1 56324",
     "198.51.100.7 443"},
    {BIN("PROXY UNKNOWN\r\n" REQ), 15, 1, 1, 0, NULL, NULL},
    {BIN(SIG "\x21\x11\x00\x0c" V4_ADDRS), 28, 2, 0, 0, "192.0.2.1 56324", "198.51.100.7 443"},
    {BIN(SIG "\x21\x21\x00\x24" V6_ADDRS), 52, 2, 0, 0, "2001:db8::1 56324", "2001:db8::2 443"},
    /* HAProxy's health checks: LOCAL, AF_UNSPEC, no addresses */
    {BIN(SIG "\x20\x00\x00\x00"), 16, 2, 1, 0, NULL, NULL},
    /* LOCAL skips whatever block it is given, its family unread (§2.2) */
    {BIN(SIG "\x20\x11\x00\x0c" V4_ADDRS), 28, 2, 1, 0, NULL, NULL},
    {BIN(SIG "\x20\x12\x00\x05zzzzz"), 21, 2, 1, 0, NULL, NULL},
    {BIN(SIG "\x20\x00\x00\x00" REQ), 16, 2, 1, 0, NULL, NULL},
    {BIN(SIG "\x21\x00\x00\x04\x20\x00\x01\x01"), 20, 2, 1, 0, NULL, NULL}, /* UNSPEC */
    {BIN(SIG "\x21\x11\x00\x14" V4_ADDRS "\x20\x00\x05\x01\0\0\0\0"), 36, 2, 0, 1,
     "192.0.2.1 56324", "198.51.100.7 443"},
    {BIN(SIG "\x21\x11\x00\x1e" V4_ADDRS SSL_TLS13), 46, 2, 0, 1, "192.0.2.1 56324",
     "198.51.100.7 443"},
    {BIN(SIG "\x21\x21\x00\x36" V6_ADDRS SSL_TLS13 REQ), 70, 2, 0, 1, "2001:db8::1 56324",
     "2001:db8::2 443"},
    /* client certificate flags without PP2_CLIENT_SSL: not TLS */
    {BIN(SIG "\x21\x11\x00\x14" V4_ADDRS "\x20\x00\x05\x06\0\0\0\0"), 36, 2, 0, 0,
     "192.0.2.1 56324", "198.51.100.7 443"},
    {BIN(SIG "\x21\x11\x00\x14" V4_ADDRS "\x20\x00\x05\x00\0\0\0\0"), 36, 2, 0, 0,
     "192.0.2.1 56324", "198.51.100.7 443"},
    /* ALPN, AUTHORITY, a CRC32C left unchecked, NOOP, UNIQUE_ID, a custom type */
    {BIN(SIG "\x21\x11\x00\x33" V4_ADDRS "\x01\x00\x02h2"
             "\x02\x00\x0b"
             "example.com"
             "\x03\x00\x04\xde\xad\xbe\xef"
             "\x04\x00\x00"
             "\x05\x00\x03"
             "abc"
             "\xe0\x00\x01!" REQ),
     67, 2, 0, 0, "192.0.2.1 56324", "198.51.100.7 443"},
};

static void check_good(int i, const char *bytes, size_t n)
{
    struct proxy_info pi;
    char got[80];

    ck_assert_msg(parse_exact(bytes, n, &pi) == PROXY_DONE, "good[%d] at %zu bytes", i, n);
    ck_assert_uint_eq(pi.len, good[i].len);
    ck_assert_int_eq(pi.version, good[i].version);
    ck_assert_int_eq(pi.local, good[i].local);
    ck_assert_int_eq(pi.ssl, good[i].ssl);
    if (good[i].local) {
        ck_assert_int_eq(pi.src.ss_family, AF_UNSPEC);
        return;
    }
    addr_text(&pi.src, got, sizeof(got));
    ck_assert_str_eq(got, good[i].src);
    addr_text(&pi.dst, got, sizeof(got));
    ck_assert_str_eq(got, good[i].dst);
}

START_TEST(good_table)
{
    check_good(_i, good[_i].bytes, good[_i].n);
    /* the header alone is as whole as the header and the request after it */
    check_good(_i, good[_i].bytes, good[_i].len);
}
END_TEST

START_TEST(good_prefixes)
{
    struct proxy_info pi;
    size_t k;

    for (k = 0; k < good[_i].len; k++)
        ck_assert_msg(parse_exact(good[_i].bytes, k, &pi) == PROXY_MORE,
                      "good[%d] cut at %zu: not MORE", _i, k);
}
END_TEST

/* Malformed input, and the length at which it first cannot be a header: every shorter
 * prefix waits for more, that one and every longer one is refused. */
static const struct {
    const char *bytes;
    size_t n, at;
} bad[] = {
    {BIN("GET / HTTP/1.1\r\n"), 1},
    {BIN("\x16\x03\x01\x02\x00\x01"), 1}, /* a TLS ClientHello */
    {BIN("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), 1},
    {BIN("PROXY\r\n"), UPTO("PROXY\r")},
    {BIN("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), UPTO("PROXY  ")},
    {BIN("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), UPTO("PROXY TCP5")},
    {BIN("PROXY TCP4\r\n"), UPTO("PROXY TCP4\r")},
    {BIN("PROXY TCP4 \r\n"), UPTO("PROXY TCP4 \r")},
    {BIN("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), UPTO("PROXY TCP4  ")},
    {BIN("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), UPTO("PROXY TCP4 1.2.3.4  ")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n"), UPTO("PROXY TCP4 1.2.3.4 5.6.7.8 1  ")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), UPTO("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8  2\r\n"), UPTO("PROXY TCP4 1.2.3.4 5.6.7.8  ")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n"), UPTO("PROXY TCP4 1.2.3.4 5.6.7.8 1 \r")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), UPTO("PROXY TCP4 1.2.3.4 5.6.7.8 1\r")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n"), UPTO("PROXY TCP4 1.2.3.4 5.6.7.8 08")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8 80 00\r\n"), UPTO("PROXY TCP4 1.2.3.4 5.6.7.8 80 00")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8 65536 443\r\n"), UPTO("PROXY TCP4 1.2.3.4 5.6.7.8 65536")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8 80 4430000\r\n"),
     UPTO("PROXY TCP4 1.2.3.4 5.6.7.8 80 443000")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8 +80 443\r\n"), UPTO("PROXY TCP4 1.2.3.4 5.6.7.8 +")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8 80 -1\r\n"), UPTO("PROXY TCP4 1.2.3.4 5.6.7.8 80 -")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8 80 0x1\r\n"), UPTO("PROXY TCP4 1.2.3.4 5.6.7.8 80 0x")},
    {BIN("PROXY TCP4 1.2.3.400 5.6.7.8 80 443\r\n"), UPTO("PROXY TCP4 1.2.3.400 ")},
    {BIN("PROXY TCP4 01.2.3.4 5.6.7.8 80 443\r\n"), UPTO("PROXY TCP4 01.2.3.4 ")},
    {BIN("PROXY TCP4 1.2.3 5.6.7.8 80 443\r\n"), UPTO("PROXY TCP4 1.2.3 ")},
    {BIN("PROXY TCP4 1.2.3.4.5 6.7.8.9 80 443\r\n"), UPTO("PROXY TCP4 1.2.3.4.5 ")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8.9.10.11.12 80 443\r\n"),
     UPTO("PROXY TCP4 1.2.3.4 5.6.7.8.9.10.11.")},
    {BIN("PROXY TCP4 1.2.3.4\0 5.6.7.8 80 443\r\n"), UPTO("PROXY TCP4 1.2.3.4\0")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n"), UPTO("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\rX"), UPTO("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\rX")},
    {BIN("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\r\r\n"), UPTO("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\r\r")},
    /* mixed families: the keyword names the family of both addresses */
    {BIN("PROXY TCP4 ::1 ::1 80 443\r\n"), UPTO("PROXY TCP4 :")},
    {BIN("PROXY TCP4 1.2.3.4 ::1 80 443\r\n"), UPTO("PROXY TCP4 1.2.3.4 :")},
    {BIN("PROXY TCP6 1.2.3.4 5.6.7.8 80 443\r\n"), UPTO("PROXY TCP6 1.2.3.4 ")},
    {BIN("PROXY TCP6 2001:db8::1 1.2.3.4 80 443\r\n"), UPTO("PROXY TCP6 2001:db8::1 1.2.3.4 ")},
    {BIN("PROXY TCP6 2001:db8::g ::1 80 443\r\n"), UPTO("PROXY TCP6 2001:db8::g")},
    {BIN("PROXY TCP6 fe80::1%eth0 ::1 80 443\r\n"), UPTO("PROXY TCP6 fe80::1%")},
    {BIN("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 80 443\r\n"), UPTO("PROXY TCP6 1:2:3:4:5:6:7:8:9 ")},
    {BIN("PROXY UNKNOWN\n"), UPTO("PROXY UNKNOWN\n")},
    {BIN("PROXY UNKNOWN\rX\r\n"), UPTO("PROXY UNKNOWN\rX")},
    /* 108 bytes with the CRLF: refused once 106 bytes hold no CR */
    {BIN("PROXY UNKNOWN" X10 X10 X10 X10 X10 X10 X10 X10 X10 "xxx\r\n"), 106},
    {BIN("PROXY TCP6 " FFFF6 " " FFFF6 " 65535 655355\r\n"),
     UPTO("PROXY TCP6 " FFFF6 " " FFFF6 " 65535 655355")},
    /* IPv4-mapped addresses in full are valid, but too long for one line */
    {BIN("PROXY TCP6 " MAPPED " " MAPPED " 65535 65535\r\n"), 106},
};

/* v2: a bad byte at a known offset of an otherwise good header */
static const struct {
    const char *bytes;
    size_t n, at;
} bad2[] = {
    {BIN("\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x0c" V4_ADDRS), 11},
    {BIN("\r\n\n"), 3},
    {BIN(SIG "\x11\x11\x00\x0c" V4_ADDRS), 13}, /* version 1 in v2's clothes */
    {BIN(SIG "\x31\x11\x00\x0c" V4_ADDRS), 13},
    {BIN(SIG "\x22\x11\x00\x0c" V4_ADDRS), 13}, /* command 2 */
    {BIN(SIG "\x2f\x11\x00\x0c" V4_ADDRS), 13},
    {BIN(SIG "\x21\x12\x00\x0c" V4_ADDRS), 14}, /* UDP over IPv4 */
    {BIN(SIG "\x21\x22\x00\x24" V6_ADDRS), 14}, /* UDP over IPv6 */
    {BIN(SIG "\x21\x13\x00\x0c" V4_ADDRS), 14},
    {BIN(SIG "\x21\x41\x00\x0c" V4_ADDRS), 14},
    /* address blocks shorter than the family needs */
    {BIN(SIG "\x21\x11\x00\x0b" V4_ADDRS), 16},
    {BIN(SIG "\x21\x21\x00\x0c" V4_ADDRS), 16},
    {BIN(SIG "\x21\x31\x00\x24" V6_ADDRS), 16},
    /* oversized: 16 + 1009 > PROXY_HEADER_MAX, said at once */
    {BIN(SIG "\x21\x11\x03\xf1" V4_ADDRS), 16},
    {BIN(SIG "\x20\x00\xff\xff"), 16},
    /* TLVs overrunning the header, or cut in their type and length */
    {BIN(SIG "\x21\x11\x00\x12" V4_ADDRS "\x04\x00\x04xyz"), 31},
    {BIN(SIG "\x21\x11\x00\x11" V4_ADDRS "\x04\x00\x00\x04\x00"), 31},
    {BIN(SIG "\x21\x11\x00\x0e" V4_ADDRS "\x04\x00"), 28},
    {BIN(SIG "\x21\x11\x00\x15" V4_ADDRS "\x20\x00\x05\x01\0\0\0\0\x04"), 36},
    {BIN(SIG "\x21\x11\x00\x10" V4_ADDRS "\x20\x00\x01\x01"), 31}, /* SSL without verify */
};

static void check_bad(const char *what, int i, const char *bytes, size_t n, size_t at)
{
    struct proxy_info pi;
    size_t k;

    for (k = 0; k <= n; k++) {
        enum proxy_result want = k < at ? PROXY_MORE : PROXY_INVALID;
        ck_assert_msg(parse_exact(bytes, k, &pi) == want, "%s[%d] at %zu bytes: want %s", what, i,
                      k, want == PROXY_MORE ? "MORE" : "INVALID");
    }
}

START_TEST(bad_table)
{
    check_bad("bad", _i, bad[_i].bytes, bad[_i].n, bad[_i].at);
}
END_TEST

START_TEST(bad2_table)
{
    check_bad("bad2", _i, bad2[_i].bytes, bad2[_i].n, bad2[_i].at);
}
END_TEST

/* Headers too long for a table: a UNIX block, and the largest size accepted. */
START_TEST(v2_built)
{
    unsigned char h[PROXY_HEADER_MAX + 1];
    struct proxy_info pi;
    size_t k;

    memcpy(h, SIG "\x21\x31\x00\xdb", 16);
    memset(h + 16, 'u', 216);
    memcpy(h + 16 + 216, "\x20\x00\x00", 3); /* an SSL TLV too short: read after UNIX */
    ck_assert_int_eq(proxy_parse(h, 16 + 216 + 3, &pi), PROXY_INVALID);
    memcpy(h + 16 + 216, "\x04\x00\x00", 3);
    ck_assert_int_eq(proxy_parse(h, 16 + 216 + 3, &pi), PROXY_DONE);
    ck_assert_uint_eq(pi.len, 235);
    ck_assert_int_eq(pi.local, 1);

    /* 16 + 12 + a NOOP of 3 + 993: exactly PROXY_HEADER_MAX, then one byte over */
    memcpy(h, SIG "\x21\x11\x03\xf0" V4_ADDRS "\x04\x03\xe1", 31);
    memset(h + 31, 0, sizeof(h) - 31);
    for (k = 0; k < PROXY_HEADER_MAX; k++)
        ck_assert_int_eq(proxy_parse(h, k, &pi), PROXY_MORE);
    ck_assert_int_eq(proxy_parse(h, sizeof(h), &pi), PROXY_DONE);
    ck_assert_uint_eq(pi.len, PROXY_HEADER_MAX);
    h[15] = 0xf1;
    h[30] = 0xe2;
    ck_assert_int_eq(proxy_parse(h, 16, &pi), PROXY_INVALID);
}
END_TEST

/* What is filled in on DONE is all there is: nothing left from an earlier call. */
START_TEST(out_cleared)
{
    struct proxy_info pi;

    memset(&pi, 0xa5, sizeof(pi));
    ck_assert_int_eq(proxy_parse(BIN(SIG "\x20\x00\x00\x00"), &pi), PROXY_DONE);
    ck_assert_int_eq(pi.ssl, 0);
    ck_assert_int_eq(pi.dst.ss_family, AF_UNSPEC);
    memset(&pi, 0xa5, sizeof(pi));
    ck_assert_int_eq(proxy_parse(BIN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), &pi), PROXY_DONE);
    ck_assert_int_eq(pi.ssl, 0);
    ck_assert_int_eq(pi.local, 0);
    ck_assert_uint_eq(((struct sockaddr_in *)&pi.src)->sin_zero[0], 0);
}
END_TEST

#define COUNT(a) (int)(sizeof(a) / sizeof((a)[0]))

Suite *proxyproto_suite(void)
{
    Suite *s = suite_create("proxyproto");
    TCase *tc = tcase_create("proxyproto");

    tcase_add_loop_test(tc, good_table, 0, COUNT(good));
    tcase_add_loop_test(tc, good_prefixes, 0, COUNT(good));
    tcase_add_loop_test(tc, bad_table, 0, COUNT(bad));
    tcase_add_loop_test(tc, bad2_table, 0, COUNT(bad2));
    tcase_add_test(tc, v2_built);
    tcase_add_test(tc, out_cleared);
    suite_add_tcase(s, tc);
    return s;
}
