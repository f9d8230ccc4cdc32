/* Datagrams between portico's processes over a Unix socket, each with at most one
 * descriptor passed along (SCM_RIGHTS): the master's reopened log to a worker, a
 * worker's file to the compressor. */
#ifndef PORTICO_FDPASS_H
#define PORTICO_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* Sends len bytes of buf as one datagram, with fd when fd >= 0, never waiting (a
 * full queue drops it): 0, or -1 with errno. */
int fdpass_send(int sock, const void *buf, size_t len, int fd);
/* Receives one datagram into buf (at most len bytes) and the descriptor sent with
 * it into *fd (-1 when none; close-on-exec). flags: 0, or MSG_DONTWAIT. Returns the
 * datagram's length, or -1 with errno. */
ssize_t fdpass_recv(int sock, void *buf, size_t len, int *fd, int flags);

#endif
