/* The watcher process of live reload: one per generation, a child of the master,
 * that watches the default site's tree (inotify, recursive; polling every second
 * where inotify is refused) and sends each debounced batch of changes to every
 * worker as one datagram holding the server-sent event's text (livebatch.h). */
#ifndef PORTICO_DEVWATCH_H
#define PORTICO_DEVWATCH_H

/* Its name in ps and /proc/PID/comm, beside the workers' "portico". */
#define DEVWATCH_NAME "portico-watch"

struct devwatch_start {
    int rootfd;                /* the default site's root (an open directory) */
    const char *const *ignore; /* --watch-ignore patterns */
    int nignore;
    const int *out; /* the watcher's ends of one SOCK_DGRAM socketpair per worker slot
                       (-1: none); each event is one datagram of at most
                       LIVEBATCH_EVENT_MAX bytes, no NUL */
    int nout;
};

/* The child's life, after the master forked it and dropped its privileges (and
 * maybe chrooted it to the root: the working directory must then be the root).
 * It needs rootfd, the out descriptors and stderr open, nothing else. SIGTERM,
 * SIGINT, SIGQUIT or the master's death end it: returns its exit status, 0 then. */
int devwatch_run(const struct devwatch_start *ds);

#endif
