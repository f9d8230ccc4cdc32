/* Who the workers run as and where: the user they switch to when started as root,
 * and the chroot that confines them. Decided in the master, done in each worker. */
#ifndef PORTICO_PRIVILEGE_H
#define PORTICO_PRIVILEGE_H

#include <sys/types.h>

#include "portico/settings.h"

struct privilege {
    uid_t uid;
    gid_t gid;
    int drop; /* switch to uid/gid in the workers */
};

/* Checks the user and the chroot before anything starts; 0, or -1 after one line
 * that names the fix. */
int privilege_resolve(const struct settings *s, struct privilege *p);
/* In a new worker, before it touches a client: chroot, then give up root for good. */
int privilege_drop(const struct settings *s, const struct privilege *p);

#endif
