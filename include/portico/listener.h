/* Listening sockets: bound (or adopted from systemd, or kept from the previous
 * generation) by the master, described by one record each that travels to the
 * workers. */
#ifndef PORTICO_LISTENER_H
#define PORTICO_LISTENER_H

#include <sys/socket.h>

#include "portico/settings.h"

#define LISTENERS_MAX 16

/* One listening socket and what a connection accepted on it speaks. Properties a
 * listener may gain (the sites it serves) go here. */
struct listener {
    int fd;
    struct sockaddr_storage addr; /* the bound address */
    int port;
    unsigned tls : 1;             /* HTTPS: the connection starts with a TLS handshake */
    unsigned proxy : 1;           /* a PROXY protocol header comes first, from a trusted proxy */
};

struct listener_set {
    struct listener l[LISTENERS_MAX];
    int n;
};

/* What a generation asked for, to tell whether the previous one's sockets serve. */
struct listen_request {
    const struct settings *s; /* bind address, TLS */
    int port, tls_port;       /* as asked for, before 0 became a real port */
};

/* Opens the listeners for s (setting s->port and s->tls_port to the bound ports):
 * sockets systemd handed over (only when prev is NULL), else prev's where the
 * address and port asked for are the same (no gap, no rebinding), else new ones.
 * Logs one line naming the fix and returns -1 on failure. */
int listeners_open(struct listener_set *set, struct settings *s, const struct listen_request *ask,
                   const struct listener_set *prev, const struct listen_request *prev_ask);
/* 1 when fd is one of set's sockets. */
int listeners_have(const struct listener_set *set, int fd);
/* 1 when a --bind value (NULL: none) listens on every address of its family or
 * both (0.0.0.0, ::): what to open is then named localhost, or an interface's. */
int listeners_bind_any(const char *bind);

#endif
