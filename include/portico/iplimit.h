/* --max-connections-per-ip: connections per client address, counted for the whole
 * instance in memory every worker shares, without locks. */
#ifndef PORTICO_IPLIMIT_H
#define PORTICO_IPLIMIT_H

#include <sys/socket.h>

#define IPLIMIT_OVER      -1 /* the address holds its limit already: close */
#define IPLIMIT_UNTRACKED -2 /* no room to count it (a rare crowded bucket): let it in */

struct iplimit;

/* Master: the shared table, made before the first fork; NULL (logged) on failure. */
struct iplimit *iplimit_create(void);
/* Worker owner (its metrics slot; < 0: it has none, and nothing is counted): counts
 * one more connection from sa, unless it already holds limit. Returns the place it was
 * counted at (give it to iplimit_leave when the connection closes), IPLIMIT_OVER, or
 * IPLIMIT_UNTRACKED. */
int iplimit_enter(struct iplimit *t, const struct sockaddr *sa, unsigned limit, int owner);
void iplimit_leave(struct iplimit *t, int place);
/* Master: the worker owner is gone, with whatever connections it still counted. */
void iplimit_forget(struct iplimit *t, int owner);

#endif
