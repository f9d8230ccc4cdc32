/* The one walker for every byte of a response: memory by send, or gathered into
 * full records where the transport frames each send (with a small file's bytes,
 * so that head and body are one record); file ranges by the transport's sendfile.
 * It never decides what to send and never closes anything. */
#include "build-config.h"

#include <string.h>
#include <unistd.h>

#include "portico/log.h"
#include "portico/send.h"

#define SENDFILE_MAX (1u << 30)

void send_start(struct outgoing *o, const char *mem, int nseg, int file_fd, int last)
{
    o->last = last;
    o->mem = mem;
    o->file_fd = file_fd;
    o->nseg = nseg;
    o->cur = 0;
    o->seg_mem_sent = 0;
    o->seg_file_sent = 0;
    o->bytes_sent = 0;
    o->stage_len = o->stage_sent = 0;
    o->corked = 0;
}

static enum io_result file_shrank(void)
{
    /* Content-Length was sent: the only honest end is to abort the connection
     * (RFC 9112 §6.3) */
    log_warnx("file shrank while being sent; closing the connection");
    return IO_ERROR;
}

static uint64_t file_bytes(const struct outgoing *o)
{
    uint64_t n = 0;
    int i;

    for (i = 0; i < o->nseg; i++)
        n += o->seg[i].file_len;
    return n;
}

/* Gathers what of the segments fits into the stage, up to a piece that goes out
 * directly: memory where sends are not framed, file bytes that are not a framing
 * transport's small rest. */
static enum io_result fill_stage(struct outgoing *o, const struct transport *t)
{
    while (o->cur < o->nseg && o->stage_len < SEND_STAGE_SIZE) {
        const struct segment *sg = &o->seg[o->cur];
        size_t room = SEND_STAGE_SIZE - o->stage_len;

        if (o->seg_mem_sent < sg->mem_len) {
            size_t k = sg->mem_len - o->seg_mem_sent;
            if (!t->ops->gather)
                break;
            k = k < room ? k : room;
            memcpy(o->stage + o->stage_len, o->mem + sg->mem_off + o->seg_mem_sent, k);
            o->stage_len += k;
            o->seg_mem_sent += k;
        } else if (o->seg_file_sent < sg->file_len) {
            uint64_t left = sg->file_len - o->seg_file_sent;
            ssize_t n;
            if (t->ops->sendfile != NULL && !(t->ops->gather && left <= room))
                break;
            n = pread(o->file_fd, o->stage + o->stage_len, left < room ? (size_t)left : room,
                      (off_t)(sg->file_off + o->seg_file_sent));
            if (n <= 0)
                return file_shrank();
            o->stage_len += (size_t)n;
            o->seg_file_sent += (uint64_t)n;
        } else {
            o->cur++;
            o->seg_mem_sent = 0;
            o->seg_file_sent = 0;
        }
    }
    return IO_DONE;
}

/* What the transport still holds goes out. */
static enum io_result flushed(struct transport *t)
{
    return t->ops->flush != NULL ? t->ops->flush(t) : IO_DONE;
}

static enum io_result send_all(struct transport *t, const char *buf, size_t len, int more,
                               size_t *sent)
{
    while (*sent < len) {
        size_t n = 0;
        enum io_result res = t->ops->send(t, buf + *sent, len - *sent, more, &n);
        if (res != IO_DONE)
            return res == IO_EOF ? IO_ERROR : res;
        *sent += n;
    }
    return IO_DONE;
}

enum io_result send_bytes(struct transport *t, const char *buf, size_t len, size_t *sent)
{
    enum io_result res = send_all(t, buf, len, 0, sent);

    return res == IO_DONE ? flushed(t) : res;
}

/* more: the segments go on after the stage, so a framing transport may hold its
 * record to send with the next */
static enum io_result flush_stage(struct outgoing *o, struct transport *t)
{
    size_t before = o->stage_sent;
    enum io_result res = send_all(t, o->stage, o->stage_len, o->cur < o->nseg, &o->stage_sent);

    o->bytes_sent += o->stage_sent - before;
    if (res == IO_DONE)
        o->stage_len = o->stage_sent = 0;
    return res;
}

/* Sends part of the current segment straight from where it is. */
static enum io_result send_direct(struct outgoing *o, struct transport *t)
{
    const struct segment *sg = &o->seg[o->cur];
    enum io_result res;
    size_t n = 0;

    if (o->seg_mem_sent < sg->mem_len) {
        /* more: a head and the file bytes after it leave in the same packets, and
         * the last bytes before the end of the connection with its FIN */
        int more = sg->file_len > 0 || o->cur + 1 < o->nseg || o->last;
        res = t->ops->send(t, o->mem + sg->mem_off + o->seg_mem_sent, sg->mem_len - o->seg_mem_sent,
                           more, &n);
        o->seg_mem_sent += n;
    } else {
        uint64_t left = sg->file_len - o->seg_file_sent;
        res = t->ops->sendfile(t, o->file_fd, (off_t)(sg->file_off + o->seg_file_sent),
                               left > SENDFILE_MAX ? SENDFILE_MAX : (size_t)left, &n);
        if (res == IO_DONE && n == 0)
            return file_shrank();
        o->seg_file_sent += n;
    }
    o->bytes_sent += n;
    return res;
}

enum io_result send_segments(struct outgoing *o, struct transport *t)
{
    /* Records are corked when there are many, so they leave in full segments
     * instead of a packet each; uncorking pushes the last one out. sendfile corks
     * by itself. */
    if (o->bytes_sent == 0 && o->stage_len == 0 && !o->corked && t->ops->gather &&
        file_bytes(o) > SEND_STAGE_SIZE) {
        transport_set_cork(t, 1);
        o->corked = 1;
    }
    for (;;) {
        enum io_result res = fill_stage(o, t);

        if (res != IO_DONE)
            return res;
        if (o->stage_len > 0)
            res = flush_stage(o, t);
        else if (o->cur < o->nseg)
            res = send_direct(o, t);
        else if ((res = flushed(t)) == IO_DONE)
            break;
        if (res != IO_DONE)
            return res == IO_EOF ? IO_ERROR : res;
    }
    if (o->corked) {
        transport_set_cork(t, 0);
        o->corked = 0;
    }
    return IO_DONE;
}
