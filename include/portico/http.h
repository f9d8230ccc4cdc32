/* HTTP/1.1 request framing and validation: llhttp glue, the request struct, limits.
 * Feeds bytes in, says what it found; never does I/O. */
#ifndef PORTICO_HTTP_H
#define PORTICO_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "portico/status.h"

/* Offsets are relative to the start of the request's bytes, which may move
 * between reads (the connection compacts its buffer); the bytes themselves stay. */
struct span {
    uint32_t off, len;
};

#define HTTP_HDR_IF_MATCH            0x01u
#define HTTP_HDR_IF_NONE_MATCH       0x02u
#define HTTP_HDR_IF_MODIFIED_SINCE   0x04u
#define HTTP_HDR_IF_UNMODIFIED_SINCE 0x08u
#define HTTP_HDR_IF_RANGE            0x10u
#define HTTP_HDR_RANGE               0x20u
#define HTTP_HDR_ACCEPT_ENCODING     0x40u
#define HTTP_HDR_RANGE_TWICE         0x80u /* more than one Range: ignore them all */
#define HTTP_HDR_ACCEPT              0x100u
#define HTTP_HDR_ORIGIN              0x200u
#define HTTP_HDR_AUTHORIZATION       0x400u
#define HTTP_HDR_AC_REQUEST_METHOD   0x800u  /* Access-Control-Request-Method */
#define HTTP_HDR_AC_REQUEST_HEADERS  0x1000u /* Access-Control-Request-Headers */
#define HTTP_HDR_X_FORWARDED_FOR     0x2000u
#define HTTP_HDR_FORWARDED           0x4000u

#define HTTP_CONN_CLOSE      0x1u
#define HTTP_CONN_KEEP_ALIVE 0x2u

enum http_req_state { HTTP_REQ_HEAD, HTTP_REQ_BODY, HTTP_REQ_DONE };

struct request {
    enum http_req_state state;
    enum http_status status; /* a protocol error found while parsing; 0 if none */
    int method;              /* llhttp_method_t */
    uint8_t major, minor;
    unsigned method_seen : 1;
    unsigned method_known : 1; /* method holds the whole name's (before the head ends too) */
    unsigned url_done : 1;
    unsigned keep_alive : 1;
    unsigned expect_continue : 1; /* a 100-continue expectation worth answering */
    unsigned has_body : 1;
    uint16_t nheaders;
    uint16_t nhost;
    unsigned conn_tokens;
    struct span target;    /* the raw request target */
    struct span path;      /* its path, still percent-encoded; "/" for "http://host" */
    struct span query;     /* after '?', without it */
    int has_query;
    struct span host, referer, user_agent;
    /* the headers static.c decides with; a bit in `present` says each was sent */
    struct span if_modified_since, if_unmodified_since, if_range, range;
    /* and those of the rules: spa, CORS, auth (the first of each) */
    struct span accept, origin, authorization, ac_request_method, ac_request_headers;
    struct span if_match[4], if_none_match[4], accept_encoding[4]; /* each field line of */
    uint8_t n_if_match, n_if_none_match, n_accept_encoding;       /* these lists */
    /* the last field lines of the proxies' lists: the nearest proxy appends its own */
    struct span forwarded_for[4], forwarded[4];
    uint8_t n_forwarded_for, n_forwarded;
    unsigned present;
    struct span field, value; /* the header being parsed */
    uint32_t line_end;     /* offset just past the request line's last visible byte */
    uint32_t line_start;   /* offset of the method's first byte (leading CRLFs skipped) */
    uint32_t head_bytes;   /* bytes of the head parsed so far */
    uint64_t body_bytes;
    uint64_t overhead;     /* trailer and chunk-extension bytes */
};

struct http_limits {
    size_t max_header_size; /* request line + header fields */
    unsigned max_headers;
    uint64_t max_body_size;
};

struct http_parser {
    llhttp_t llhttp;
    const char *base; /* the request's first byte, valid during http_parse */
    const struct http_limits *limits;
    struct request req;
    /* the chunk extension value being read, for llhttp 8.1's lost ';' (http.c) */
    const char *ext_end; /* just past its latest piece */
    char ext_last;       /* its last byte so far; 0 while it is empty */
    unsigned give_back_semicolon : 1;
};

enum http_parse_result {
    HTTP_PARSE_AGAIN, /* every byte consumed; more are needed */
    HTTP_PARSE_HEAD,  /* the head is complete and valid: decide the response now */
    HTTP_PARSE_DONE,  /* the whole request, body included, has been read */
    HTTP_PARSE_ERROR, /* req.status says why; framing is lost: answer and close */
};

void http_parser_init(struct http_parser *p, const struct http_limits *limits);
/* Parses [data, data + len); base is where the current request began (data >= base).
 * *consumed says how many bytes were used: the rest belongs to what comes next.
 * The bytes are the caller's buffer: an "HTTP/1.2" there is rewritten to 1.1. */
enum http_parse_result http_parse(struct http_parser *p, char *base, char *data, size_t len,
                                  size_t *consumed);
/* Ready for the next request on the same connection. */
void http_parser_next(struct http_parser *p);

/* fields.c: a complete header field of the head (value without its trailing OWS)
 * is remembered if it matters; 0, or the status that ends the request now. A
 * status found for later (417, 501) is left in r->status. */
enum http_status http_header_use(struct request *r, const char *name, const char *value,
                                 size_t vlen);

/* Pure pieces, exported for the unit tests. */
unsigned http_connection_tokens(const char *value, size_t len);
int http_keep_alive(unsigned major, unsigned minor, unsigned conn_tokens);
int http_host_valid(const char *host, size_t len);
/* Splits a request target into path and query; returns 0 or an enum http_status. */
enum http_status http_target_split(const char *t, size_t len, int method, struct span *path,
                                   struct span *query, int *has_query);
/* The status for an unknown or malformed method at the start of buf (no CRLFs). */
enum http_status http_method_error(const char *buf, size_t len);
/* The status for a version llhttp refused: 505 for "HTTP/<digit>...", else 400. */
enum http_status http_version_error(const char *buf, size_t len);
const char *http_method_name(int method);

#endif
