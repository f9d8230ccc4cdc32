/* What --dev and --open do at start, in the master once it listens: the addresses
 * to open the site at, and the browser. */
#ifndef PORTICO_DEVSTART_H
#define PORTICO_DEVSTART_H

#include "portico/settings.h"

/* Prints "Local:" and "Network:" lines (one per address of an interface that is up,
 * not loopback or link-local) for http, and https with TLS; host is the Local one. */
void devstart_banner(const struct settings *s, const char *host);
/* Starts xdg-open on the site's URL, not waited for (the master reaps it); one
 * warning line when there is no xdg-open. */
void devstart_open(const struct settings *s, const char *host);

#endif
