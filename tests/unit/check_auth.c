/* Basic authentication (src/auth.c) and the base64 it decodes (src/util/str.c):
 * htpasswd files taken and refused, Authorization values checked, and the cache that
 * spares crypt runs. Hashes were made by the tools users have (noted at each). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "portico/auth.h"
#include "portico/str.h"
#include "suites.h"

/* The password is "secret" unless noted. htpasswd -nbB -C 5 alice secret, the other
 * bcrypt ones -C 4: low costs keep ASan runs quick. */
#define ALICE_BCRYPT "$2y$05$60IqzjI/rmBJUhDPihGk5.SQQ9NYGYJU0oNhT5WymnDgSabqeC5i6"
#define BOB_BCRYPT   "$2y$04$15yZ.PvfkU7HMS05N5RVVe8fN4F4kzaJWNCFDW0AbZxtKETsb8akS" /* hunter2 */
#define CAROL_BCRYPT "$2y$04$hcFR2a692VeL5IYxSho2Ne0hh2Dc3XybbxRceCyDrU0tiFHPa7Zn." /* pa:ss: */
#define DAVE_BCRYPT  "$2y$04$D87yUW8axnPiwBtKVd5GUuxVu73.d9/wswJRv2IRqGOlKePtlng9y" /* hunter2 */
/* openssl passwd -6 -salt saltsalt secret */
#define SHA512_CRYPT                                                                               \
    "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq."    \
    "H91p5hVO1"
/* Debian 12 has no mkpasswd without whois: these come from libxcrypt's own
 * crypt_gensalt_rn(prefix, cost) and crypt_r, at low costs */
#define BCRYPT_2B     "$2b$04$E9Tajw1CYcfRark8qrvYE..7gMnPiKqoSy8mY5X7ACVY98zaecvMC"
#define BCRYPT_2A     "$2a$04$1ciw/9bI3eRG3wIERaRTYuNL/tnCPU4PCNnkJw2NzF79kCdv8ujPi"
#define YESCRYPT      "$y$j75$BZYYZvIEBvT75jIeI74Xy0$2egmWjHHzClBU2mdGeHvr7qEF3/b7rKeqyki7iutHAB"
#define GOST_YESCRYPT "$gy$j75$quthZlODD3t3CpA96UmkG1$QJtiYHtW/twZlyIwXdO7kH1WBcPG3NGY2e5PtCKebiD"
#define SCRYPT                                                                                     \
    "$7$BU..../....XscdlSb8ni6kZXaeugbfk0$"                                                        \
    "xr3HE2hN/5jXqPAKNV7H3tJdE2XpMDcKS4YvUhkQcK6"
/* SHA-256-crypt, which libxcrypt calls legacy and portico takes (htpasswd -nb2 sam secret) */
#define SHA256_CRYPT "$5$E7xETEfntwKIn/k5$gkq5CuMcAoQ8skb4QgxnSjEzHsREDEUZSE6cdJ.jPo0"

/* "Basic " and the base64 of user:password, made by OpenSSL, not by the decoder tested */
static void basic_value(char *out, size_t cap, const char *plain, size_t len)
{
    ck_assert_uint_lt(6 + (len + 2) / 3 * 4, cap);
    memcpy(out, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)plain, (int)len);
}

static struct htpasswd *load_text(const char *text, char *path, size_t plen, char *err,
                                  size_t errlen)
{
    struct htpasswd *u;
    size_t n = strlen(text);
    int fd;

    snprintf(path, plen, "/tmp/portico-check-htpasswd-XXXXXX");
    fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp failed");
    ck_assert_msg(write(fd, text, n) == (ssize_t)n, "write failed");
    close(fd);
    err[0] = '\0';
    u = htpasswd_load(path, err, errlen);
    unlink(path);
    return u;
}

static struct htpasswd *load_ok(const char *text)
{
    char path[64], err[512];
    struct htpasswd *u = load_text(text, path, sizeof(path), err, sizeof(err));

    ck_assert_msg(u != NULL, "refused '%s': %s", text, err);
    return u;
}

static const struct {
    const char *in, *out; /* out NULL: refused */
    size_t outlen, cap;   /* cap 0: plenty */
} base64_cases[] = {
    {"", "", 0, 0},
    {"YQ==", "a", 1, 0},
    {"YWI=", "ab", 2, 0},
    {"YWJj", "abc", 3, 0},
    {"YWxpY2U6c2VjcmV0", "alice:secret", 12, 0},
    {"AA==", "\0", 1, 0},
    {"+/+/", "\xfb\xff\xbf", 3, 0},
    {"YWJj", "abc", 3, 3}, /* exactly the room there is */
    {"YWJj", NULL, 0, 2},
    {"YWI=", NULL, 0, 1},
    {"YQ", NULL, 0, 0}, /* padding is not optional */
    {"YQ=", NULL, 0, 0},
    {"YQ===", NULL, 0, 0},
    {"Y===", NULL, 0, 0},
    {"====", NULL, 0, 0},
    {"YR==", NULL, 0, 0}, /* bits under the padding that are not zero */
    {"YWJ=", NULL, 0, 0},
    {"YQ==YQ==", NULL, 0, 0}, /* '=' before the end */
    {"Y=Q=", NULL, 0, 0},
    {"YW-j", NULL, 0, 0}, /* the URL-safe alphabet is another encoding */
    {"YW_j", NULL, 0, 0},
    {"YW j", NULL, 0, 0},
    {"YWJj\n", NULL, 0, 0},
    {"YW\xc3\xa9", NULL, 0, 0},
};

START_TEST(base64_table)
{
    char out[64];
    const char *in = base64_cases[_i].in;
    size_t len = strlen(in);
    size_t cap = base64_cases[_i].cap ? base64_cases[_i].cap : sizeof(out);
    long n = str_base64_decode(in, len, out, cap);

    if (base64_cases[_i].out == NULL) {
        ck_assert_msg(n == -1, "'%s' decoded (%ld bytes)", in, n);
        return;
    }
    ck_assert_msg(n == (long)base64_cases[_i].outlen, "'%s': %ld bytes", in, n);
    ck_assert_msg(memcmp(out, base64_cases[_i].out, (size_t)n) == 0, "'%s': wrong bytes", in);
}
END_TEST

#define USERS "alice:" ALICE_BCRYPT "\ncarol:" CAROL_BCRYPT "\n"

/* plain != NULL: the value is "Basic " and its base64 (plen bytes, 0: strlen) */
static const struct {
    const char *value, *plain;
    size_t plen;
    enum auth_result want;
    const char *user;
} basic_cases[] = {
    {"Basic YWxpY2U6c2VjcmV0", NULL, 0, AUTH_OK, "alice"},
    {"basic YWxpY2U6c2VjcmV0", NULL, 0, AUTH_OK, "alice"}, /* RFC 9110 §11.1 */
    {"BASIC YWxpY2U6c2VjcmV0", NULL, 0, AUTH_OK, "alice"},
    {"bAsIc YWxpY2U6c2VjcmV0", NULL, 0, AUTH_OK, "alice"},
    {"Basic    YWxpY2U6c2VjcmV0", NULL, 0, AUTH_OK, "alice"}, /* 1*SP */
    {NULL, "alice:secret", 0, AUTH_OK, "alice"},
    {NULL, "carol:pa:ss:", 0, AUTH_OK, "carol"}, /* the password may hold ':' */
    {NULL, "carol:pa", 0, AUTH_DENIED, NULL},
    {NULL, "alice:", 0, AUTH_DENIED, NULL}, /* an empty password is a wrong one */
    {NULL, "alice:Secret", 0, AUTH_DENIED, NULL},
    {NULL, "Alice:secret", 0, AUTH_DENIED, NULL}, /* a user's name is its bytes */
    {NULL, ":secret", 0, AUTH_DENIED, NULL},
    {NULL, "mallory:secret", 0, AUTH_DENIED, NULL},
    {NULL, "alice", 0, AUTH_MALFORMED, NULL}, /* no ':' */
    {NULL, "", 0, AUTH_MALFORMED, NULL},
    {NULL, "alice:sec\tret", 0, AUTH_MALFORMED, NULL},   /* RFC 7617 §2: no control characters */
    {NULL, "alice:secret\0x", 14, AUTH_MALFORMED, NULL}, /* crypt would see "secret" */
    {NULL, "ali\177ce:secret", 0, AUTH_MALFORMED, NULL},
    {"Basic", NULL, 0, AUTH_MALFORMED, NULL},
    {"Basic ", NULL, 0, AUTH_MALFORMED, NULL},
    {"BasicYWxpY2U6c2VjcmV0", NULL, 0, AUTH_MALFORMED, NULL},
    {"Basic\tYWxpY2U6c2VjcmV0", NULL, 0, AUTH_MALFORMED, NULL},
    {"Basic \tYWxpY2U6c2VjcmV0", NULL, 0, AUTH_MALFORMED, NULL},
    {"Basicx YWxpY2U6c2VjcmV0", NULL, 0, AUTH_MALFORMED, NULL},
    {" Basic YWxpY2U6c2VjcmV0", NULL, 0, AUTH_MALFORMED, NULL},
    {"Basic YWxpY2U6c2VjcmV0 ", NULL, 0, AUTH_MALFORMED, NULL},
    {"Basic YWxpY2U6c2VjcmV", NULL, 0, AUTH_MALFORMED, NULL},
    {"Basic YWxpY2U6c2VjcmV0=", NULL, 0, AUTH_MALFORMED, NULL},
    {"Basic YWxpY2U6c2VjcmV0,", NULL, 0, AUTH_MALFORMED, NULL},
    {"Bearer YWxpY2U6c2VjcmV0", NULL, 0, AUTH_MALFORMED, NULL},
    {"Digest username=\"alice\", realm=\"x\"", NULL, 0, AUTH_MALFORMED, NULL},
    {"", NULL, 0, AUTH_MALFORMED, NULL},
};

START_TEST(basic_table)
{
    struct htpasswd *u = load_ok(USERS);
    char value[256];
    const char *v = basic_cases[_i].value, *user = NULL;
    size_t ulen = 0;
    enum auth_result res;

    if (basic_cases[_i].plain != NULL) {
        const char *p = basic_cases[_i].plain;
        basic_value(value, sizeof(value), p,
                    basic_cases[_i].plen ? basic_cases[_i].plen : strlen(p));
        v = value;
    }
    res = auth_check(NULL, u, v, strlen(v), 0, &user, &ulen);
    ck_assert_msg(res == basic_cases[_i].want, "'%s': %d, not %d", v, res, basic_cases[_i].want);
    if (res == AUTH_OK) {
        ck_assert_uint_eq(ulen, strlen(basic_cases[_i].user));
        ck_assert(memcmp(user, basic_cases[_i].user, ulen) == 0);
    }
    htpasswd_free(u);
}
END_TEST

/* AUTH_CREDENTIAL_MAX decoded bytes are read; one more is AUTH_MALFORMED unread */
START_TEST(credential_length)
{
    struct htpasswd *u = load_ok(USERS);
    static char plain[AUTH_CREDENTIAL_MAX + 2], value[2 * AUTH_CREDENTIAL_MAX];
    const char *user;
    size_t ulen;

    memcpy(plain, "alice:", 6);
    memset(plain + 6, 'x', sizeof(plain) - 6);
    basic_value(value, sizeof(value), plain, AUTH_CREDENTIAL_MAX);
    ck_assert_int_eq(auth_check(NULL, u, value, strlen(value), 0, &user, &ulen), AUTH_DENIED);
    basic_value(value, sizeof(value), plain, AUTH_CREDENTIAL_MAX + 1);
    ck_assert_int_eq(auth_check(NULL, u, value, strlen(value), 0, &user, &ulen), AUTH_MALFORMED);
    htpasswd_free(u);
}
END_TEST

/* every method taken, as a file's only user or among others, each verified both ways */
static const struct {
    const char *text, *user, *password;
    size_t count;
} accepted_cases[] = {
    {"alice:" ALICE_BCRYPT "\n", "alice", "secret", 1},
    {"alice:" BCRYPT_2B, "alice", "secret", 1}, /* no newline at the end */
    {"alice:" BCRYPT_2A "\n", "alice", "secret", 1},
    {"alice:" SHA512_CRYPT "\n", "alice", "secret", 1},
    {"sam:" SHA256_CRYPT "\n", "sam", "secret", 1},
    {"alice:" YESCRYPT "\n", "alice", "secret", 1},
    {"alice:" GOST_YESCRYPT "\n", "alice", "secret", 1},
    {"alice:" SCRYPT "\n", "alice", "secret", 1},
    {"# made with htpasswd -B\n\nbob:" BOB_BCRYPT "\n  # indented\n\t\ncarol:" CAROL_BCRYPT "\n",
     "carol", "pa:ss:", 2},
    {"bob:" BOB_BCRYPT "\r\nalice:" ALICE_BCRYPT "\r\n", "alice", "secret", 2}, /* CRLF */
    {"  alice:" ALICE_BCRYPT "  \n", "alice", "secret", 1},
    {"alice:" ALICE_BCRYPT ":Alice Liddell\n", "alice", "secret", 1}, /* a comment field */
    {"zed:" BOB_BCRYPT "\nbob:" DAVE_BCRYPT "\nalice:" ALICE_BCRYPT "\nmia:" CAROL_BCRYPT "\n",
     "alice", "secret", 4},
    {"a:" BOB_BCRYPT "\nab:" ALICE_BCRYPT "\nabc:" DAVE_BCRYPT "\n", "ab", "secret", 3},
};

START_TEST(accepted_table)
{
    struct htpasswd *u = load_ok(accepted_cases[_i].text);
    char value[256], plain[64];
    const char *user;
    size_t ulen;

    ck_assert_uint_eq(htpasswd_count(u), accepted_cases[_i].count);
    snprintf(plain, sizeof(plain), "%s:%s", accepted_cases[_i].user, accepted_cases[_i].password);
    basic_value(value, sizeof(value), plain, strlen(plain));
    ck_assert_msg(auth_check(NULL, u, value, strlen(value), 0, &user, &ulen) == AUTH_OK,
                  "%s not verified in '%s'", plain, accepted_cases[_i].text);
    ck_assert_uint_eq(ulen, strlen(accepted_cases[_i].user));
    ck_assert(memcmp(user, accepted_cases[_i].user, ulen) == 0);
    strcat(plain, "x");
    basic_value(value, sizeof(value), plain, strlen(plain));
    ck_assert_int_eq(auth_check(NULL, u, value, strlen(value), 0, &user, &ulen), AUTH_DENIED);
    htpasswd_free(u);
}
END_TEST

/* line 0: the message names the file only */
static const struct {
    const char *text;
    int line;
    const char *needle;
} refused_cases[] = {
    {"alice:" ALICE_BCRYPT "\nbob:$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/\n",
     2, /* openssl passwd -apr1 */
     "user 'bob': an apr1-MD5 hash, which libcrypt cannot verify; make it with htpasswd -B"},
    {"erin:secret\n", 1, "user 'erin': a plaintext password; make it with htpasswd -B"}, /* -p */
    {"carol:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n", 1, /* htpasswd -s */
     "user 'carol': a {SHA} hash (htpasswd -s: unsalted SHA-1, quick to guess); make it with "
     "htpasswd -B"},
    {"# old\ndave:Lyn/99APssPdM\n", 2, /* htpasswd -d */
     "user 'dave': a DES crypt hash (legacy: only 8 characters of a password count); make it "
     "with htpasswd -B"},
    {"mo:$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1\n", 1, /* openssl passwd -1 */
     "user 'mo': an MD5-crypt hash (legacy, quick to guess); make it with htpasswd -B"},
    {"x:$2x$05$60IqzjI/rmBJUhDPihGk5.SQQ9NYGYJU0oNhT5WymnDgSabqeC5i6\n", 1,
     "user 'x': a hash of a legacy or unknown method; make it with htpasswd -B"},
    {"x:$2y$05$60IqzjI/rmBJUhDPihGk5.SQQ9NYGYJU0oNhT5WymnD!\n", 1,
     "user 'x': a malformed bcrypt hash; make it with htpasswd -B"},
    {"x:$6$salt$abc def\n", 1,
     "user 'x': a malformed SHA-512-crypt hash; make it with htpasswd -B"},
    {"x:\n", 1, "user 'x': no hash; make it with htpasswd -B"},
    {"alice:" ALICE_BCRYPT "\n\nbob " BOB_BCRYPT "\n", 3,
     "no ':' after the user name (a line is user:hash, as htpasswd -B writes it)"},
    {":" ALICE_BCRYPT "\n", 1, "no user name before the ':'"},
    {"alice:" ALICE_BCRYPT "\nbob:" BOB_BCRYPT "\nalice:" DAVE_BCRYPT "\nalice:" DAVE_BCRYPT "\n",
     3, "user 'alice' is listed twice (first on line 1)"},
    {"zed:" BOB_BCRYPT "\nbob:" BOB_BCRYPT "\nzed:" ALICE_BCRYPT "\nbob:" DAVE_BCRYPT "\n", 3,
     "user 'zed' is listed twice (first on line 1)"},
    {"", 0, "no users; add one with htpasswd -B"},
    {"# nobody yet\n\n", 0, "no users; add one with htpasswd -B"},
};

START_TEST(refused_table)
{
    char path[64], err[512], prefix[128];
    struct htpasswd *u = load_text(refused_cases[_i].text, path, sizeof(path), err, sizeof(err));

    ck_assert_msg(u == NULL, "took '%s'", refused_cases[_i].text);
    if (refused_cases[_i].line > 0)
        snprintf(prefix, sizeof(prefix), "%s:%d: ", path, refused_cases[_i].line);
    else
        snprintf(prefix, sizeof(prefix), "%s: ", path);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "want '%s...', got '%s'", prefix, err);
    ck_assert_msg(strstr(err, refused_cases[_i].needle) != NULL, "want '%s' in '%s'",
                  refused_cases[_i].needle, err);
    ck_assert_msg(strchr(err, '\n') == NULL, "not one line: '%s'", err);
}
END_TEST

START_TEST(missing_file)
{
    char err[256];

    ck_assert_ptr_null(htpasswd_load("/nonexistent/htpasswd", err, sizeof(err)));
    ck_assert_str_eq(err, "/nonexistent/htpasswd: No such file or directory");
}
END_TEST

static enum auth_result check_plain(struct auth_cache *c, const struct htpasswd *u,
                                    const char *plain, uint64_t now_ms)
{
    char value[256];
    const char *user;
    size_t ulen;

    basic_value(value, sizeof(value), plain, strlen(plain));
    return auth_check(c, u, value, strlen(value), now_ms, &user, &ulen);
}

/* each check below either runs crypt once or not at all */
static const struct {
    const char *plain;
    enum auth_result want;
    unsigned long runs;
} result_cases[] = {
    {"alice:secret", AUTH_OK, 1},        {"alice:wrong", AUTH_DENIED, 1},
    {"mallory:secret", AUTH_DENIED, 1},  /* an unknown user runs crypt as well */
    {"mallory:hunter2", AUTH_DENIED, 1}, /* even with the first user's password */
    {"alice", AUTH_MALFORMED, 0},
};

START_TEST(result_table)
{
    struct htpasswd *u = load_ok("bob:" BOB_BCRYPT "\nalice:" ALICE_BCRYPT "\n");
    unsigned long before = auth_crypt_runs();

    ck_assert_int_eq(check_plain(NULL, u, result_cases[_i].plain, 0), result_cases[_i].want);
    ck_assert_uint_eq(auth_crypt_runs() - before, result_cases[_i].runs);
    htpasswd_free(u);
}
END_TEST

static double seconds_for(const struct htpasswd *u, const char *plain)
{
    double best = 1e9;
    int i;

    for (i = 0; i < 5; i++) {
        struct timespec a, b;
        double t;

        clock_gettime(CLOCK_MONOTONIC, &a);
        check_plain(NULL, u, plain, 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        t = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
        best = t < best ? t : best;
    }
    return best;
}

/* The crypt run an unknown user costs is a real one: of the file's own method and cost
 * (a setting libcrypt refused would answer in microseconds, not milliseconds). */
START_TEST(unknown_user_time)
{
    struct htpasswd *u = load_ok("alice:" ALICE_BCRYPT "\n");
    double wrong = seconds_for(u, "alice:wrong"), unknown = seconds_for(u, "mallory:wrong");

    ck_assert_msg(unknown > wrong / 4, "unknown user %.6f s, wrong password %.6f s", unknown,
                  wrong);
    htpasswd_free(u);
}
END_TEST

/* A scenario for one cache: its files, then checks in order, each with the crypt runs
 * the scenario has cost after it. A step's value is "Basic " and the base64 of plain,
 * unless given; on AUTH_OK the user is plain's, up to its ':'. */
struct cache_step {
    int file;
    const char *value, *plain;
    uint64_t now_ms;
    enum auth_result want;
    unsigned long runs;
};

static const struct {
    const char *files[3];
    unsigned entries;
    struct cache_step steps[8]; /* up to the first with no plain */
} cache_cases[] = {
    /* a hit within the minute from when it was verified, however often it was used */
    {{USERS},
     AUTH_CACHE_ENTRIES,
     {{0, NULL, "alice:secret", 1000, AUTH_OK, 1},
      {0, "Basic YWxpY2U6c2VjcmV0", "alice:secret", 30000, AUTH_OK, 1},
      {0, NULL, "alice:secret", 60999, AUTH_OK, 1},
      {0, NULL, "alice:secret", 61000, AUTH_OK, 2},
      {0, NULL, "alice:secret", 61001, AUTH_OK, 2},
      /* the key is the exact value: another spelling of it is verified on its own */
      {0, "basic YWxpY2U6c2VjcmV0", "alice:secret", 61002, AUTH_OK, 3}}},
    /* a wrong password or an unknown user is run every time, and what it leaves lets
     * neither the right one through unverified nor the wrong one through at all */
    {{USERS},
     AUTH_CACHE_ENTRIES,
     {{0, NULL, "alice:wrong", 0, AUTH_DENIED, 1},
      {0, NULL, "alice:wrong", 1, AUTH_DENIED, 2},
      {0, NULL, "mallory:wrong", 2, AUTH_DENIED, 3},
      {0, NULL, "mallory:wrong", 3, AUTH_DENIED, 4},
      {0, NULL, "alice:secret", 4, AUTH_OK, 5},
      {0, NULL, "alice:wrong", 5, AUTH_DENIED, 6},
      {0, NULL, "alice:secret", 6, AUTH_OK, 6}}},
    /* a reload builds a new struct htpasswd: the same bytes of another file never hit */
    {{USERS, USERS, "alice:" DAVE_BCRYPT "\n"}, /* in the third, alice's is hunter2 */
     AUTH_CACHE_ENTRIES,
     {{0, NULL, "alice:secret", 0, AUTH_OK, 1},
      {1, NULL, "alice:secret", 1, AUTH_OK, 2},
      {0, NULL, "alice:secret", 2, AUTH_OK, 2},
      {1, NULL, "alice:secret", 3, AUTH_OK, 2},
      {2, NULL, "alice:secret", 4, AUTH_DENIED, 3},
      {2, NULL, "alice:hunter2", 5, AUTH_OK, 4}}},
    /* full, the cache gives up the entry used longest ago */
    {{"alice:" ALICE_BCRYPT "\nbob:" BOB_BCRYPT "\ncarol:" CAROL_BCRYPT "\n"},
     2,
     {{0, NULL, "alice:secret", 0, AUTH_OK, 1},
      {0, NULL, "bob:hunter2", 1, AUTH_OK, 2},
      {0, NULL, "alice:secret", 2, AUTH_OK, 2}, /* bob's is the older now */
      {0, NULL, "carol:pa:ss:", 3, AUTH_OK, 3}, /* over bob's */
      {0, NULL, "alice:secret", 4, AUTH_OK, 3},
      {0, NULL, "carol:pa:ss:", 5, AUTH_OK, 3},
      {0, NULL, "bob:hunter2", 6, AUTH_OK, 4}}},
    /* with no entries it only costs */
    {{USERS},
     0,
     {{0, NULL, "alice:secret", 0, AUTH_OK, 1}, {0, NULL, "alice:secret", 1, AUTH_OK, 2}}},
};

START_TEST(cache_table)
{
    struct htpasswd *files[3] = {NULL};
    struct auth_cache *c = auth_cache_new(cache_cases[_i].entries);
    unsigned long runs = auth_crypt_runs();
    const struct cache_step *st;
    int f;

    for (f = 0; f < 3 && cache_cases[_i].files[f] != NULL; f++)
        files[f] = load_ok(cache_cases[_i].files[f]);
    for (st = cache_cases[_i].steps; st->plain != NULL; st++) {
        char value[256];
        const char *v = st->value, *user = NULL;
        size_t ulen = 0;
        enum auth_result res;

        if (v == NULL) {
            basic_value(value, sizeof(value), st->plain, strlen(st->plain));
            v = value;
        }
        res = auth_check(c, files[st->file], v, strlen(v), st->now_ms, &user, &ulen);
        ck_assert_msg(res == st->want, "step %d (%s): %d", (int)(st - cache_cases[_i].steps),
                      st->plain, res);
        ck_assert_msg(auth_crypt_runs() - runs == st->runs, "step %d (%s): %lu crypt runs",
                      (int)(st - cache_cases[_i].steps), st->plain, auth_crypt_runs() - runs);
        if (res == AUTH_OK)
            ck_assert(ulen == strcspn(st->plain, ":") && memcmp(user, st->plain, ulen) == 0);
    }
    for (f = 0; f < 3; f++)
        htpasswd_free(files[f]);
    auth_cache_free(c);
}
END_TEST

#define N(a) (sizeof(a) / sizeof((a)[0]))

Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("auth");

    tcase_add_loop_test(tc, base64_table, 0, N(base64_cases));
    tcase_add_loop_test(tc, basic_table, 0, N(basic_cases));
    tcase_add_test(tc, credential_length);
    tcase_add_loop_test(tc, accepted_table, 0, N(accepted_cases));
    tcase_add_loop_test(tc, refused_table, 0, N(refused_cases));
    tcase_add_test(tc, missing_file);
    tcase_add_loop_test(tc, result_table, 0, N(result_cases));
    tcase_add_test(tc, unknown_user_time);
    tcase_add_loop_test(tc, cache_table, 0, N(cache_cases));
    suite_add_tcase(s, tc);
    return s;
}
