/* Change notifications for what a worker holds beneath the document root: one
 * inotify instance per worker, watching the directories of the paths it caches
 * (with every directory above them, up to the root) and the opened files
 * themselves. Clients link their objects to a directory or a file and are told
 * when it changes; nothing else in portico knows inotify. */
#ifndef PORTICO_WATCH_H
#define PORTICO_WATCH_H

#include <stddef.h>
#include <sys/stat.h>

struct watcher;
struct watch_node;
struct watch_client;

/* Kept in what a client watches (a cache entry, an open file). */
struct watch_link {
    struct watch_link *prev, *next;
    struct watch_node *node; /* NULL: not linked, nothing is notified */
    struct watch_client *client;
    void *data; /* the client's: what the link belongs to */
};

/* What a notification about a link says. */
#define WATCH_GONE    0x1u /* the path may no longer lead to what was opened */
#define WATCH_WRITTEN 0x2u /* the file's bytes may have changed in place */
#define WATCH_DIR     0x4u /* the link is to a directory (watch_dir), not a file */

/* A user of notifications; embed it and register it with watch_add_client. The
 * callbacks run inside watch_read: the first two only note what changed (they must
 * not unlink anything), batch_end acts on it. */
struct watch_client {
    /* a name in a watched directory was created, removed, renamed or had its
     * attributes changed; path is the normalised path ("/a/b.html") */
    void (*on_name)(struct watch_client *c, const char *path, size_t len);
    /* something linked to a watched directory or file changed (WATCH_*) */
    void (*on_link)(struct watch_client *c, struct watch_link *l, unsigned what);
    /* the batch of notifications is over: links may be dropped now */
    void (*on_batch_end)(struct watch_client *c);
    struct watcher *w;
    struct watch_client *next;
};

/* A watcher for the tree beneath rootfd; size_hint is about how many files will
 * be linked. When the kernel refuses notifications (no inotify instance left),
 * it says so once and every link fails with EOPNOTSUPP; fallback_s is what the
 * message says files are then checked by. NULL only when out of memory. */
struct watcher *watch_new(int rootfd, unsigned size_hint, unsigned fallback_s);
/* The descriptor to wait on for readability, or -1 when notifications are off. */
int watch_fd(const struct watcher *w);
void watch_add_client(struct watcher *w, struct watch_client *c);
/* Reads every queued notification, tells the clients, then ends the batch. */
void watch_read(struct watcher *w);

/* Links l to the directory dir ("" is the root, else "/a/b", no trailing slash),
 * watching it and every directory above it. Returns 0 when it was watched before,
 * 1 when its watch (or an ancestor's) was made just now, so that whatever the
 * caller opened before may have changed unseen; -1 with errno: ENOSPC at the
 * kernel's watch limit (said once), EOPNOTSUPP where changes are not reported
 * (said once), or what inotify said (ENOENT, ENOTDIR, EACCES...). */
int watch_dir(struct watch_client *c, struct watch_link *l, const char *dir, size_t len);
/* Links l to the open regular file fd (found at path beneath the root, st its
 * fstat): its writes, attribute and link changes. 0, or -1 as for watch_dir. */
int watch_file(struct watch_client *c, struct watch_link *l, int fd, const struct stat *st,
               const char *path, size_t len);
/* The normalised path beneath the root ("/a/b.html"; "/" for the root) of what fd
 * is open on, where a path opened through symlinks really led; its length, or -1
 * when it cannot be told (no /proc, a file deleted since, outside the root). */
long watch_resolve(const struct watcher *w, int fd, char *out, size_t size);
/* Drops a link (nothing when l is not linked); a watch nobody uses is removed. */
void watch_unlink(struct watch_link *l);

/* 1 when a filesystem of this statfs f_type reports every change through inotify;
 * 0 for network and shared filesystems (NFS, SMB, 9p, FUSE, ...) where changes
 * made elsewhere go unreported. */
int watch_fs_reports_changes(long f_type);
/* The name of such a filesystem for messages ("nfs"), or NULL. */
const char *watch_fs_name(long f_type);

#endif
