/* The access log (src/log.c): entries written to a temporary file and read back;
 * JSON lines pass a strict validator of our own, independent of the escaper. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portico/log.h"
#include "suites.h"

#define LOG_LINE_CAP 4096 /* log.c's line buffer, newline included */
#define S(lit)       lit, sizeof(lit) - 1

enum field { F_HOST, F_METHOD, F_TARGET, F_TLS, F_UA, F_REFERER, F_USER, F_LINE, F_COUNT };

static void set_field(struct log_access_entry *e, enum field f, const char *s, size_t len)
{
    switch (f) {
    case F_HOST:
        e->host = s, e->host_len = len;
        break;
    case F_METHOD:
        e->method = s;
        break;
    case F_TARGET:
        e->target = s, e->target_len = len;
        break;
    case F_TLS:
        e->tls = s;
        break;
    case F_UA:
        e->user_agent = s, e->user_agent_len = len;
        break;
    case F_REFERER:
        e->referer = s, e->referer_len = len;
        break;
    case F_USER:
        e->user = s, e->user_len = len;
        break;
    default:
        e->request_line = s, e->request_line_len = len;
    }
}

/* The brief's example request, 2026-12-07T05:12:33Z. */
static struct log_access_entry base_entry(void)
{
    struct log_access_entry e;

    memset(&e, 0, sizeof(e));
    e.client = "203.0.113.9";
    set_field(&e, F_LINE, S("GET /a?b=1 HTTP/1.1"));
    set_field(&e, F_METHOD, S("GET"));
    set_field(&e, F_TARGET, S("/a?b=1"));
    set_field(&e, F_HOST, S("example.com"));
    set_field(&e, F_TLS, S("TLSv1.3"));
    set_field(&e, F_UA, S("curl/7.88.1"));
    set_field(&e, F_REFERER, S("https://x/"));
    set_field(&e, F_USER, S("alice"));
    e.duration_us = 517;
    e.status = 200;
    e.bytes = 1234;
    e.when = 1796620353;
    return e;
}

/* Logs e alone into a fresh file and reads the file back, NUL-terminated. */
static size_t log_one(const struct log_access_entry *e, int json, char *out, size_t cap)
{
    char path[] = "/tmp/portico-check-log-XXXXXX";
    int fd = mkstemp(path);
    ssize_t n;

    ck_assert_msg(fd >= 0, "mkstemp failed");
    ck_assert_int_eq(log_access_open(path), 0);
    log_access_set_json(json);
    log_access(e);
    log_access_open(NULL);
    n = pread(fd, out, cap - 1, 0);
    close(fd);
    unlink(path);
    ck_assert_int_ge(n, 0);
    out[n] = '\0';
    return (size_t)n;
}

/* Length of the minimal UTF-8 encoding at p of a scalar value, or 0. */
static size_t utf8_ok(const unsigned char *p, size_t n)
{
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 0;
    uint32_t cp = p[0] & (0x7F >> len);
    size_t i;

    if (len == 0 || len > n || p[0] >= 0xF8)
        return 0;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Length of the JSON string at s (quotes included), or 0 if it is not one. */
static size_t json_string(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 1, k;

    if (n == 0 || p[0] != '"')
        return 0;
    while (i < n && p[i] != '"') {
        if (p[i] == '\\') {
            if (i + 1 < n && strchr("\"\\/bfnrt", p[i + 1]) && p[i + 1])
                k = 2;
            else if (i + 5 < n && p[i + 1] == 'u' &&
                     strspn(s + i + 2, "0123456789abcdefABCDEF") >= 4)
                k = 6;
            else
                return 0;
        } else if (p[i] < 0x20) {
            return 0;
        } else {
            k = p[i] < 0x80 ? 1 : utf8_ok(p + i, n - i);
            if (k == 0)
                return 0;
        }
        i += k;
    }
    return i < n ? i + 1 : 0;
}

/* NULL if line is one flat JSON object (strings, unsigned numbers, null) and a
 * newline, else what is wrong, with *at where; its keys go to keys, comma-separated. */
static const char *json_check(const char *line, size_t n, size_t *at, char *keys, size_t keycap)
{
    size_t i = 1, k, klen = 0;

    *at = 0;
    if (n < 3 || line[0] != '{' || memcmp(line + n - 2, "}\n", 2) != 0)
        return "not an object and a newline";
    for (;; *at = i) {
        if ((k = json_string(line + i, n - i)) == 0 || klen >= keycap)
            return "bad key";
        klen += (size_t)snprintf(keys + klen, keycap - klen, "%s%.*s", klen ? "," : "",
                                 (int)(k - 2), line + i + 1);
        i += k;
        if (line[i++] != ':')
            return "no colon";
        *at = i;
        if (line[i] == '"')
            k = json_string(line + i, n - i);
        else if (strncmp(line + i, "null", 4) == 0)
            k = 4;
        else
            k = strspn(line + i, "0123456789");
        if (k == 0)
            return "bad value";
        i += k;
        if (line[i] == '}')
            return i + 2 == n ? NULL : "bytes after the object";
        if (line[i++] != ',')
            return "no comma";
    }
}

static const char *const all_keys =
    "time,client,host,method,path,status,bytes,duration_us,user_agent,referer,tls,user";

static void assert_json(const char *line, size_t n, const char *want_keys)
{
    char keys[256] = "";
    size_t at;
    const char *why = json_check(line, n, &at, keys, sizeof(keys));

    /* Check refuses long messages: show the value that went wrong, not the line */
    ck_assert_msg(why == NULL, "%s at byte %zu: %.100s", why, at, line + at);
    ck_assert_str_eq(keys, want_keys);
    ck_assert_uint_le(n, LOG_LINE_CAP);
}

#define NULLED ((1u << F_COUNT) - 1)

static const struct {
    int json;
    unsigned nulled; /* bit per enum field set to NULL */
    const char *want;
} line_cases[] = {
    {0, 0,
     "203.0.113.9 - alice [07/Dec/2026:05:12:33 +0000] \"GET /a?b=1 HTTP/1.1\" 200 1234 "
     "\"https://x/\" \"curl/7.88.1\"\n"},
    {0, NULLED, "203.0.113.9 - - [07/Dec/2026:05:12:33 +0000] \"-\" 200 1234 \"-\" \"-\"\n"},
    {1, 0,
     "{\"time\":\"2026-12-07T05:12:33Z\",\"client\":\"203.0.113.9\",\"host\":\"example.com\","
     "\"method\":\"GET\",\"path\":\"/a?b=1\",\"status\":200,\"bytes\":1234,\"duration_us\":517,"
     "\"user_agent\":\"curl/7.88.1\",\"referer\":\"https://x/\",\"tls\":\"TLSv1.3\","
     "\"user\":\"alice\"}\n"},
    {1, NULLED,
     "{\"time\":\"2026-12-07T05:12:33Z\",\"client\":\"203.0.113.9\",\"host\":null,"
     "\"method\":null,\"path\":null,\"status\":200,\"bytes\":1234,\"duration_us\":517,"
     "\"user_agent\":null,\"referer\":null,\"tls\":null}\n"},
    {1, 1u << F_USER,
     "{\"time\":\"2026-12-07T05:12:33Z\",\"client\":\"203.0.113.9\",\"host\":\"example.com\","
     "\"method\":\"GET\",\"path\":\"/a?b=1\",\"status\":200,\"bytes\":1234,\"duration_us\":517,"
     "\"user_agent\":\"curl/7.88.1\",\"referer\":\"https://x/\",\"tls\":\"TLSv1.3\"}\n"},
};

START_TEST(whole_lines)
{
    struct log_access_entry e = base_entry();
    char out[2 * LOG_LINE_CAP];
    size_t n;
    int f;

    for (f = 0; f < F_COUNT; f++)
        if (line_cases[_i].nulled & (1u << f))
            set_field(&e, (enum field)f, NULL, 0);
    n = log_one(&e, line_cases[_i].json, out, sizeof(out));
    ck_assert_str_eq(out, line_cases[_i].want);
    if (line_cases[_i].json)
        assert_json(out, n,
                    e.user ? all_keys
                           : "time,client,host,method,path,status,bytes,"
                             "duration_us,user_agent,referer,tls");
}
END_TEST

struct escape_case {
    enum field field;
    const char *value;
    size_t len;
    const char *want;
};

/* One field of the base entry replaced; want is that field in the JSON line with
 * the start of the next key, so a value can neither stop short nor run on. */
static const struct escape_case escape_cases[] = {
    {F_UA, S("a\"b\\c/"), ",\"user_agent\":\"a\\\"b\\\\c/\",\"referer\""},
    {F_UA, S("\x01\x1f\x7f\b\f"), "\"user_agent\":\"\\u0001\\u001F\\u007F\\u0008\\u000C\",\""},
    {F_TARGET, S("/a\r\nb\tc"), "\"path\":\"/a\\r\\nb\\tc\",\"status\""},
    {F_REFERER, S("x\0y"), "\"referer\":\"x\\u0000y\",\"tls\""},
    {F_HOST, S("caf\xc3\xa9.example"), "\"host\":\"caf\xc3\xa9.example\",\"method\""},
    {F_TARGET, S("/\xe6\x97\xa5\xe6\x9c\xac"), "\"path\":\"/\xe6\x97\xa5\xe6\x9c\xac\",\"status\""},
    {F_UA, S("\xf0\x9f\x98\x80"), "\"user_agent\":\"\xf0\x9f\x98\x80\",\""},
    {F_UA, S("\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf"), /* U+D7FF, U+E000, U+10FFFF */
     "\"user_agent\":\"\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf\",\""},
    {F_UA, S("a\x80-"), "\"user_agent\":\"a\\u0080-\",\""},
    {F_UA, S("\xc0\xaf\xc1\xbf"), "\"user_agent\":\"\\u00C0\\u00AF\\u00C1\\u00BF\",\""},
    {F_UA, S("\xe0\x80\xaf"), "\"user_agent\":\"\\u00E0\\u0080\\u00AF\",\""},
    {F_UA, S("\xf0\x82\x82\xac"), "\"user_agent\":\"\\u00F0\\u0082\\u0082\\u00AC\",\""},
    {F_UA, S("\xed\xa0\x80"), "\"user_agent\":\"\\u00ED\\u00A0\\u0080\",\""},
    {F_UA, S("\xf4\x90\x80\x80"), "\"user_agent\":\"\\u00F4\\u0090\\u0080\\u0080\",\""},
    {F_UA, S("\xf5\xff\xfe"), "\"user_agent\":\"\\u00F5\\u00FF\\u00FE\",\""},
    {F_UA, S("ab\xe6\x97"), "\"user_agent\":\"ab\\u00E6\\u0097\",\""},
    {F_UA, S("\xe6\x97-\xc3"), "\"user_agent\":\"\\u00E6\\u0097-\\u00C3\",\""},
    {F_UA, S("\xc3\xc3\xa9"), "\"user_agent\":\"\\u00C3\xc3\xa9\",\""},
    {F_UA, S("-\xe2\x80\xa8-\xe2\x80\xa9"), "\"user_agent\":\"-\\u2028-\\u2029\",\""},
    {F_METHOD, S("G\"T"), "\"method\":\"G\\\"T\",\"path\""},
    {F_TLS, S("TLS\n"), "\"tls\":\"TLS\\n\",\"user\""},
    {F_USER, S("al\"ice\\"), ",\"user\":\"al\\\"ice\\\\\"}\n"},
    {F_REFERER, S(""), "\"referer\":\"\",\"tls\""},
};

/* The base entry with c's field replaced, logged in one format: want is in the line,
 * which is one line. Returns the line's length. */
static size_t check_escape(const struct escape_case *c, int json, char *out, size_t cap)
{
    struct log_access_entry e = base_entry();
    size_t n;

    set_field(&e, c->field, c->value, c->len);
    n = log_one(&e, json, out, cap);
    ck_assert_msg(strstr(out, c->want) != NULL, "no %s in %.300s", c->want, out);
    ck_assert_msg(memchr(out, '\n', n) == out + n - 1, "line split: %.300s", out);
    return n;
}

START_TEST(escapes)
{
    char out[2 * LOG_LINE_CAP];

    assert_json(out, check_escape(&escape_cases[_i], 1, out, sizeof(out)), all_keys);
}
END_TEST

/* The combined format escapes as nginx does: '"', '\', control and non-ASCII bytes as
 * \xHH, and in the unquoted user field a space too; want runs into its neighbours. */
static const struct escape_case combined_cases[] = {
    {F_UA, S("a\"b\\c/"), " \"a\\x22b\\x5Cc/\"\n"},
    {F_UA, S("\x01\x7f\xc3\xa9 z\xff"), " \"\\x01\\x7F\\xC3\\xA9 z\\xFF\"\n"},
    {F_USER, S("al ice"), "203.0.113.9 - al\\x20ice [07/Dec"},
    {F_LINE, S("GET /\r\n HTTP/1.1"), "] \"GET /\\x0D\\x0A HTTP/1.1\" 200 1234 \""},
    {F_REFERER, S(""), "1234 \"-\" \"curl/7.88.1\"\n"},
    {F_REFERER, S("\"\""), "1234 \"\\x22\\x22\" \"curl"},
};

START_TEST(combined_escapes)
{
    char out[2 * LOG_LINE_CAP];

    check_escape(&combined_cases[_i], 0, out, sizeof(out));
}
END_TEST

/* Bodies of over-long fields: plain, 2-byte and 6-byte escapes, 2-, 3- and 4-byte
 * UTF-8, a bad byte; each tried at six offsets so the cut lands in every place. */
static const char *const fillers[] = {
    "a", "\"", "\x01", "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "\xff", "\xe2\x80\xa8",
};

static void fill(char *s, size_t len, size_t skew, const char *filler)
{
    size_t i, k = strlen(filler);

    memset(s, 'x', skew);
    for (i = skew; i + k <= len; i += k)
        memcpy(s + i, filler, k);
    memset(s + i, 'y', len - i);
}

START_TEST(truncation)
{
    static char ua[10240], referer[10240];
    struct log_access_entry e = base_entry();
    char out[2 * LOG_LINE_CAP];
    size_t n, skew;

    for (skew = 0; skew < 6; skew++) {
        fill(ua, sizeof(ua), skew, fillers[_i]);
        fill(referer, sizeof(referer), 5 - skew, fillers[_i]);
        /* a 10 KB User-Agent alone, or with a 10 KB Referer */
        set_field(&e, F_UA, ua, sizeof(ua));
        set_field(&e, F_REFERER, referer, _i % 2 ? sizeof(referer) : 0);
        n = log_one(&e, 1, out, sizeof(out));
        assert_json(out, n, all_keys);
        /* at most one unit (6 bytes) short in each cut field: the room is used */
        ck_assert_uint_ge(n, LOG_LINE_CAP - 12);
        ck_assert_msg(strstr(out, "\"tls\":\"TLSv1.3\",\"user\":\"alice\"}\n") != NULL,
                      "short fields cut: %s", out + n - 80);
    }
}
END_TEST

/* Every span huge at once: each still gets a share, none is emptied. */
START_TEST(all_long)
{
    static char big[10240];
    struct log_access_entry e = base_entry();
    char out[2 * LOG_LINE_CAP];
    size_t n;
    int f;

    memset(big, 'z', sizeof(big));
    for (f = 0; f < F_COUNT; f++)
        if (f != F_METHOD && f != F_TLS)
            set_field(&e, (enum field)f, big, sizeof(big));
    n = log_one(&e, 1, out, sizeof(out));
    assert_json(out, n, all_keys);
    ck_assert_ptr_nonnull(strstr(out, "\"user\":\"zzzzzzzzzzzzzzzzzzzz"));
    ck_assert_ptr_nonnull(strstr(out, "\"host\":\"zzzzzzzzzzzzzzzzzzzz"));
    ck_assert_ptr_nonnull(strstr(out, "\"tls\":\"TLSv1.3\""));
}
END_TEST

Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");

    tcase_add_loop_test(tc, whole_lines, 0, sizeof(line_cases) / sizeof(line_cases[0]));
    tcase_add_loop_test(tc, escapes, 0, sizeof(escape_cases) / sizeof(escape_cases[0]));
    tcase_add_loop_test(tc, combined_escapes, 0,
                        sizeof(combined_cases) / sizeof(combined_cases[0]));
    tcase_add_loop_test(tc, truncation, 0, sizeof(fillers) / sizeof(fillers[0]));
    tcase_add_test(tc, all_long);
    suite_add_tcase(s, tc);
    return s;
}
