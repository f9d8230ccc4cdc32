/* Composing responses: status line, headers and the small built-in bodies. */
#ifndef PORTICO_RESPONSE_H
#define PORTICO_RESPONSE_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "portico/buf.h"
#include "portico/http.h"

/* What a handler decided; response_compose turns it into bytes. */
struct response {
    enum http_status status;
    const char *content_type; /* NULL: none, or text/html for a built-in body */
    const char *location;     /* for redirects */
    unsigned allow : 1;       /* send "Allow: GET, HEAD, OPTIONS" */
    unsigned head_only : 1;   /* HEAD: headers exactly as for GET, no body */
    unsigned keep_alive : 1;
    unsigned http10 : 1;      /* the request was HTTP/1.0: keep-alive must be explicit */
    int fd;                   /* file body, or -1 */
    off_t offset;
    uint64_t length;          /* bytes of the file body */
};

void response_init(struct response *r);
/* Formats the Date header's value when the second changes. */
void response_tick(time_t now);
/* Writes the head and any built-in body into out; returns the head's length. */
size_t response_compose(struct buf *out, const struct response *r);

#endif
