/* Owns both logs. The error log goes to stderr, one line per event; the access
 * log is one write() per request so lines from different workers never interleave. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "portico/buf.h"
#include "portico/httpdate.h"
#include "portico/log.h"

static char ident[32] = "portico";
static int access_fd = -1;
static int access_json;
static const char hex[] = "0123456789ABCDEF";

void log_set_ident(int is_worker)
{
    if (is_worker)
        snprintf(ident, sizeof(ident), "portico[%ld]", (long)getpid());
    else
        snprintf(ident, sizeof(ident), "portico");
}

static void emit(const char *tag, int err, const char *fmt, va_list ap)
{
    char line[1024];
    struct buf b;
    int n;

    buf_init(&b, line, sizeof(line) - 1);
    buf_printf(&b, "%s: %s", ident, tag);
    n = vsnprintf(b.data + b.len, b.cap - b.len, fmt, ap);
    if (n > 0)
        b.len += (size_t)n < b.cap - b.len ? (size_t)n : b.cap - b.len - 1;
    if (err)
        buf_printf(&b, ": %s", strerror(err));
    b.data[b.len++] = '\n';
    if (write(STDERR_FILENO, b.data, b.len) < 0) {
        /* nowhere left to report it */
    }
}

#define DEFINE_LOG(name, tag, with_errno)                                                     \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        int saved = errno;                                                                         \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        emit(tag, with_errno ? saved : 0, fmt, ap);                                                \
        va_end(ap);                                                                                \
        errno = saved;                                                                             \
    }

DEFINE_LOG(log_error, "error: ", 1)
DEFINE_LOG(log_errorx, "error: ", 0)
DEFINE_LOG(log_warn, "warning: ", 1)
DEFINE_LOG(log_warnx, "warning: ", 0)
DEFINE_LOG(log_info, "", 0)

int log_access_is_file(const char *path)
{
    return path != NULL && strcmp(path, "-") != 0 && strcmp(path, "off") != 0;
}

int log_access_open(const char *path)
{
    if (access_fd > STDERR_FILENO)
        close(access_fd);
    access_fd = -1;
    if (path == NULL || strcmp(path, "off") == 0)
        return 0;
    if (strcmp(path, "-") == 0) {
        access_fd = STDOUT_FILENO;
        return 0;
    }
    access_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return access_fd < 0 ? -1 : 0;
}

int log_access_enabled(void)
{
    return access_fd >= 0;
}

int log_access_fd(void)
{
    return access_fd;
}

void log_access_use_fd(int fd)
{
    if (access_fd > STDERR_FILENO)
        close(access_fd);
    access_fd = fd;
}

/* How many bytes at s need no escape in either format: printable ASCII but '"' and
 * '\\' (and, in a field without quotes, a space). Lines are mostly such runs, so
 * they are copied whole rather than a byte at a time. */
static size_t plain_run(const char *s, size_t len, int field)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || (field && c == ' '))
            break;
        i++;
    }
    return i;
}

/* Escapes a client-supplied span as nginx does: '"', '\' and bytes outside
 * printable ASCII become \xHH, so a log line can never be forged or split; in a
 * field without quotes (the user), a space too. */
static void put_escaped_as(struct buf *b, const char *s, size_t len, int field)
{
    size_t i = 0, run;

    if (len == 0) {
        buf_puts(b, "-");
        return;
    }
    while (i < len) {
        run = plain_run(s + i, len - i, field);
        buf_append(b, s + i, run);
        i += run;
        if (i < len) {
            unsigned char c = (unsigned char)s[i++];
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            buf_append(b, esc, 4);
        }
    }
}

static void put_escaped(struct buf *b, const char *s, size_t len)
{
    put_escaped_as(b, s, len, 0);
}

#define STAMP_LEN 32

/* A log clock, formatted again only when the second changes. */
struct stamp {
    time_t when;
    int set;
    char text[STAMP_LEN];
};

static const char *stamp_of(struct stamp *st, time_t when, void (*format)(time_t, char *))
{
    if (!st->set || st->when != when) {
        format(when, st->text);
        st->when = when;
        st->set = 1;
    }
    return st->text;
}

/* RFC 3339 in UTC, to the second: "2026-12-07T05:12:33Z". */
static void format_rfc3339(time_t t, char *out)
{
    struct tm tm;

    httpdate_utc(t, &tm);
    snprintf(out, STAMP_LEN, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void put_combined(struct buf *b, const struct log_access_entry *e)
{
    static struct stamp date_cache;
    const char *date = stamp_of(&date_cache, e->when, httpdate_format_log);

    /* appended piece by piece: printf's parsing cost more than the rest of the line */
    buf_puts(b, e->client != NULL ? e->client : "-");
    buf_puts(b, " - ");
    put_escaped_as(b, e->user, e->user ? e->user_len : 0, 1);
    buf_puts(b, " [");
    buf_puts(b, date);
    buf_puts(b, "] \"");
    put_escaped(b, e->request_line, e->request_line_len);
    buf_puts(b, "\" ");
    buf_put_u64(b, (uint64_t)(e->status > 0 ? e->status : 0));
    buf_puts(b, " ");
    buf_put_u64(b, e->bytes);
    buf_puts(b, " \"");
    put_escaped(b, e->referer, e->referer_len);
    buf_puts(b, "\" \"");
    put_escaped(b, e->user_agent, e->user_agent_len);
    buf_puts(b, "\"");
}

/* The length of the valid UTF-8 sequence at p, or 0: RFC 3629 §4 bounds the
 * second byte so that no overlong form, surrogate or code point past U+10FFFF
 * passes. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t want, i;

    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        want = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        want = 3;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        want = 4;
    else
        return 0;
    if (p[0] == 0xE0)
        lo = 0xA0;
    else if (p[0] == 0xED)
        hi = 0x9F;
    else if (p[0] == 0xF0)
        lo = 0x90;
    else if (p[0] == 0xF4)
        hi = 0x8F;
    if (n < want)
        return 0;
    for (i = 1; i < want; i++, lo = 0x80, hi = 0xBF)
        if (p[i] < lo || p[i] > hi)
            return 0;
    return want;
}

#define JSON_UNIT_MAX 6 /* the longest form of one input byte: \u00XX */

/* The JSON form of the character at p, into unit (6 bytes); *used says how many
 * input bytes it stands for. Each byte that is no part of valid UTF-8 becomes
 * \u00XX of its value, as control bytes do: the line stays valid JSON and loses
 * nothing, since a valid character is never written that way (a JSON parser does
 * read such an escape as U+0080..U+00FF, not as the raw byte). U+2028 and U+2029
 * are escaped too, as Go's encoding/json does: JavaScript before ES2019 ends a
 * line there. */
static size_t json_unit(const unsigned char *p, size_t n, char *unit, size_t *used)
{
    size_t k = p[0] < 0x80 ? 0 : utf8_len(p, n);
    char brief = p[0] == '\n' ? 'n' : p[0] == '\r' ? 'r' : p[0] == '\t' ? 't' : 0;

    *used = k ? k : 1;
    if (k == 3 && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) {
        memcpy(unit, p[2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
        return 6;
    }
    if (k != 0) {
        memcpy(unit, p, k);
        return k;
    }
    if (p[0] == '"' || p[0] == '\\' || brief) {
        unit[0] = '\\';
        unit[1] = brief ? brief : (char)p[0];
        return 2;
    }
    if (p[0] >= 0x20 && p[0] < 0x7f) {
        unit[0] = (char)p[0];
        return 1;
    }
    memcpy(unit, "\\u00", 4);
    unit[4] = hex[p[0] >> 4];
    unit[5] = hex[p[0] & 15];
    return 6;
}

/* Appends s as the inside of a JSON string, stopping before the first unit that
 * would pass max bytes, so a cut never splits an escape or a UTF-8 sequence; with
 * b NULL it only measures. Returns the bytes written. */
static size_t put_json_chars(struct buf *b, const char *s, size_t len, size_t max)
{
    size_t i = 0, out = 0, used, n;
    char unit[JSON_UNIT_MAX];

    while (i < len) {
        /* plain bytes stand for themselves, one each, so a cut may fall among them */
        n = plain_run(s + i, len - i < max - out ? len - i : max - out, 0);
        if (n > 0) {
            if (b != NULL)
                buf_append(b, s + i, n);
            out += n;
            i += n;
            continue;
        }
        n = json_unit((const unsigned char *)s + i, len - i, unit, &used);
        if (n > max - out)
            break;
        if (b != NULL)
            buf_append(b, unit, n);
        out += n;
        i += used;
    }
    return out;
}

/* One key of a JSON line and its value: a number, or a string (NULL for null). */
struct jfield {
    const char *key; /* with the punctuation before it */
    const char *s;
    size_t len;
    uint64_t num;
    int is_num;
    size_t room; /* how much of the escaped string fits; SIZE_MAX while undecided */
};

#define JFIELDS 12

static size_t cstr_len(const char *s)
{
    return s ? strlen(s) : 0;
}

/* Fills f with the line's keys in their order; returns how many ("user" only when
 * someone authenticated). */
static size_t json_fields(const struct log_access_entry *e, const char *stamp, struct jfield *f)
{
    const struct jfield all[JFIELDS] = {
        {.key = "{\"time\":", .s = stamp, .len = strlen(stamp)},
        {.key = ",\"client\":", .s = e->client, .len = cstr_len(e->client)},
        {.key = ",\"host\":", .s = e->host, .len = e->host_len},
        {.key = ",\"method\":", .s = e->method, .len = cstr_len(e->method)},
        {.key = ",\"path\":", .s = e->target, .len = e->target_len},
        {.key = ",\"status\":", .num = (uint64_t)(e->status > 0 ? e->status : 0), .is_num = 1},
        {.key = ",\"bytes\":", .num = e->bytes, .is_num = 1},
        {.key = ",\"duration_us\":", .num = e->duration_us, .is_num = 1},
        {.key = ",\"user_agent\":", .s = e->user_agent, .len = e->user_agent_len},
        {.key = ",\"referer\":", .s = e->referer, .len = e->referer_len},
        {.key = ",\"tls\":", .s = e->tls, .len = cstr_len(e->tls)},
        {.key = ",\"user\":", .s = e->user, .len = e->user_len},
    };
    size_t n = e->user ? JFIELDS : JFIELDS - 1;

    memcpy(f, all, n * sizeof(*f));
    return n;
}

static size_t u64_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Shares room among the string values, the smallest served first: each gets all
 * it needs or an equal share of what the smaller ones left, so a 10 KB User-Agent
 * is cut alone and the user and referer survive it whole. The keys and numbers
 * take under 250 bytes, so room never runs out before them. */
static void share_room(struct jfield *f, size_t n, size_t room)
{
    size_t i, open = 0, share = 0, worst = 0, want[JFIELDS];
    int served = 1;

    for (i = 0; i < n; i++) {
        room -= strlen(f[i].key) + (f[i].is_num ? u64_len(f[i].num) : f[i].s ? 2 : 4);
        /* a byte is at most a 6-byte escape */
        f[i].room = f[i].is_num || f[i].s == NULL ? 0 : JSON_UNIT_MAX * f[i].len;
        worst += f[i].room;
    }
    if (worst <= room) /* the usual line: every value fits whole, however escaped */
        return;
    for (i = 0; i < n; i++) {
        f[i].room = f[i].is_num || f[i].s == NULL ? 0 : SIZE_MAX;
        want[i] = f[i].room ? put_json_chars(NULL, f[i].s, f[i].len, room) : 0;
        open += f[i].room != 0;
    }
    while (open > 0 && served) {
        share = room / open;
        served = 0;
        for (i = 0; i < n; i++) {
            if (f[i].room == SIZE_MAX && want[i] <= share) {
                f[i].room = want[i];
                room -= want[i];
                open--;
                served = 1;
            }
        }
    }
    for (i = 0; i < n; i++)
        if (f[i].room == SIZE_MAX)
            f[i].room = share;
}

static void put_json(struct buf *b, const struct log_access_entry *e)
{
    static struct stamp time_cache;
    struct jfield f[JFIELDS];
    size_t i, n = json_fields(e, stamp_of(&time_cache, e->when, format_rfc3339), f);

    share_room(f, n, b->cap - b->len - 1); /* the last byte is for the closing brace */
    for (i = 0; i < n; i++) {
        buf_puts(b, f[i].key);
        if (f[i].is_num) {
            buf_put_u64(b, f[i].num);
        } else if (f[i].s == NULL) {
            buf_puts(b, "null");
        } else {
            buf_puts(b, "\"");
            put_json_chars(b, f[i].s, f[i].len, f[i].room);
            buf_puts(b, "\"");
        }
    }
    buf_puts(b, "}");
}

void log_access(const struct log_access_entry *e)
{
    char line[4096];
    struct buf b;

    if (access_fd < 0)
        return;
    buf_init(&b, line, sizeof(line) - 1); /* the last byte is for the newline */
    if (access_json)
        put_json(&b, e);
    else
        put_combined(&b, e);
    b.data[b.len++] = '\n';
    if (write(access_fd, b.data, b.len) < 0) {
        /* a full disk must not stop serving; the error log would say the same */
    }
}

void log_access_set_json(int json)
{
    access_json = json;
}
