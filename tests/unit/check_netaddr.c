/* Network sets and the forwarded client (src/util/netaddr.c): who is trusted, who is
 * loopback, and which hop of X-Forwarded-For or Forwarded is the real client. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "portico/netaddr.h"
#include "suites.h"

/* A peer as accept() gives it: text with a ':' is AF_INET6, else AF_INET. */
static void peer(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (strchr(text, ':') != NULL) {
        ss->ss_family = AF_INET6;
        ck_assert_msg(inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1,
                      "bad test peer %s", text);
    } else {
        ss->ss_family = AF_INET;
        ck_assert_msg(inet_pton(AF_INET, text, &((struct sockaddr_in *)ss)->sin_addr) == 1,
                      "bad test peer %s", text);
    }
}

/* "1.2.3.4:80" or "[2001:db8::1]:80", as inet_ntop writes them (family shown, no mapping). */
static void show(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char a[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
        snprintf(out, len, "[%s]:%u", a, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
        snprintf(out, len, "%s:%u", a, ntohs(s4->sin_port));
    }
}

/* A set from networks written with spaces between them. */
static void make_set(const char *nets, struct netaddr_set *s)
{
    char buf[256], *tok, *save;

    s->n = 0;
    snprintf(buf, sizeof(buf), "%s", nets);
    for (tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save))
        ck_assert_msg(netaddr_set_add(s, tok) == 0, "bad test network %s", tok);
}

/* The field lines of a value written with '\n' between them. */
static int split_lines(const char *v, struct str *lines, int max)
{
    int n = 0;

    while (v != NULL && n < max) {
        const char *nl = strchr(v, '\n');
        lines[n].p = v;
        lines[n++].len = nl ? (size_t)(nl - v) : strlen(v);
        v = nl ? nl + 1 : NULL;
    }
    return n;
}

/* want: the network as inet_ntop writes its 16 bytes, and its prefix length */
static const struct {
    const char *text;
    int rc;
    const char *addr;
    int bits;
} parse_cases[] = {
    {"10.0.0.0/8", 0, "::ffff:10.0.0.0", 104},
    {"172.16.0.0/12", 0, "::ffff:172.16.0.0", 108},
    {"192.0.2.7", 0, "::ffff:192.0.2.7", 128},
    {"192.0.2.7/32", 0, "::ffff:192.0.2.7", 128},
    {"192.0.2.6/31", 0, "::ffff:192.0.2.6", 127},
    {"0.0.0.0/0", 0, "::ffff:0.0.0.0", 96},
    {"2001:db8::/32", 0, "2001:db8::", 32},
    {"2001:db8::1/128", 0, "2001:db8::1", 128},
    {"fe80::/10", 0, "fe80::", 10},
    {"::1", 0, "::1", 128},
    {"::/0", 0, "::", 0},
    {"::ffff:10.0.0.0/104", 0, "::ffff:10.0.0.0", 104},
    {"::ffff:0:0/96", 0, "::ffff:0.0.0.0", 96},
    {"", -1, NULL, 0},
    {"junk", -1, NULL, 0},
    {"/8", -1, NULL, 0},
    {"10.0.0.0/", -1, NULL, 0},
    {"10.0.0.0/33", -1, NULL, 0},
    {"10.0.0.0/1000", -1, NULL, 0},
    {"2001:db8::/129", -1, NULL, 0},
    {"10.0.0.0/08", -1, NULL, 0},
    {"0.0.0.0/00", -1, NULL, 0},
    {"::1/0128", -1, NULL, 0},
    {"10.0.0.0/-8", -1, NULL, 0},
    {"10.0.0.0/+8", -1, NULL, 0},
    {"10.0.0.0/8a", -1, NULL, 0},
    {"10.0.0.0/8/8", -1, NULL, 0},
    {"10.0.0.1/8", -1, NULL, 0}, /* host bits below the prefix: likely a mistake */
    {"10.0.0.0/0", -1, NULL, 0},
    {"192.0.2.7/31", -1, NULL, 0},
    {"2001:db8::1/32", -1, NULL, 0},
    {"::ffff:10.0.0.1/104", -1, NULL, 0},
    {" 10.0.0.0/8", -1, NULL, 0},
    {"10.0.0.0/8 ", -1, NULL, 0},
    {"10.0.0.0 /8", -1, NULL, 0},
    {"10.0.0.0/ 8", -1, NULL, 0},
    {"10.0.0.0\t/8", -1, NULL, 0},
    {"::1 ", -1, NULL, 0},
    {"10.0.0", -1, NULL, 0},
    {"256.0.0.0", -1, NULL, 0},
    {"010.0.0.0/8", -1, NULL, 0},
    {"[::1]", -1, NULL, 0},
    {"1.2.3.4:80", -1, NULL, 0},
    {"fe80::1%eth0", -1, NULL, 0},
    {"2001:db8:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0/32", -1, NULL, 0},
};

START_TEST(parse_table)
{
    struct netaddr_net net;
    char got[INET6_ADDRSTRLEN];
    const char *t = parse_cases[_i].text;
    int rc = netaddr_parse_net(t, &net);

    ck_assert_msg(rc == parse_cases[_i].rc, "'%s': rc %d", t, rc);
    if (rc == 0) {
        inet_ntop(AF_INET6, net.addr, got, sizeof(got));
        ck_assert_msg(strcmp(got, parse_cases[_i].addr) == 0 && net.bits == parse_cases[_i].bits,
                      "'%s': got %s/%d", t, got, net.bits);
    }
}
END_TEST

static const struct {
    const char *nets, *peer;
    int want;
} has_cases[] = {
    {"10.0.0.0/8", "10.0.0.0", 1},
    {"10.0.0.0/8", "10.255.255.255", 1},
    {"10.0.0.0/8", "9.255.255.255", 0},
    {"10.0.0.0/8", "11.0.0.0", 0},
    {"10.0.0.0/8", "::ffff:10.1.2.3", 1}, /* an IPv4 client of a dual-stack socket */
    {"10.0.0.0/8", "::ffff:11.0.0.0", 0},
    {"10.0.0.0/8", "::a00:1", 0}, /* IPv4-compatible is no IPv4 */
    {"10.0.0.0/8", "2001:db8::1", 0},
    {"192.0.2.7", "192.0.2.7", 1},
    {"192.0.2.7", "192.0.2.6", 0},
    {"192.0.2.7", "192.0.2.8", 0},
    {"192.0.2.7", "::ffff:192.0.2.7", 1},
    {"192.0.2.6/31", "192.0.2.6", 1},
    {"192.0.2.6/31", "192.0.2.7", 1},
    {"192.0.2.6/31", "192.0.2.5", 0},
    {"192.0.2.6/31", "192.0.2.8", 0},
    {"172.16.0.0/12", "172.31.255.255", 1},
    {"172.16.0.0/12", "172.32.0.0", 0},
    {"172.16.0.0/12", "172.15.255.255", 0},
    {"0.0.0.0/0", "1.2.3.4", 1},
    {"0.0.0.0/0", "0.0.0.0", 1},
    {"0.0.0.0/0", "255.255.255.255", 1},
    {"0.0.0.0/0", "::ffff:1.2.3.4", 1},
    {"0.0.0.0/0", "::1", 0},
    {"0.0.0.0/0", "::", 0},
    {"0.0.0.0/0", "2001:db8::1", 0},
    {"::/0", "1.2.3.4", 1},
    {"::/0", "::ffff:1.2.3.4", 1},
    {"::/0", "2001:db8::1", 1},
    {"::/0", "::", 1},
    {"::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1},
    {"2001:db8::/32", "2001:db8::", 1},
    {"2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 1},
    {"2001:db8::/32", "2001:db9::", 0},
    {"2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", 0},
    {"2001:db8::/32", "1.2.3.4", 0},
    {"2001:db8::1", "2001:db8::1", 1},
    {"2001:db8::1", "2001:db8::2", 0},
    {"2001:db8::1", "2001:db8::", 0},
    {"fe80::/10", "febf:ffff::1", 1},
    {"fe80::/10", "fec0::", 0},
    {"fe80::/10", "fe7f::", 0},
    {"::ffff:10.0.0.0/104", "10.9.9.9", 1},
    {"::ffff:10.0.0.0/104", "11.0.0.0", 0},
    {"", "1.2.3.4", 0},
    {"", "::1", 0},
    {"10.0.0.0/8 192.168.0.0/16 2001:db8::/32", "192.168.1.1", 1},
    {"10.0.0.0/8 192.168.0.0/16 2001:db8::/32", "2001:db8::5", 1},
    {"10.0.0.0/8 192.168.0.0/16 2001:db8::/32", "172.16.0.1", 0},
};

START_TEST(has_table)
{
    struct netaddr_set s;
    struct sockaddr_storage ss;

    make_set(has_cases[_i].nets, &s);
    peer(has_cases[_i].peer, &ss);
    ck_assert_msg(netaddr_set_has(&s, (struct sockaddr *)&ss) == has_cases[_i].want,
                  "%s in {%s}: want %d", has_cases[_i].peer, has_cases[_i].nets,
                  has_cases[_i].want);
}
END_TEST

static const struct {
    const char *peer;
    int want;
} loopback_cases[] = {
    {"127.0.0.1", 1},
    {"127.0.0.0", 1},
    {"127.255.255.255", 1},
    {"126.255.255.255", 0},
    {"128.0.0.0", 0},
    {"10.0.0.1", 0},
    {"::1", 1},
    {"::", 0},
    {"::2", 0},
    {"::ffff:127.0.0.1", 1},
    {"::ffff:128.0.0.1", 0},
    {"::7f00:1", 0},
    {"2001:db8::1", 0},
};

START_TEST(loopback_table)
{
    struct sockaddr_storage ss;

    peer(loopback_cases[_i].peer, &ss);
    ck_assert_msg(netaddr_is_loopback((struct sockaddr *)&ss) == loopback_cases[_i].want, "%s",
                  loopback_cases[_i].peer);
}
END_TEST

#define TR "10.0.0.0/8 2001:db8:ffff::/48"

/* Field lines are written with '\n' between them; want is "" when the answer is 0. */
static const struct {
    const char *xff, *fwd, *trusted, *want;
} fwd_cases[] = {
    {NULL, NULL, TR, ""},
    {"203.0.113.5", NULL, "", "203.0.113.5:0"},
    {"203.0.113.5", NULL, TR, "203.0.113.5:0"},
    {"203.0.113.5, 10.0.0.2", NULL, TR, "203.0.113.5:0"},
    /* the client may write anything to the left of itself */
    {"198.51.100.1, 203.0.113.5, 10.0.0.2", NULL, TR, "203.0.113.5:0"},
    {"198.51.100.1, 203.0.113.5", NULL, TR, "203.0.113.5:0"},
    {"10.0.0.2, 203.0.113.5", NULL, TR, "203.0.113.5:0"},
    {"10.0.0.1, 10.0.0.2, 10.0.0.3", NULL, TR, "10.0.0.1:0"},
    {"10.0.0.1", NULL, TR, "10.0.0.1:0"},
    {"198.51.100.1, 203.0.113.5\n10.0.0.2", NULL, TR, "203.0.113.5:0"},
    {"203.0.113.5\n10.0.0.2, 10.0.0.3", NULL, TR, "203.0.113.5:0"},
    {"10.0.0.9\n198.51.100.7", NULL, TR, "198.51.100.7:0"},
    {"10.0.0.9\n\n10.0.0.8", NULL, TR, "10.0.0.9:0"},
    /* an element that is no address ends the walk */
    {"203.0.113.5, junk, 10.0.0.2", NULL, TR, "10.0.0.2:0"},
    {"203.0.113.5, unknown", NULL, TR, ""},
    {"203.0.113.5, junk", NULL, "", ""},
    {"junk", NULL, TR, ""},
    {"junk, 203.0.113.5", NULL, TR, "203.0.113.5:0"},
    {"junk, 10.0.0.1", NULL, TR, "10.0.0.1:0"},
    {"203.0.113.5, 10.0.0.2 10.0.0.3", NULL, TR, ""},
    {"203.0.113.5, \"10.0.0.2\"", NULL, TR, ""},
    {"203.0.113.5, fe80::1%eth0", NULL, TR, ""},
    /* ports and brackets */
    {"203.0.113.5:8080", NULL, "", "203.0.113.5:8080"},
    {"203.0.113.5:65535", NULL, "", "203.0.113.5:65535"},
    {"203.0.113.5:0", NULL, "", "203.0.113.5:0"},
    {"[2001:db8::1]:443", NULL, "", "[2001:db8::1]:443"},
    {"[2001:db8::1]", NULL, "", "[2001:db8::1]:0"},
    {"2001:db8::1", NULL, "", "[2001:db8::1]:0"},
    {"2001:db8::1:80", NULL, "", "[2001:db8::1:80]:0"}, /* a bare IPv6 address has no port */
    {"203.0.113.5:", NULL, "", ""},
    {"203.0.113.5:65536", NULL, "", ""},
    {"203.0.113.5:123456", NULL, "", ""},
    {"203.0.113.5:8o", NULL, "", ""},
    {"203.0.113.5:_abc", NULL, "", ""},
    {"[2001:db8::1]80", NULL, "", ""},
    {"[2001:db8::1]:", NULL, "", ""},
    {"[2001:db8::1", NULL, "", ""},
    {"[203.0.113.5]", NULL, "", ""},
    {"[]:80", NULL, "", ""},
    {":80", NULL, "", ""},
    {"2001:db8::1, 2001:db8:ffff::2", NULL, TR, "[2001:db8::1]:0"},
    {"::ffff:203.0.113.5, ::ffff:10.0.0.1", NULL, TR, "[::ffff:203.0.113.5]:0"},
    {"203.0.113.5, [::ffff:10.0.0.1]:80", NULL, TR, "203.0.113.5:0"},
    /* OWS and empty elements */
    {"  203.0.113.5\t,\t10.0.0.2  ", NULL, TR, "203.0.113.5:0"},
    {"203.0.113.5,,10.0.0.2,", NULL, TR, "203.0.113.5:0"},
    /* X-Forwarded-For wins, even when it says nothing usable */
    {"203.0.113.5", "for=198.51.100.1", "", "203.0.113.5:0"},
    {"", "for=198.51.100.1", "", ""},
    {"junk", "for=198.51.100.1", "", ""},
    /* Forwarded (RFC 7239) */
    {NULL, "for=192.0.2.60", "", "192.0.2.60:0"},
    {NULL, "for=192.0.2.60;proto=http;by=203.0.113.43", "", "192.0.2.60:0"},
    {NULL, "proto=https; For=192.0.2.60 ; by=x", "", "192.0.2.60:0"},
    {NULL, "For=\"[2001:db8:cafe::17]:4711\"", "", "[2001:db8:cafe::17]:4711"},
    {NULL, "FOR=\"192.0.2.43:47011\"", "", "192.0.2.43:47011"},
    {NULL, "for=\"[2001:db8::1]\"", "", "[2001:db8::1]:0"},
    {NULL, "for=\"192.0.2.43:_abc\"", "", "192.0.2.43:0"},
    {NULL, "for=\"192.0.2.43:_\"", "", ""},
    {NULL, "for=\"\\[2001:db8::1]\"", "", "[2001:db8::1]:0"},
    {NULL, "for=[2001:db8::1]:80", "", "[2001:db8::1]:80"},
    {NULL, "for=192.0.2.43, for=198.51.100.17", "", "198.51.100.17:0"},
    {NULL, "for=192.0.2.43, for=10.0.0.1", TR, "192.0.2.43:0"},
    {NULL, "for=192.0.2.43,for=\"[2001:db8:ffff::1]:80\"", TR, "192.0.2.43:0"},
    {NULL, "for=10.0.0.2, for=10.0.0.1", TR, "10.0.0.2:0"},
    {NULL, "for=192.0.2.60\nfor=10.0.0.1", TR, "192.0.2.60:0"},
    {NULL, "for=192.0.2.43, for=unknown", TR, ""},
    {NULL, "for=192.0.2.43, for=_hidden, for=10.0.0.1", TR, "10.0.0.1:0"},
    {NULL, "for=192.0.2.43, by=10.0.0.9, for=10.0.0.1", TR, "10.0.0.1:0"},
    {NULL, "for=192.0.2.43, ;, for=10.0.0.1", TR, "10.0.0.1:0"},
    {NULL, "for=unknown", "", ""},
    {NULL, "for=\"_gazonk\"", "", ""},
    {NULL, "for=", "", ""},
    {NULL, "for=\"\"", "", ""},
    {NULL, "xfor=192.0.2.60", "", ""},
    {NULL, "for = 192.0.2.60", "", ""},
    {NULL, "for=192.0.2.60;for=198.51.100.1", "", ""}, /* RFC 7239 4: once per element */
    {NULL, "for=\"[2001:db8::1]:80", "", ""},
    {NULL, "for=\"192.0.2.60\\\"", "", ""},
    {NULL, "for=\"192.0.2.60\"x", "", ""},
    /* a quoted comma or semicolon belongs to its element */
    {NULL, "for=192.0.2.60;ext=\"x,y\"", "", "192.0.2.60:0"},
    {NULL, "for=10.0.0.1;ext=\"a;for=192.0.2.9\"", TR, "10.0.0.1:0"},
    {NULL, "for=192.0.2.60, for=10.0.0.1;ext=\"a, for=203.0.113.9\"", TR, "192.0.2.60:0"},
    {NULL, "", TR, ""},
    {NULL, " , ", TR, ""},
};

START_TEST(forwarded_table)
{
    struct str xff[4], fwd[4];
    struct netaddr_set s;
    struct sockaddr_storage out;
    char got[80] = "";
    int nx = split_lines(fwd_cases[_i].xff, xff, 4), nf = split_lines(fwd_cases[_i].fwd, fwd, 4);

    make_set(fwd_cases[_i].trusted, &s);
    if (netaddr_forwarded_client(xff, nx, fwd, nf, &s, &out) == 1)
        show(&out, got, sizeof(got));
    ck_assert_msg(strcmp(got, fwd_cases[_i].want) == 0,
                  "xff '%s' fwd '%s' trusted {%s}: got '%s', want '%s'",
                  fwd_cases[_i].xff ? fwd_cases[_i].xff : "(none)",
                  fwd_cases[_i].fwd ? fwd_cases[_i].fwd : "(none)", fwd_cases[_i].trusted, got,
                  fwd_cases[_i].want);
}
END_TEST

/* A list of n elements: first, then 10.0.0.1 .. 10.0.0.(n-1), all trusted. Only the
 * rightmost 64 are looked at; what lies left of them is never the answer. */
static const struct {
    int n;
    const char *first, *want;
} window_cases[] = {
    {64, "203.0.113.5", "203.0.113.5:0"}, {65, "203.0.113.5", "10.0.0.1:0"},
    {65, "junk", "10.0.0.1:0"},           {100, "203.0.113.5", "10.0.0.36:0"},
    {250, "203.0.113.5", "10.0.0.186:0"},
};

START_TEST(window_table)
{
    char list[4096], got[80] = "";
    struct str line = {list, 0};
    struct netaddr_set s;
    struct sockaddr_storage out;
    int i;

    make_set(TR, &s);
    snprintf(list, sizeof(list), "%s", window_cases[_i].first);
    for (i = 1; i < window_cases[_i].n; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), ", 10.0.0.%d", i);
    line.len = strlen(list);
    if (netaddr_forwarded_client(&line, 1, NULL, 0, &s, &out) == 1)
        show(&out, got, sizeof(got));
    ck_assert_msg(strcmp(got, window_cases[_i].want) == 0, "%d hops: got '%s', want '%s'",
                  window_cases[_i].n, got, window_cases[_i].want);
}
END_TEST

static const struct {
    const char *peer, *want;
} format_cases[] = {
    {"192.0.2.7", "192.0.2.7"},
    {"0.0.0.0", "0.0.0.0"},
    {"255.255.255.255", "255.255.255.255"},
    {"10.100.9.99", "10.100.9.99"},
    {"1.20.100.0", "1.20.100.0"},
    {"::ffff:192.0.2.7", "192.0.2.7"}, /* an IPv4 client of a dual-stack listener */
    {"::ffff:255.0.10.1", "255.0.10.1"},
    {"::ffff:0.0.0.0", "0.0.0.0"},
    {"2001:db8::1", "2001:db8::1"},
    {"::1", "::1"},
    {"::", "::"},
    {"64:ff9b::c000:207", "64:ff9b::c000:207"},
};

START_TEST(format_table)
{
    struct sockaddr_storage ss;
    char out[INET6_ADDRSTRLEN];

    peer(format_cases[_i].peer, &ss);
    netaddr_format((struct sockaddr *)&ss, out, sizeof(out));
    ck_assert_str_eq(out, format_cases[_i].want);
    /* one byte short of the text and its NUL: nothing, as inet_ntop leaves it */
    netaddr_format((struct sockaddr *)&ss, out, strlen(format_cases[_i].want));
    ck_assert_str_eq(out, "");
}
END_TEST

/* IPv4 is formatted by hand: every octet value, in every place, as inet_ntop does. */
START_TEST(format_ipv4_octets)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    char out[INET6_ADDRSTRLEN], want[INET6_ADDRSTRLEN];
    unsigned v;

    for (v = 0; v < 256; v++) {
        unsigned char *a = (unsigned char *)&sin.sin_addr;
        a[0] = (unsigned char)v, a[1] = (unsigned char)(255 - v);
        a[2] = (unsigned char)(v * 7), a[3] = (unsigned char)(v / 3);
        netaddr_format((struct sockaddr *)&sin, out, sizeof(out));
        inet_ntop(AF_INET, &sin.sin_addr, want, sizeof(want));
        ck_assert_str_eq(out, want);
    }
}
END_TEST

/* A full set refuses more; a failed add leaves the set as it was; a peer of another
 * family is in no set; a 0 answer leaves *out as it was. */
START_TEST(set_edges)
{
    struct netaddr_set s = {.n = 0};
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    struct sockaddr_storage out, before;
    struct str xff = {"junk", 4};
    char net[32];
    int i;

    ck_assert_int_eq(netaddr_set_add(&s, "10.0.0.1/8"), -1);
    ck_assert_int_eq(s.n, 0);
    for (i = 0; i < NETADDR_MAX_NETS; i++) {
        snprintf(net, sizeof(net), "10.%d.0.0/16", i);
        ck_assert_int_eq(netaddr_set_add(&s, net), 0);
    }
    ck_assert_int_eq(netaddr_set_add(&s, "192.0.2.1"), -1);
    ck_assert_int_eq(s.n, NETADDR_MAX_NETS);
    ck_assert_int_eq(netaddr_set_has(&s, (struct sockaddr *)&un), 0);
    ck_assert_int_eq(netaddr_is_loopback((struct sockaddr *)&un), 0);
    memset(&out, 0xa5, sizeof(out));
    before = out;
    ck_assert_int_eq(netaddr_forwarded_client(&xff, 1, NULL, 0, &s, &out), 0);
    ck_assert(memcmp(&out, &before, sizeof(out)) == 0);
    ck_assert_int_eq(netaddr_forwarded_client(NULL, 0, NULL, 0, &s, &out), 0);
}
END_TEST

#define N(a) (int)(sizeof(a) / sizeof(a[0]))

Suite *netaddr_suite(void)
{
    Suite *s = suite_create("netaddr");
    TCase *tc = tcase_create("netaddr");

    tcase_add_loop_test(tc, parse_table, 0, N(parse_cases));
    tcase_add_loop_test(tc, has_table, 0, N(has_cases));
    tcase_add_loop_test(tc, loopback_table, 0, N(loopback_cases));
    tcase_add_loop_test(tc, forwarded_table, 0, N(fwd_cases));
    tcase_add_loop_test(tc, window_table, 0, N(window_cases));
    tcase_add_loop_test(tc, format_table, 0, N(format_cases));
    tcase_add_test(tc, format_ipv4_octets);
    tcase_add_test(tc, set_edges);
    suite_add_tcase(s, tc);
    return s;
}
