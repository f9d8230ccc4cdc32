/* The two BIOs between OpenSSL and a connection's socket (tlsbio.c): a read BIO
 * that reads ahead and says when a recv emptied the socket, and a write BIO that
 * gathers records in memory, so that several leave in one send. */
#ifndef PORTICO_TLSBIO_H
#define PORTICO_TLSBIO_H

#include <stddef.h>

#include <openssl/bio.h>

/* Made once, before the workers are forked; 0, or -1 when out of memory. */
int tlsbio_init(void);

/* Reads records from fd. */
BIO *tlsbio_reader_new(int fd);
/* 1 when the last recv through it returned less than asked (or EAGAIN, or the
 * end): the socket is empty. tlsbio_reader_arm forgets it, before a read. */
int tlsbio_reader_drained(BIO *b);
void tlsbio_reader_arm(BIO *b);

/* Takes every record OpenSSL writes into memory (never a retry), for
 * tlsbio_writer_flush to send to fd. */
BIO *tlsbio_writer_new(int fd);
/* Bytes taken and not yet sent. */
size_t tlsbio_writer_pending(BIO *b);
/* Sends what it holds, in one send (some may remain): 0, or -1 with errno set
 * (EAGAIN: the socket is full). */
int tlsbio_writer_flush(BIO *b);
/* 1 when a flush left records behind (the socket was full): those must go before
 * more are made, or a slow reader would make the buffer grow with the response. */
int tlsbio_writer_stalled(BIO *b);
/* Gives back its memory if it holds nothing. */
void tlsbio_writer_rest(BIO *b);

#endif
