/* Owns the bytes of a response head and the built-in error and redirect bodies.
 * Never decides a status and never writes to a socket. */
#include "build-config.h"

#include <string.h>

#include "portico/httpdate.h"
#include "portico/response.h"

static char date[HTTPDATE_LEN + 1] = "Thu, 01 Jan 1970 00:00:00 GMT";
static time_t date_when = -1;

void response_init(struct response *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

void response_tick(time_t now)
{
    if (now != date_when) {
        httpdate_format(now, date);
        date_when = now;
    }
}

static void put_header(struct buf *b, const char *name, const char *value)
{
    buf_puts(b, name);
    buf_append(b, ": ", 2);
    buf_puts(b, value);
    buf_append(b, "\r\n", 2);
}

static void error_body(struct buf *body, enum http_status status)
{
    buf_printf(body,
               "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%d %s</title></head>\n"
               "<body><h1>%d %s</h1><hr><p>portico</p></body></html>\n",
               (int)status, http_reason(status), (int)status, http_reason(status));
}

size_t response_compose(struct buf *out, const struct response *r)
{
    char bodymem[512];
    struct buf body;
    size_t head_len;
    int builtin = r->fd < 0 && r->status >= 300;

    buf_init(&body, bodymem, sizeof(bodymem));
    if (builtin)
        error_body(&body, r->status);

    buf_printf(out, "HTTP/1.1 %d %s\r\n", (int)r->status, http_reason(r->status));
    put_header(out, "Server", PACKAGE_NAME "/" PACKAGE_VERSION);
    put_header(out, "Date", date);
    if (r->location)
        put_header(out, "Location", r->location);
    if (r->allow)
        put_header(out, "Allow", "GET, HEAD, OPTIONS");
    if (builtin) {
        put_header(out, "Content-Type", "text/html; charset=utf-8");
    } else if (r->content_type) {
        put_header(out, "Content-Type", r->content_type);
    }
    /* RFC 9110 §8.6: no Content-Length in a 1xx or 204 */
    if (r->status != HTTP_NO_CONTENT && r->status >= 200) {
        buf_puts(out, "Content-Length: ");
        buf_put_u64(out, builtin ? body.len : r->length);
        buf_append(out, "\r\n", 2);
    }
    if (!r->keep_alive)
        put_header(out, "Connection", "close");
    else if (r->http10)
        put_header(out, "Connection", "keep-alive");
    buf_append(out, "\r\n", 2);
    head_len = out->len;
    if (builtin && !r->head_only)
        buf_append(out, body.data, body.len);
    return head_len;
}
