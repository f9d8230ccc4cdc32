/* The fence: opening files beneath the document root and nowhere else. */
#ifndef PORTICO_BENEATH_H
#define PORTICO_BENEATH_H

/* Opens the root directory; -1 with errno on failure. */
int beneath_open_root(const char *path);
/* Opens n roots into fds, once each: equal paths share a descriptor. -1 when all
 * opened, else the index of the one that failed (errno set; none is left open). */
int beneath_open_roots(const char *const *paths, int n, int *fds);
/* Closes what beneath_open_roots opened. */
void beneath_close_roots(const int *fds, int n);
/* How a path beneath the open root reaches the kernel where only a path will do
 * (inotify): 1 through /proc/self/fd/N, 0 from the working directory, which is the
 * root (a chroot without /proc), -1 neither (errno set when a stat failed). */
int beneath_root_via_proc(int rootfd);

/* Opens rel (no leading '/'; "" is the root itself) beneath dirfd without ever
 * resolving outside it: openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) where the
 * kernel has it, else beneath_open_walk. -1 with errno (EXDEV or ELOOP for an escape). */
int beneath_open(int dirfd, const char *rel, int flags);
/* As beneath_open, but any symlink on the way fails with ELOOP: the file cache
 * tells paths that name a file directly from those that reach it through a link. */
int beneath_open_direct(int dirfd, const char *rel, int flags);
/* The fallback: one component at a time with O_NOFOLLOW, refusing every symlink. */
int beneath_open_walk(int dirfd, const char *rel, int flags);

#endif
