/* Sending a composed response: one walker over its memory and file segments for
 * every transport. */
#ifndef PORTICO_SEND_H
#define PORTICO_SEND_H

#include <stddef.h>
#include <stdint.h>

#include "portico/response.h"
#include "portico/transport.h"

#define SEND_STAGE_SIZE 16384 /* one TLS record's worth of plaintext: a head and a small body */

/* A response on its way out, and where it has got to. */
struct outgoing {
    const char *mem;     /* the buffer the memory segments point into */
    int file_fd;         /* the body file, or -1 */
    struct segment seg[RESPONSE_MAX_SEGMENTS];
    int nseg, cur;       /* segments of the response, the one being sent */
    size_t seg_mem_sent;
    uint64_t seg_file_sent;
    uint64_t bytes_sent; /* head and body, for the access log */
    size_t stage_len, stage_sent;
    unsigned corked : 1; /* TCP_CORK is on for this response's records */
    unsigned last : 1;   /* the connection ends after this response */
    /* pieces gathered into one send where the transport frames every send */
    char stage[SEND_STAGE_SIZE];
};

/* Ready to send nseg segments (already in o->seg) of mem and file_fd. last: the
 * connection ends after them, so the last bytes may wait to leave with the FIN
 * (one packet less for every response to Connection: close). */
void send_start(struct outgoing *o, const char *mem, int nseg, int file_fd, int last);
/* Sends [*sent, len) of buf, advancing *sent: IO_DONE, IO_AGAIN or IO_ERROR. */
enum io_result send_bytes(struct transport *t, const char *buf, size_t len, size_t *sent);
/* Sends on until done, IO_AGAIN (wait for the transport) or IO_ERROR (close: the
 * peer failed, or the file shrank after its length was promised). */
enum io_result send_segments(struct outgoing *o, struct transport *t);

#endif
