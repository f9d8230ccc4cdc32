/* Composing responses: status line, headers, multipart framing and the small
 * built-in bodies, as a list of memory and file segments for send.c to send. */
#ifndef PORTICO_RESPONSE_H
#define PORTICO_RESPONSE_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "portico/buf.h"
#include "portico/filecache.h"
#include "portico/status.h"
#include "portico/range.h"
#include "portico/str.h"

struct stream_source; /* conn.h: what feeds a response held open */

/* Header lines a plan may add to what response.c writes (rules, CORS, auth). */
#define RESPONSE_EXTRA_MAX 32

/* What a handler decided; response_compose turns it into bytes. */
struct response {
    enum http_status status;
    const char *content_type;     /* of the body (or of the file, for 304 and 206) */
    const char *content_encoding; /* "br", "zstd", "gzip" or NULL */
    const char *location;         /* for redirects */
    const char *cache_control;
    const char *etag, *last_modified; /* validators of the representation */
    unsigned allow : 1;           /* send "Allow: GET, HEAD, OPTIONS" */
    unsigned head_only : 1;       /* HEAD: headers exactly as for GET, no body */
    unsigned keep_alive : 1;
    unsigned http10 : 1;          /* the request was HTTP/1.0: keep-alive must be explicit */
    unsigned vary_encoding : 1;   /* a pre-compressed sibling exists */
    unsigned accept_ranges : 1;
    unsigned modified_now : 1;    /* mtime in the future: Last-Modified is the Date */
    struct fc_file *file;         /* the body, a reference from the file cache */
    int own_fd;                   /* or a body fd this response owns (a listing), or -1 */
    const char *body;             /* or a short body that outlives the plan (a literal) */
    size_t body_len;
    struct stream_source *stream; /* or a body produced over time: no length, chunked */
    const char *inject;           /* bytes put into the file's body at inject_at (200 only) */
    size_t inject_len;
    uint64_t inject_at;
    long hsts;                    /* Strict-Transport-Security max-age, or -1 */
    unsigned omit;                /* enum own_header (rules.h): lines not to write */
    int nextra;
    uint64_t length;              /* of the whole body source (file size) */
    uint64_t complete_length;     /* for Content-Range (206 and 416) */
    int nranges;                  /* 206: parts of the file to send */
    struct byte_range ranges[RANGE_MAX];
    struct str extra[RESPONSE_EXTRA_MAX]; /* whole "Name: value\r\n" lines, after ours */
};

/* Adds a header line ("Name: value\r\n", which must outlive the plan), in place of
 * any line of that name added before; 0, or -1 when there is no room. */
int response_add_line(struct response *r, const char *line, size_t len);
/* Adds a header line beside any others of its name (Vary); 0, or -1 when full. */
int response_append_line(struct response *r, const char *line, size_t len);
/* Drops the added line of that name, if any. */
void response_drop_line(struct response *r, const char *name, size_t len);

/* A piece of the response on the wire: bytes from the output buffer, then bytes
 * from the body file (either may be empty). */
struct segment {
    uint32_t mem_off, mem_len;
    uint64_t file_off, file_len;
};

#define RESPONSE_MAX_SEGMENTS (RANGE_MAX + 1)

/* A body held open (a stream, not for HEAD): its connection ends with it. */
static inline int response_held_open(const struct response *r)
{
    return r->stream != NULL && !r->head_only;
}

void response_init(struct response *r);
/* Drops the body file or fd the response holds. */
void response_release(struct response *r);
int response_body_fd(const struct response *r);
/* Formats the Date header's value when the second changes. */
void response_tick(time_t now);
/* Writes the head (and multipart delimiters, built-in bodies) into out and the
 * segments to send into seg; returns the number of segments. *head_len is the
 * head's length, for the access log's body byte count. */
int response_compose(struct buf *out, const struct response *r, struct segment *seg,
                     size_t *head_len);

#endif
