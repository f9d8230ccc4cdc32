/* Live reload in a worker: the page script and the event stream at the reserved
 * paths, the worker's open streams (each a connection held open, conn.h) and the
 * batches of changes the watcher process sends them. It never watches files itself
 * (devwatch.c does), never answers another site, and puts nothing into pages
 * (liveinject.c does). */
#include "build-config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "portico/conn.h"
#include "portico/live.h"
#include "portico/livebatch.h"
#include "portico/log.h"

struct live {
    struct stream_source src; /* first: the streams' source is the live context */
    int fd;
    int stopping;
    struct conn *streams; /* the open streams, linked through their active blocks */
};

static const char hello[] = "retry: 1000\n\n"; /* reconnect a second after a stream ends */
/* A stopping worker's last word: reconnect soon. The page's keep-alive connections to
 * this worker stay open a moment (a graceful stop's grace), so a retry may land here
 * again and be sent on at once, on a new connection the new workers take. */
static const char soon[] = "retry: 100\n\n";
static const char ping[] = ": ping\n\n";
static const char sse_line[] = "X-Accel-Buffering: no\r\n"; /* a proxy must not hold events */

/* The page's side: an event stream; a stylesheet swapped in place (a clone after the old
 * link, the old one removed once the new one has loaded, so the order stays and nothing
 * flashes); images refreshed; anything else reloads. It reconnects by itself. */
static const char script[] =
    "(function () {\n"
    "  'use strict';\n"
    "  if (window.__porticoLive || !window.EventSource) return;\n"
    "  window.__porticoLive = true;\n"
    "  var sheets = 'link[rel~=\"stylesheet\"][href]';\n"
    "  function path(url) {\n"
    "    try { return decodeURIComponent(new URL(url, location.href).pathname); }\n"
    "    catch (e) { return ''; }\n"
    "  }\n"
    "  function fresh(url) {\n"
    "    var u = new URL(url, location.href);\n"
    "    u.searchParams.set('portico-live', Date.now());\n"
    "    return u.href;\n"
    "  }\n"
    "  function swap(link) {\n"
    "    if (link.__porticoOld || !link.parentNode) return;\n"
    "    var next = link.cloneNode(false);\n"
    "    link.__porticoOld = true;\n"
    "    next.href = fresh(link.href);\n"
    "    next.onload = next.onerror = function () {\n"
    "      if (link.parentNode) link.parentNode.removeChild(link);\n"
    "    };\n"
    "    link.parentNode.insertBefore(next, link.nextSibling);\n"
    "  }\n"
    "  function each(selector, fn) {\n"
    "    Array.prototype.forEach.call(document.querySelectorAll(selector), fn);\n"
    "  }\n"
    "  function update(p) {\n"
    "    var hit = false;\n"
    "    if (/\\.css$/i.test(p)) {\n"
    "      each(sheets, function (l) { if (path(l.href) === p) { swap(l); hit = true; } });\n"
    "    } else {\n"
    "      each('img', function (img) {\n"
    "        if (path(img.currentSrc || img.src) === p) { img.src = fresh(img.src); hit = true; }\n"
    "      });\n"
    "    }\n"
    "    return hit;\n"
    "  }\n"
    "  function connect() {\n"
    "    var es = new EventSource('" LIVE_EVENTS_PATH "');\n"
    "    es.addEventListener('reload', function () { location.reload(); });\n"
    "    es.addEventListener('update', function (ev) {\n"
    "      var missed = false;\n"
    "      ev.data.split('\\n').forEach(function (p) { if (!update(p)) missed = true; });\n"
    "      /* an @import, or an image a stylesheet uses: every sheet again */\n"
    "      if (missed) each(sheets, swap);\n"
    "    });\n"
    "    es.onerror = function () {\n"
    "      if (es.readyState === EventSource.CLOSED) setTimeout(connect, 1000);\n"
    "    };\n"
    "  }\n"
    "  connect();\n"
    "})();\n";

struct live *live_new(int fd)
{
    struct live *l = calloc(1, sizeof(*l));

    if (l == NULL)
        return NULL;
    l->fd = fd;
    return l;
}

int live_fd(const struct live *l)
{
    return l->fd;
}

/* A stopping worker's stream: reconnect soon, then its end. */
static void send_away(struct conn *c)
{
    if (conn_stream_push(c, soon, sizeof(soon) - 1) == 0)
        conn_stream_end(c);
}

static void attach(struct stream_source *src, struct conn *c)
{
    struct live *l = (struct live *)src;

    c->a->stream_next = l->streams;
    if (l->streams != NULL)
        l->streams->a->stream_prev = c;
    l->streams = c;
    if (!l->stopping)
        conn_stream_push(c, hello, sizeof(hello) - 1);
    else
        send_away(c);
}

static void idle(struct stream_source *src, struct conn *c)
{
    (void)src;
    conn_stream_push(c, ping, sizeof(ping) - 1);
}

static void detach(struct stream_source *src, struct conn *c)
{
    struct live *l = (struct live *)src;
    struct conn *prev = c->a->stream_prev, *next = c->a->stream_next;

    if (prev != NULL)
        prev->a->stream_next = next;
    else if (l->streams == c)
        l->streams = next;
    if (next != NULL)
        next->a->stream_prev = prev;
    c->a->stream_prev = c->a->stream_next = NULL;
}

/* A push may close a stream, which unlinks it: the next one is taken first. */
static void broadcast(struct live *l, const char *text, size_t len)
{
    struct conn *c = l->streams, *next;

    for (; c != NULL; c = next) {
        next = c->a->stream_next;
        conn_stream_push(c, text, len);
    }
}

void live_read(struct live *l)
{
    char text[LIVEBATCH_EVENT_MAX];
    ssize_t n;

    while ((n = recv(l->fd, text, sizeof(text), MSG_DONTWAIT)) > 0)
        broadcast(l, text, (size_t)n);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        log_warn("live reload: reading the watcher's changes");
}

void live_stop(struct live *l)
{
    struct conn *c = l->streams, *next;

    l->stopping = 1;
    for (; c != NULL; c = next) {
        next = c->a->stream_next;
        send_away(c);
    }
}

static int handle(void *ctx, struct exchange *x, struct response *resp)
{
    struct live *l = ctx;
    int events = exchange_path_is(x, LIVE_EVENTS_PATH, sizeof(LIVE_EVENTS_PATH) - 1);

    if (x->site_no != 0 ||
        (!events && !exchange_path_is(x, LIVE_SCRIPT_PATH, sizeof(LIVE_SCRIPT_PATH) - 1)))
        return 0;
    resp->cache_control = "no-store";
    if (exchange_answer_methods(x, resp))
        return 1;
    resp->status = HTTP_OK;
    if (!events) {
        resp->content_type = "text/javascript; charset=utf-8";
        resp->body = script;
        resp->body_len = sizeof(script) - 1;
        return 1;
    }
    resp->content_type = "text/event-stream";
    resp->stream = &l->src;
    response_add_line(resp, sse_line, sizeof(sse_line) - 1);
    return 1;
}

struct handler live_handler(struct live *l)
{
    struct handler h = {handle, NULL, l};

    l->src.attach = attach;
    l->src.idle = idle;
    l->src.detach = detach;
    return h;
}
