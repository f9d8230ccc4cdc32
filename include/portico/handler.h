/* The seam between a connection and what answers its requests: an ordered table
 * of handlers, each of which may answer with a response plan (struct response)
 * and never touches the socket. */
#ifndef PORTICO_HANDLER_H
#define PORTICO_HANDLER_H

#include "portico/http.h"
#include "portico/response.h"

struct transport;

/* A request head's longest target (the head limit) and room for "index.html". */
#define EXCHANGE_PATH_SIZE     (8192 + 16)
/* A Location longer than this is refused with 414. */
#define EXCHANGE_LOCATION_SIZE 8192

/* One request being answered: what handlers read, and scratch space of its own,
 * so that nothing of one request lives in a static buffer another could share. */
struct exchange {
    const struct request *req;
    const char *base;               /* the request's first byte: spans are offsets from it */
    const struct transport *io;     /* for the connection's addresses; handlers never send */
    unsigned secure : 1;            /* it came over TLS */
    char path[EXCHANGE_PATH_SIZE];  /* the decoded, normalised path */
    char location[EXCHANGE_LOCATION_SIZE];
};

struct handler {
    /* 1: answered, resp (initialised, head_only set) is the plan; 0: the next one's turn */
    int (*handle)(void *ctx, struct exchange *x, struct response *resp);
    /* Optional: amends every plan before it is composed, whoever made it (error pages). */
    void (*amend)(void *ctx, struct response *resp);
    void *ctx;
};

#define HANDLERS_MAX 4

#endif
