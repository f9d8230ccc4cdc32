/* llhttp glue: fills struct request from the callbacks, enforces the limits,
 * rejects what llhttp 8.1 lets through (obs-fold, HTTP/2.0, bad Host, odd targets)
 * and gives back the ';' it loses after a chunk extension value.
 * Never touches a socket or the file system; every decision is a status code. */
#include "build-config.h"

#include <string.h>

#include "portico/http.h"
#include "portico/str.h"

static struct http_parser *parser_of(llhttp_t *l)
{
    return (struct http_parser *)l; /* llhttp is the first member */
}

static void span_extend(struct http_parser *p, struct span *s, const char *at, size_t len)
{
    if (s->len == 0)
        s->off = (uint32_t)(at - p->base);
    s->len += (uint32_t)len;
}

static int fail(struct http_parser *p, enum http_status status)
{
    p->req.status = status;
    return -1;
}

static int on_method(llhttp_t *l, const char *at, size_t len)
{
    struct http_parser *p = parser_of(l);

    (void)len;
    if (!p->req.method_seen) {
        p->req.method_seen = 1;
        p->req.line_start = (uint32_t)(at - p->base);
    }
    return 0;
}

/* The method is known once its name is whole: a request refused before its head
 * ends (a bad header) is still logged and counted under it. */
static int on_method_complete(llhttp_t *l)
{
    struct http_parser *p = parser_of(l);

    p->req.method = l->method;
    p->req.method_known = 1;
    return 0;
}

static int on_url(llhttp_t *l, const char *at, size_t len)
{
    struct http_parser *p = parser_of(l);

    span_extend(p, &p->req.target, at, len);
    return 0;
}

static int on_url_complete(llhttp_t *l)
{
    struct http_parser *p = parser_of(l);

    p->req.url_done = 1;
    (void)l;
    return 0;
}

static int on_version(llhttp_t *l, const char *at, size_t len)
{
    struct http_parser *p = parser_of(l);

    p->req.line_end = (uint32_t)(at + len - p->base);
    return 0;
}

/* Trailer fields and chunk extensions are read and dropped, but they count
 * against the header limit so a body cannot carry unbounded metadata. */
static int count_overhead(struct http_parser *p, size_t len)
{
    p->req.overhead += len;
    if (p->req.overhead > p->limits->max_header_size)
        return fail(p, HTTP_HEADERS_TOO_LARGE);
    return 0;
}

static int on_chunk_extension(llhttp_t *l, const char *at, size_t len)
{
    (void)at;
    return count_overhead(parser_of(l), len);
}

static int on_chunk_extension_value(llhttp_t *l, const char *at, size_t len)
{
    struct http_parser *p = parser_of(l);

    if (len > 0)
        p->ext_last = at[len - 1];
    p->ext_end = at + len;
    return count_overhead(p, len);
}

/* Whether this llhttp loses the ';' after an unquoted chunk extension value.
 * Asked by parsing such a line once, not by version number, so that a patched
 * llhttp (a distribution's backport of the fix) is never given a second ';'. */
static int swallows_ext_semicolon(void)
{
    static const char probe[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "1;a=b;c=d\r\n";
    static int known = -1;

    if (known < 0) {
        llhttp_settings_t none;
        llhttp_t l;
        llhttp_settings_init(&none);
        llhttp_init(&l, HTTP_REQUEST, &none);
        known = llhttp_execute(&l, probe, sizeof(probe) - 1) == HPE_INVALID_CHUNK_SIZE &&
                llhttp_get_error_pos(&l) == probe + sizeof(probe) - 1 - strlen("c=d\r\n");
    }
    return known;
}

/* llhttp 8.1.0 consumes the ';' that ends an unquoted value and moves to the
 * state that follows a chunk size (chunk_size_otherwise), which wants ';' or CR:
 * "5;a=b;c=d" fails at the 'c' (fixed upstream in 9.1.3, nodejs/llhttp#248).
 * Pausing here lets http_parse hand it that ';' again, which takes it where the
 * fix goes, to the next extension; llhttp still judges every byte of it.
 * A value ending in '"' was quoted: llhttp read past it, and keeps the ';'.
 * Otherwise llhttp only peeked at the byte after the value, so it is in the
 * buffer. An empty value ("a=;") is not a token and is left to fail as it did. */
static int on_chunk_extension_value_complete(llhttp_t *l)
{
    struct http_parser *p = parser_of(l);
    int token_then_semicolon = p->ext_last != 0 && p->ext_last != '"' && *p->ext_end == ';';

    p->ext_last = 0;
    if (token_then_semicolon && swallows_ext_semicolon()) {
        p->give_back_semicolon = 1;
        return HPE_PAUSED;
    }
    return 0;
}

static int on_header_field(llhttp_t *l, const char *at, size_t len)
{
    struct http_parser *p = parser_of(l);

    if (p->req.state != HTTP_REQ_HEAD)
        return count_overhead(p, len + 4); /* ": " and CRLF too */
    span_extend(p, &p->req.field, at, len);
    return 0;
}

static int on_header_field_complete(llhttp_t *l)
{
    struct http_parser *p = parser_of(l);

    if (p->req.state != HTTP_REQ_HEAD)
        return 0;
    if (++p->req.nheaders > p->limits->max_headers)
        return fail(p, HTTP_HEADERS_TOO_LARGE);
    return 0;
}

static int on_header_value(llhttp_t *l, const char *at, size_t len)
{
    struct http_parser *p = parser_of(l);

    if (p->req.state != HTTP_REQ_HEAD)
        return count_overhead(p, len);
    span_extend(p, &p->req.value, at, len);
    return 0;
}

static int on_header_value_complete(llhttp_t *l)
{
    struct http_parser *p = parser_of(l);
    struct request *r = &p->req;
    const char *name = p->base + r->field.off;
    const char *value = p->base + r->value.off;
    size_t vlen = r->value.len;
    enum http_status status;

    if (r->state != HTTP_REQ_HEAD)
        return 0; /* a trailer field: dropped */
    /* field-value excludes the OWS around it (RFC 9112 §5); llhttp keeps the trailing */
    while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
        vlen--;
    r->value.len = (uint32_t)vlen;
    /* llhttp 8.1 hands an obs-fold continuation over inside the value; RFC 9112
     * §5.2 lets a server reject it, and a proxy in front may have read it otherwise */
    if (memchr(value, '\r', vlen) || memchr(value, '\n', vlen))
        return fail(p, HTTP_BAD_REQUEST);
    /* a fold right after the colon ("TE:\r\n chunked") leaves the line break
     * before the value's span: the classic way to hide a Transfer-Encoding */
    if (vlen > 0) {
        const char *q;
        for (q = p->base + r->field.off + r->field.len; q < value; q++)
            if (*q == '\r' || *q == '\n')
                return fail(p, HTTP_BAD_REQUEST);
    }

    status = http_header_use(r, name, value, vlen);
    r->field.len = r->value.len = 0;
    return status != 0 ? fail(p, status) : 0;
}

static int on_headers_complete(llhttp_t *l)
{
    struct http_parser *p = parser_of(l);
    struct request *r = &p->req;
    enum http_status st;

    r->method = l->method;
    r->major = l->http_major;
    r->minor = l->http_minor;
    if (r->major != 1)
        return fail(p, HTTP_VERSION_NOT_SUPPORTED);
    /* llhttp 8.1 takes a bare LF after the request line; RFC 9112 §2.2 lets us refuse */
    if (p->base[r->line_end] != '\r')
        return fail(p, HTTP_BAD_REQUEST);
    /* exactly one space on each side of the target (RFC 9112 §3): a lenient
     * reading here is one a proxy in front may not share */
    if (p->base[r->target.off - 1] != ' ' || p->base[r->target.off - 2] == ' ' ||
        p->base[r->target.off + r->target.len] != ' ' ||
        p->base[r->target.off + r->target.len + 1] == ' ')
        return fail(p, HTTP_BAD_REQUEST);
    if (r->nhost > 1 || (r->minor >= 1 && r->nhost == 0))
        return fail(p, HTTP_BAD_REQUEST);
    if (r->nhost == 1 && !http_host_valid(p->base + r->host.off, r->host.len))
        return fail(p, HTTP_BAD_REQUEST);
    st = http_target_split(p->base + r->target.off, r->target.len, r->method, &r->path,
                           &r->query, &r->has_query);
    if (st != 0)
        return fail(p, st);
    r->path.off += r->target.off;
    r->query.off += r->target.off;

    /* RFC 9110 §10.1.1: an HTTP/1.0 client's Expect is ignored */
    if (r->minor == 0) {
        r->expect_continue = 0;
        if (r->status == HTTP_EXPECTATION_FAILED)
            r->status = 0;
    }
    if (r->status != 0)
        return -1;
    if ((l->flags & F_CONTENT_LENGTH) && l->content_length > p->limits->max_body_size)
        return fail(p, HTTP_CONTENT_TOO_LARGE);

    r->has_body = (l->flags & F_CHUNKED) || l->content_length > 0;
    if (!r->has_body)
        r->expect_continue = 0;
    /* RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing
     * to any intermediary that took it as 1.0; answer, then close */
    r->keep_alive = http_keep_alive(r->major, r->minor, r->conn_tokens) &&
                    r->method != HTTP_CONNECT &&
                    !(r->minor == 0 && (l->flags & F_TRANSFER_ENCODING));
    /* an Upgrade offer is declined by answering in HTTP/1.1 (RFC 9110 §7.8) */
    l->upgrade = 0;
    r->state = HTTP_REQ_BODY;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *l, const char *at, size_t len)
{
    struct http_parser *p = parser_of(l);

    (void)at;
    p->req.body_bytes += len;
    if (p->req.body_bytes > p->limits->max_body_size)
        return fail(p, HTTP_CONTENT_TOO_LARGE);
    return 0;
}

/* A chunk that would pass the body limit is refused at its size line, not after
 * the worker has waited for gigabytes that will never be kept. */
static int on_chunk_header(llhttp_t *l)
{
    struct http_parser *p = parser_of(l);

    if (l->content_length > p->limits->max_body_size - p->req.body_bytes)
        return fail(p, HTTP_CONTENT_TOO_LARGE);
    return 0;
}

static int on_message_complete(llhttp_t *l)
{
    parser_of(l)->req.state = HTTP_REQ_DONE;
    return HPE_PAUSED;
}

static const llhttp_settings_t callbacks = {
    .on_method = on_method,
    .on_method_complete = on_method_complete,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_version = on_version,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_chunk_extension_name = on_chunk_extension,
    .on_chunk_extension_value = on_chunk_extension_value,
    .on_chunk_extension_value_complete = on_chunk_extension_value_complete,
    .on_chunk_header = on_chunk_header,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_parser_init(struct http_parser *p, const struct http_limits *limits)
{
    memset(p, 0, sizeof(*p));
    llhttp_init(&p->llhttp, HTTP_REQUEST, &callbacks);
    p->limits = limits;
}

/* Every request starts from a cleared req (here or in http_parser_init): llhttp has
 * no callback that clears it, and only http_parse adds to it before the request
 * line (head_bytes: leading CRLFs count against the limit). */
void http_parser_next(struct http_parser *p)
{
    memset(&p->req, 0, sizeof(p->req));
}

static enum http_status error_status(struct http_parser *p, llhttp_errno_t err, const char *data,
                                     size_t len)
{
    const char *start;

    switch (err) {
    case HPE_INVALID_METHOD:
        /* the bytes of this request read so far, without leading empty lines */
        start = p->base;
        while (start < data + len && (*start == '\r' || *start == '\n'))
            start++;
        return http_method_error(start, (size_t)(data + len - start));
    case HPE_PAUSED_H2_UPGRADE: /* "PRI * HTTP/2.0": an HTTP/2 prior-knowledge preface */
        return HTTP_VERSION_NOT_SUPPORTED;
    case HPE_INVALID_VERSION:
        return http_version_error(p->base, (size_t)(data + len - p->base));
    default:
        return HTTP_BAD_REQUEST;
    }
}

/* The version token of the request line in buf: what follows its last space.
 * Returns its offset in buf (0: there is no such token) and its length in *n. */
static size_t version_token(const char *buf, size_t len, size_t *n)
{
    const char *nl = memchr(buf, '\n', len), *v;

    if (nl != NULL)
        len = (size_t)(nl - buf);
    for (v = buf + len; v > buf && v[-1] != ' '; v--)
        ;
    *n = (size_t)(buf + len - v);
    return (size_t)(v - buf);
}

/* Where a request line's "HTTP/1.<digit>" has a minor version llhttp refuses (2-9). */
static char *unknown_minor(char *buf, size_t len)
{
    size_t n, at = version_token(buf, len, &n);
    char *v = buf + at;

    if (at > 0 && n >= 8 && memcmp(v, "HTTP/1.", 7) == 0 && v[7] >= '2' && v[7] <= '9')
        return v + 7;
    return NULL;
}

/* llhttp_execute over [data, data + len), giving back each ';' that llhttp 8.1
 * swallowed (on_chunk_extension_value_complete). *stop: where llhttp stopped. */
static llhttp_errno_t execute(struct http_parser *p, const char *data, size_t len,
                              const char **stop)
{
    llhttp_errno_t err = llhttp_execute(&p->llhttp, data, len);

    while (err == HPE_PAUSED && p->give_back_semicolon) {
        const char *at = llhttp_get_error_pos(&p->llhttp);
        p->give_back_semicolon = 0;
        llhttp_resume(&p->llhttp);
        err = llhttp_execute(&p->llhttp, ";", 1);
        if (err != HPE_OK) {
            *stop = at;
            return err;
        }
        err = llhttp_execute(&p->llhttp, at, (size_t)(data + len - at));
    }
    *stop = err == HPE_OK ? data + len : llhttp_get_error_pos(&p->llhttp);
    return err;
}

enum http_parse_result http_parse(struct http_parser *p, char *base, char *data, size_t len,
                                  size_t *consumed)
{
    struct request *r = &p->req;
    size_t room = len;
    const char *stop;
    llhttp_errno_t err;

    p->base = base;
    if (r->state == HTTP_REQ_HEAD && r->head_bytes + len > p->limits->max_header_size)
        room = p->limits->max_header_size - r->head_bytes;

    err = execute(p, data, room, &stop);
    if (err == HPE_OK) {
        *consumed = room;
        if (r->state == HTTP_REQ_HEAD) {
            size_t after = (size_t)r->target.off + r->target.len;
            r->head_bytes += (uint32_t)room;
            /* the line ended right after the target: an HTTP/0.9 request, after
             * which llhttp waits for headers such a client never sends */
            if (r->target.len > 0 && !r->url_done && after < (size_t)(data + room - base) &&
                (base[after] == '\r' || base[after] == '\n')) {
                r->status = HTTP_VERSION_NOT_SUPPORTED;
                return HTTP_PARSE_ERROR;
            }
            if (room < len) {
                /* the head is larger than allowed: which part decides the status */
                r->status = r->url_done ? HTTP_HEADERS_TOO_LARGE : HTTP_URI_TOO_LONG;
                return HTTP_PARSE_ERROR;
            }
        }
        return HTTP_PARSE_AGAIN;
    }
    *consumed = (size_t)(stop - data);
    if (err == HPE_PAUSED) {
        llhttp_resume(&p->llhttp);
        /* the empty line ending the head must be CRLF too (llhttp accepts a bare LF) */
        if (r->state == HTTP_REQ_BODY && (stop - base < 2 || stop[-2] != '\r')) {
            r->status = HTTP_BAD_REQUEST;
            return HTTP_PARSE_ERROR;
        }
        return r->state == HTTP_REQ_DONE ? HTTP_PARSE_DONE : HTTP_PARSE_HEAD;
    }
    if (err == HPE_INVALID_VERSION && r->status == 0) {
        char *minor = unknown_minor(base, (size_t)(data + room - base));
        if (minor != NULL) {
            /* RFC 9110 §2.5: a 1.x request is understood as the highest 1.x we speak;
             * llhttp knows only 1.0 and 1.1, so read the head again as 1.1 */
            size_t seen = (size_t)(data - base), used = 0;
            enum http_parse_result res;
            char sent = *minor;
            *minor = '1';
            llhttp_init(&p->llhttp, HTTP_REQUEST, &callbacks);
            memset(r, 0, sizeof(*r));
            res = http_parse(p, base, base, seen + len, &used);
            *minor = sent; /* the log shows what the client sent */
            *consumed = used > seen ? used - seen : 0;
            return res;
        }
    }
    if (r->status == 0)
        r->status = error_status(p, err, data, room);
    return HTTP_PARSE_ERROR;
}

enum http_status http_method_error(const char *buf, size_t len)
{
    size_t i;

    /* a well-formed token we do not know is 501 (RFC 9110 §9.1); anything else 400 */
    for (i = 0; i < len && buf[i] != ' '; i++)
        if (!str_is_tchar((unsigned char)buf[i]))
            return HTTP_BAD_REQUEST;
    return i == 0 ? HTTP_BAD_REQUEST : HTTP_NOT_IMPLEMENTED;
}

enum http_status http_version_error(const char *buf, size_t len)
{
    size_t n, at = version_token(buf, len, &n);
    const char *v = buf + at;

    /* "HTTP/" and a digit: a version we do not speak rather than noise */
    if (at > 0 && n >= 6 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9')
        return HTTP_VERSION_NOT_SUPPORTED;
    return HTTP_BAD_REQUEST;
}

const char *http_method_name(int method)
{
    return llhttp_method_name((llhttp_method_t)method);
}
