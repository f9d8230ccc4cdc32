/* What a request's header fields and target mean: the fields that decide a
 * response kept by name, list headers split, hosts and targets checked. Pure
 * functions over the request's bytes; the framing is http.c's. */
#include "build-config.h"

#include <string.h>

#include "portico/http.h"
#include "portico/str.h"

/* The first occurrence of a single-valued header is the one used. */
static void keep(struct request *r, struct span *slot, unsigned bit)
{
    if (!(r->present & bit)) {
        *slot = r->value;
        r->present |= bit;
    }
}

/* Each field line of a list header is kept, up to four; more is a client we do
 * not need to please. */
static void keep_line(struct request *r, struct span *lines, uint8_t *n, unsigned bit)
{
    r->present |= bit;
    if (*n < 4)
        lines[(*n)++] = r->value;
}

/* The last four field lines of a list that proxies append to: the lines a trusted
 * proxy added are the last ones; what a client sent before them may be forged. */
static void keep_last_line(struct request *r, struct span *lines, uint8_t *n, unsigned bit)
{
    r->present |= bit;
    if (*n == 4) {
        memmove(lines, lines + 1, 3 * sizeof(*lines));
        (*n)--;
    }
    lines[(*n)++] = r->value;
}

/* The fields of 13 bytes and more: conditionals, codings, Authorization, CORS. */
static enum http_status use_long(struct request *r, const char *name, const char *value,
                                 size_t vlen)
{
    switch (r->field.len) {
    case 13:
        if (str_ieq(name, 13, "if-none-match"))
            keep_line(r, r->if_none_match, &r->n_if_none_match, HTTP_HDR_IF_NONE_MATCH);
        else if (str_ieq(name, 13, "authorization"))
            keep(r, &r->authorization, HTTP_HDR_AUTHORIZATION);
        break;
    case 15:
        if (str_ieq(name, 15, "accept-encoding"))
            keep_line(r, r->accept_encoding, &r->n_accept_encoding, HTTP_HDR_ACCEPT_ENCODING);
        else if (str_ieq(name, 15, "x-forwarded-for"))
            keep_last_line(r, r->forwarded_for, &r->n_forwarded_for, HTTP_HDR_X_FORWARDED_FOR);
        break;
    case 17:
        if (str_ieq(name, 17, "if-modified-since")) {
            keep(r, &r->if_modified_since, HTTP_HDR_IF_MODIFIED_SINCE);
            break;
        }
        /* chunked is the only coding we can remove (RFC 9112 §6.1: 501 for others) */
        if (str_ieq(name, 17, "transfer-encoding")) {
            const char *q = value, *tok;
            size_t tlen;
            int n = 0;
            while (str_next_token(&q, value + vlen, &tok, &tlen)) {
                n++;
                if (!str_ieq(tok, tlen, "chunked"))
                    r->status = HTTP_NOT_IMPLEMENTED;
            }
            /* present but empty: chunked is not the final coding (RFC 9112 §6.3) */
            if (n == 0)
                return HTTP_BAD_REQUEST;
        }
        break;
    case 19:
        if (str_ieq(name, 19, "if-unmodified-since"))
            keep(r, &r->if_unmodified_since, HTTP_HDR_IF_UNMODIFIED_SINCE);
        break;
    case 29:
        if (str_ieq(name, 29, "access-control-request-method"))
            keep(r, &r->ac_request_method, HTTP_HDR_AC_REQUEST_METHOD);
        break;
    case 30:
        if (str_ieq(name, 30, "access-control-request-headers"))
            keep(r, &r->ac_request_headers, HTTP_HDR_AC_REQUEST_HEADERS);
        break;
    default:
        break;
    }
    return 0;
}

enum http_status http_header_use(struct request *r, const char *name, const char *value,
                                 size_t vlen)
{
    switch (r->field.len) {
    case 4:
        if (str_ieq(name, 4, "host")) {
            r->nhost++;
            r->host = r->value;
        }
        break;
    case 5:
        if (str_ieq(name, 5, "range")) {
            if (r->present & HTTP_HDR_RANGE)
                r->present |= HTTP_HDR_RANGE_TWICE;
            keep(r, &r->range, HTTP_HDR_RANGE);
        }
        break;
    case 6:
        if (str_ieq(name, 6, "accept")) {
            keep(r, &r->accept, HTTP_HDR_ACCEPT);
        } else if (str_ieq(name, 6, "origin")) {
            keep(r, &r->origin, HTTP_HDR_ORIGIN);
        } else if (str_ieq(name, 6, "expect")) {
            if (str_ieq(value, vlen, "100-continue"))
                r->expect_continue = 1;
            else
                r->status = HTTP_EXPECTATION_FAILED; /* reported once the head is read */
        }
        break;
    case 7:
        if (str_ieq(name, 7, "referer"))
            r->referer = r->value;
        break;
    case 8:
        if (str_ieq(name, 8, "if-match"))
            keep_line(r, r->if_match, &r->n_if_match, HTTP_HDR_IF_MATCH);
        else if (str_ieq(name, 8, "if-range"))
            keep(r, &r->if_range, HTTP_HDR_IF_RANGE);
        break;
    case 9:
        if (str_ieq(name, 9, "forwarded"))
            keep_last_line(r, r->forwarded, &r->n_forwarded, HTTP_HDR_FORWARDED);
        break;
    case 10:
        if (str_ieq(name, 10, "connection"))
            r->conn_tokens |= http_connection_tokens(value, vlen);
        else if (str_ieq(name, 10, "user-agent"))
            r->user_agent = r->value;
        break;
    default:
        return r->field.len > 10 ? use_long(r, name, value, vlen) : 0;
    }
    return 0;
}

unsigned http_connection_tokens(const char *value, size_t len)
{
    const char *p = value, *tok;
    size_t tlen;
    unsigned flags = 0;

    while (str_next_token(&p, value + len, &tok, &tlen)) {
        if (str_ieq(tok, tlen, "close"))
            flags |= HTTP_CONN_CLOSE;
        else if (str_ieq(tok, tlen, "keep-alive"))
            flags |= HTTP_CONN_KEEP_ALIVE;
    }
    return flags;
}

int http_keep_alive(unsigned major, unsigned minor, unsigned conn_tokens)
{
    /* RFC 9112 §9.3: "close" always wins; 1.1 persists by default, 1.0 on request */
    if (major != 1 || (conn_tokens & HTTP_CONN_CLOSE))
        return 0;
    if (minor >= 1)
        return 1;
    return (conn_tokens & HTTP_CONN_KEEP_ALIVE) != 0;
}

/* RFC 3986 reg-name: unreserved, sub-delims and the '%' of pct-encoded */
static const unsigned char reg_name_char[256] = {
    ['0' ... '9'] = 1, ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['-'] = 1, ['.'] = 1, ['_'] = 1,
    ['~'] = 1, ['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1,
    ['+'] = 1, [','] = 1, [';'] = 1, ['='] = 1, ['%'] = 1,
};

/* Host = uri-host [ ":" port ] (RFC 9110 §7.2); uri-host is an IP-literal in
 * brackets or a reg-name of unreserved, sub-delims and pct-encoded characters. */
int http_host_valid(const char *h, size_t len)
{
    size_t i = 0;

    if (len == 0)
        return 1; /* allowed when the target URI has no authority */
    if (h[0] == '[') {
        for (i = 1; i < len && h[i] != ']'; i++) {
            unsigned char c = (unsigned char)h[i];
            if (!((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') || c == ':' ||
                  c == '.'))
                return 0;
        }
        if (i == len || i == 1)
            return 0;
        i++;
    } else {
        for (; i < len && h[i] != ':'; i++)
            if (!reg_name_char[(unsigned char)h[i]])
                return 0;
    }
    if (i == len)
        return 1;
    if (h[i] != ':')
        return 0;
    for (i++; i < len; i++)
        if (h[i] < '0' || h[i] > '9')
            return 0;
    return 1;
}

/* t[from, len) is a path and maybe a query; t has no '#' (http_target_split refused it) */
static void split_query(const char *t, size_t from, size_t len, struct span *path,
                        struct span *query, int *has_query)
{
    const char *q = memchr(t + from, '?', len - from);
    size_t end = q != NULL ? (size_t)(q - t) : len;

    path->off = (uint32_t)from;
    path->len = (uint32_t)(end - from);
    *has_query = q != NULL;
    query->off = (uint32_t)(q != NULL ? end + 1 : len);
    query->len = (uint32_t)(len - query->off);
}

enum http_status http_target_split(const char *t, size_t len, int method, struct span *path,
                                   struct span *query, int *has_query)
{
    size_t i;

    *has_query = 0;
    path->off = path->len = query->off = query->len = 0;
    /* a fragment never belongs in a request target (RFC 9112 §3.2) */
    if (len == 0 || memchr(t, '#', len) != NULL)
        return HTTP_BAD_REQUEST;
    if (t[0] == '/') { /* origin-form */
        split_query(t, 0, len, path, query, has_query);
        return 0;
    }
    if (len == 1 && t[0] == '*') /* asterisk-form: OPTIONS only (RFC 9112 §3.2.4) */
        return method == HTTP_OPTIONS ? 0 : HTTP_BAD_REQUEST;
    if (method == HTTP_CONNECT) /* authority-form; answered 405 later */
        return 0;
    /* absolute-form: http or https, a non-empty authority, then the path */
    if (len > 7 && str_ieq(t, 7, "http://"))
        i = 7;
    else if (len > 8 && str_ieq(t, 8, "https://"))
        i = 8;
    else
        return HTTP_BAD_REQUEST;
    if (i == len || t[i] == '/' || t[i] == '?' || t[i] == '#')
        return HTTP_BAD_REQUEST;
    while (i < len && t[i] != '/' && t[i] != '?' && t[i] != '#')
        i++;
    if (i == len || t[i] != '/') { /* "http://host" or "http://host?q": the path is "/" */
        split_query(t, i, len, path, query, has_query);
        path->len = 0;
        return 0;
    }
    split_query(t, i, len, path, query, has_query);
    return 0;
}

