/* Owns the bytes of a response head, multipart/byteranges framing and the built-in
 * error and redirect bodies. Never decides a status and never writes to a socket. */
#include "build-config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "portico/httpdate.h"
#include "portico/response.h"
#include "portico/rules.h"

/* the Date header line, formatted once a second; date points at its value */
static char date_line[] = "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n";
static char *const date = date_line + sizeof("Date: ") - 1;
static time_t date_when = -1;
static uint64_t boundary_state;

void response_init(struct response *r)
{
    memset(r, 0, offsetof(struct response, ranges));
    r->own_fd = -1;
    r->hsts = -1;
}

void response_release(struct response *r)
{
    filecache_release(r->file);
    r->file = NULL;
    if (r->own_fd >= 0)
        close(r->own_fd);
    r->own_fd = -1;
}

/* 1 when line is a header line called name */
static int line_named(const struct str *line, const char *name, size_t len)
{
    return line->len > len && line->p[len] == ':' && strncasecmp(line->p, name, len) == 0;
}

void response_drop_line(struct response *r, const char *name, size_t len)
{
    int i, n = 0;

    for (i = 0; i < r->nextra; i++)
        if (!line_named(&r->extra[i], name, len))
            r->extra[n++] = r->extra[i];
    r->nextra = n;
}

int response_append_line(struct response *r, const char *line, size_t len)
{
    if (r->nextra == RESPONSE_EXTRA_MAX)
        return -1;
    r->extra[r->nextra].p = line;
    r->extra[r->nextra++].len = len;
    return 0;
}

int response_add_line(struct response *r, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);

    if (colon != NULL)
        response_drop_line(r, line, (size_t)(colon - line));
    return response_append_line(r, line, len);
}

int response_body_fd(const struct response *r)
{
    return r->file ? r->file->fd : r->own_fd;
}

void response_tick(time_t now)
{
    if (now != date_when) {
        httpdate_format(now, date);
        date[HTTPDATE_LEN] = '\r'; /* over httpdate_format's NUL */
        date_when = now;
    }
    if (boundary_state == 0)
        boundary_state = ((uint64_t)now << 20) ^ (uint64_t)getpid() ^ 0x9e3779b97f4a7c15ull;
}

#define PUT_LITERAL(b, s) buf_append((b), (s), sizeof(s) - 1)

static void put_header_n(struct buf *b, const char *name, size_t name_len, const char *value,
                         size_t value_len)
{
    buf_append(b, name, name_len);
    PUT_LITERAL(b, ": ");
    buf_append(b, value, value_len);
    PUT_LITERAL(b, "\r\n");
}

/* name is a string literal: its length is known when compiled */
#define put_header(b, name, value) put_header_n((b), (name), sizeof(name) - 1, (value), strlen(value))

/* "HTTP/1.1 200 OK\r\n" and the Server line, without printf */
static void put_status_line(struct buf *b, enum http_status status, unsigned omit)
{
    char code[4] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), ' '};

    if (status == HTTP_OK) {
        PUT_LITERAL(b, "HTTP/1.1 200 OK");
    } else {
        PUT_LITERAL(b, "HTTP/1.1 ");
        buf_append(b, code, sizeof(code));
        buf_puts(b, http_reason(status));
    }
    if (omit & OWN_SERVER)
        PUT_LITERAL(b, "\r\n");
    else
        PUT_LITERAL(b, "\r\nServer: " PACKAGE_NAME "/" PACKAGE_VERSION "\r\n");
}

static void error_body(struct buf *body, enum http_status status)
{
    buf_printf(body,
               "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%d %s</title></head>\n"
               "<body><h1>%d %s</h1><hr><p>portico</p></body></html>\n",
               (int)status, http_reason(status), (int)status, http_reason(status));
}

static void part_header(struct buf *b, const char *boundary, const struct response *r,
                        const struct byte_range *br)
{
    buf_printf(b, "\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %llu-%llu/%llu\r\n\r\n",
               boundary, r->content_type ? r->content_type : "application/octet-stream",
               (unsigned long long)br->first, (unsigned long long)br->last,
               (unsigned long long)r->complete_length);
}

static void next_boundary(char *out, size_t cap)
{
    /* xorshift: unpredictable enough that a file's bytes do not contain it by chance */
    boundary_state ^= boundary_state << 13;
    boundary_state ^= boundary_state >> 7;
    boundary_state ^= boundary_state << 17;
    snprintf(out, cap, "portico-%016llx", (unsigned long long)boundary_state);
}

/* Content-Encoding through Cache-Control: what describes the representation */
static void put_validators(struct buf *out, const struct response *r)
{
    unsigned omit = r->omit;

    if (r->content_encoding && !(omit & OWN_CONTENT_ENCODING))
        put_header(out, "Content-Encoding", r->content_encoding);
    if (r->vary_encoding && !(omit & OWN_VARY))
        put_header(out, "Vary", "Accept-Encoding");
    if (r->accept_ranges && (r->status == HTTP_OK || r->status == HTTP_PARTIAL_CONTENT) &&
        !(omit & OWN_ACCEPT_RANGES))
        put_header(out, "Accept-Ranges", "bytes");
    if (r->etag && !(omit & OWN_ETAG))
        put_header(out, "ETag", r->etag);
    if (r->modified_now && !(omit & OWN_LAST_MODIFIED))
        put_header_n(out, "Last-Modified", 13, date, HTTPDATE_LEN);
    else if (r->last_modified && !(omit & OWN_LAST_MODIFIED))
        put_header_n(out, "Last-Modified", 13, r->last_modified, HTTPDATE_LEN);
    if (r->cache_control)
        put_header(out, "Cache-Control", r->cache_control);
}

/* A whole-file 200's headers from Content-Type to Cache-Control are the same for
 * every request: composed once into the file's memo slot, then copied. The fields
 * before bytes say what they were composed from. */
struct head_memo {
    const char *content_type, *content_encoding, *cache_control;
    unsigned flags;
    unsigned len; /* 0: none yet */
    char bytes[FC_MEMO_SIZE - 3 * sizeof(char *) - 2 * sizeof(unsigned)];
};

_Static_assert(sizeof(struct head_memo) <= FC_MEMO_SIZE, "the memo fits the file's slot");

/* Content-Type and the validators of a file's body, from the memo when they can be. */
static void put_representation(struct buf *out, const struct response *r)
{
    struct fc_file *f = r->file;
    struct head_memo *m = f ? (struct head_memo *)f->memo : NULL;
    unsigned flags = r->vary_encoding | r->accept_ranges << 1 | r->omit << 2;
    int memo = f != NULL && r->status == HTTP_OK && !r->modified_now && r->etag == f->etag &&
               r->last_modified == f->last_modified;
    size_t start = out->len;

    if (memo && m->len > 0 && m->content_type == r->content_type &&
        m->content_encoding == r->content_encoding &&
        m->cache_control == r->cache_control && m->flags == flags) {
        buf_append(out, m->bytes, m->len);
        return;
    }
    /* a 304 carries validators, not a description of a body it does not have */
    if (r->content_type && r->status != HTTP_NOT_MODIFIED)
        put_header(out, "Content-Type", r->content_type);
    put_validators(out, r);
    if (memo && !out->overflow && out->len - start <= sizeof(m->bytes)) {
        memcpy(m->bytes, out->data + start, out->len - start);
        m->len = (unsigned)(out->len - start);
        m->content_type = r->content_type;
        m->content_encoding = r->content_encoding;
        m->cache_control = r->cache_control;
        m->flags = flags;
    }
}

/* Status line, Date, and the headers that depend on the status alone. */
static void put_status_headers(struct buf *out, const struct response *r, int multipart)
{
    put_status_line(out, r->status, r->omit);
    PUT_LITERAL(out, date_line);
    if (r->location && !(r->omit & OWN_LOCATION))
        put_header(out, "Location", r->location);
    if (r->allow && !(r->omit & OWN_ALLOW))
        put_header(out, "Allow", "GET, HEAD, OPTIONS");
    if (r->status == HTTP_PARTIAL_CONTENT && !multipart)
        buf_printf(out, "Content-Range: bytes %llu-%llu/%llu\r\n",
                   (unsigned long long)r->ranges[0].first, (unsigned long long)r->ranges[0].last,
                   (unsigned long long)r->complete_length);
    else if (r->status == HTTP_RANGE_NOT_SATISFIABLE)
        buf_printf(out, "Content-Range: bytes */%llu\r\n", (unsigned long long)r->complete_length);
}

/* A multipart/byteranges body's Content-Type; returns the body's length. */
static uint64_t put_multipart_type(struct buf *out, const struct response *r, const char *boundary)
{
    char tmp[256];
    struct buf t;
    uint64_t length = 0;
    int i;

    buf_printf(out, "Content-Type: multipart/byteranges; boundary=%s\r\n", boundary);
    for (i = 0; i < r->nranges; i++) {
        buf_init(&t, tmp, sizeof(tmp));
        part_header(&t, boundary, r, &r->ranges[i]);
        length += t.len + (r->ranges[i].last - r->ranges[i].first + 1);
    }
    return length + 2 + 2 + strlen(boundary) + 4; /* "\r\n--" boundary "--\r\n" */
}

/* HSTS, the added lines, Content-Length, Connection and the blank line that ends
 * the head. */
static void put_head_end(struct buf *out, const struct response *r, uint64_t length)
{
    int i;

    if (r->hsts >= 0 && !(r->omit & OWN_HSTS))
        buf_printf(out, "Strict-Transport-Security: max-age=%ld\r\n", r->hsts);
    for (i = 0; i < r->nextra; i++)
        buf_append(out, r->extra[i].p, r->extra[i].len);
    /* a stream's end is its last chunk (HTTP/1.0: the close); RFC 9110 §8.6, §15.4.5:
     * no Content-Length in a 1xx, 204 or 304 */
    if (r->stream != NULL) {
        if (!r->http10) /* HEAD too: what a GET would get (RFC 9110 §9.3.2) */
            put_header(out, "Transfer-Encoding", "chunked");
    } else if (r->status >= 200 && r->status != HTTP_NO_CONTENT &&
               r->status != HTTP_NOT_MODIFIED) {
        PUT_LITERAL(out, "Content-Length: ");
        buf_put_u64(out, length);
        PUT_LITERAL(out, "\r\n");
    }
    if (!r->keep_alive)
        put_header(out, "Connection", "close");
    else if (r->http10)
        put_header(out, "Connection", "keep-alive");
    PUT_LITERAL(out, "\r\n");
}

/* Each part's header in memory, then its range of the file; the closing delimiter last. */
static int multipart_segments(struct buf *out, const struct response *r, const char *boundary,
                              struct segment *seg)
{
    int i, n = 0;

    for (i = 0; i < r->nranges; i++) {
        size_t start = i == 0 ? 0 : out->len;
        part_header(out, boundary, r, &r->ranges[i]);
        seg[n].mem_off = (uint32_t)start;
        seg[n].mem_len = (uint32_t)(out->len - start);
        seg[n].file_off = r->ranges[i].first;
        seg[n].file_len = r->ranges[i].last - r->ranges[i].first + 1;
        n++;
    }
    memset(&seg[n], 0, sizeof(seg[n]));
    seg[n].mem_off = (uint32_t)out->len;
    buf_printf(out, "\r\n--%s--\r\n", boundary);
    seg[n].mem_len = (uint32_t)(out->len - seg[n].mem_off);
    return n + 1;
}

/* The file with bytes put in at inject_at: the head and the file's first part, then
 * the bytes and the rest; a small file in memory is one write with them. */
static int inject_segments(struct buf *out, const struct response *r, struct segment *seg)
{
    const char *data = r->file != NULL ? r->file->data : NULL;

    if (data != NULL && r->length + r->inject_len <= out->cap - out->len) {
        buf_append(out, data, r->inject_at);
        buf_append(out, r->inject, r->inject_len);
        buf_append(out, data + r->inject_at, r->length - r->inject_at);
        seg[0].mem_len = (uint32_t)out->len;
        return 1;
    }
    seg[0].mem_len = (uint32_t)out->len;
    seg[0].file_len = r->inject_at;
    memset(&seg[1], 0, sizeof(seg[1]));
    seg[1].mem_off = (uint32_t)out->len;
    buf_append(out, r->inject, r->inject_len);
    seg[1].mem_len = (uint32_t)r->inject_len;
    seg[1].file_off = r->inject_at;
    seg[1].file_len = r->length - r->inject_at;
    return 2;
}

/* The head, then the one range of the file; a small file in memory joins the head. */
static int single_segment(struct buf *out, const struct response *r, uint64_t length,
                          struct segment *seg)
{
    seg[0].mem_len = (uint32_t)out->len;
    if (response_body_fd(r) < 0)
        return 1;
    seg[0].file_off = r->status == HTTP_PARTIAL_CONTENT ? r->ranges[0].first : 0;
    seg[0].file_len = length;
    if (r->file != NULL && r->file->data != NULL && length <= out->cap - out->len) {
        /* head and body go out in one write */
        buf_append(out, r->file->data + seg[0].file_off, length);
        seg[0].mem_len = (uint32_t)out->len;
        seg[0].file_len = 0;
    }
    return 1;
}

int response_compose(struct buf *out, const struct response *r, struct segment *seg,
                     size_t *head_len)
{
    char bodymem[512], boundary[40];
    struct buf body;
    int builtin = response_body_fd(r) < 0 && r->body == NULL && r->status >= 300 &&
                  r->status != HTTP_NOT_MODIFIED;
    int multipart = r->status == HTTP_PARTIAL_CONTENT && r->nranges > 1;
    uint64_t length;

    buf_init(&body, bodymem, sizeof(bodymem));
    put_status_headers(out, r, multipart);
    if (multipart) {
        next_boundary(boundary, sizeof(boundary));
        length = put_multipart_type(out, r, boundary);
        put_validators(out, r);
    } else if (r->body != NULL) {
        put_header(out, "Content-Type", r->content_type);
        put_validators(out, r);
        length = r->body_len;
    } else if (builtin) {
        error_body(&body, r->status);
        put_header(out, "Content-Type", "text/html; charset=utf-8");
        length = body.len;
        put_validators(out, r);
    } else {
        length = r->status == HTTP_PARTIAL_CONTENT ? r->ranges[0].last - r->ranges[0].first + 1
                                                   : r->length;
        if (r->inject != NULL)
            length += r->inject_len;
        put_representation(out, r);
    }
    put_head_end(out, r, length);
    *head_len = out->len;

    memset(seg, 0, sizeof(*seg));
    if (r->head_only || r->status == HTTP_NOT_MODIFIED || r->status == HTTP_NO_CONTENT) {
        seg[0].mem_len = (uint32_t)out->len;
        return 1;
    }
    if (multipart)
        return multipart_segments(out, r, boundary, seg);
    if (builtin)
        buf_append(out, body.data, body.len);
    else if (r->body != NULL)
        buf_append(out, r->body, r->body_len);
    else if (r->inject != NULL && r->status == HTTP_OK && response_body_fd(r) >= 0)
        return inject_segments(out, r, seg);
    return single_segment(out, r, length, seg);
}
