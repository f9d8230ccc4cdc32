/* The file cache kept fresh by notifications (src/filecache.c with src/watch.c):
 * a real inotify watcher over a temporary tree, an interval of an hour so that
 * only a notification can make an entry fresh, and a table of changes, each
 * followed by one watch_read and the next lookup. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "portico/beneath.h"
#include "portico/filecache.h"
#include "portico/watch.h"
#include "suites.h"

#define HOUR_MS (3600u * 1000u)

static char top[64];
static int rootfd = -1;
static struct watcher *watcher;
static struct filecache *fc;

static const char *at(const char *rel)
{
    static char p[4][1024];
    static int i;

    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", top, rel);
    return p[i];
}

static void put(const char *rel, const char *text)
{
    FILE *f = fopen(at(rel), "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Rewrites rel in place (same inode), as cp does. */
static void rewrite(const char *rel, const char *text)
{
    struct stat before, after;

    ck_assert_int_eq(stat(at(rel), &before), 0);
    put(rel, text);
    ck_assert_int_eq(stat(at(rel), &after), 0);
    ck_assert(before.st_ino == after.st_ino);
}

/* Writes a new file beside rel and renames it over rel, as a deploy does. */
static void replace(const char *rel, const char *text)
{
    char tmp[256];

    snprintf(tmp, sizeof(tmp), "%s.tmp", rel);
    put(tmp, text);
    ck_assert_int_eq(rename(at(tmp), at(rel)), 0);
}

static void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    ck_assert_int_eq(system(cmd), 0);
}

/* A big file of one repeated byte: kept open, not in memory. */
static void put_big(const char *rel, char c)
{
    char buf[8192];

    memset(buf, c, sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    put(rel, buf);
}

static void setup(void)
{
    strcpy(top, "/tmp/portico-fc-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(top));
    sh("mkdir -p %s/a/b %s/other %s/elsewhere", top, top, top);
    put("top.txt", "top v1");
    put("a/b/deep.txt", "deep v1");
    put("a/mid.txt", "mid v1");
    put("app.js", "app v1");
    put("other/x.txt", "other v1");
    put("elsewhere/target.txt", "target v1");
    ck_assert_int_eq(symlink("elsewhere/target.txt", at("link.txt")), 0);
    ck_assert_int_eq(link(at("other/x.txt"), at("hard.txt")), 0);
    ck_assert_int_eq(symlink("a/b", at("dirlink")), 0);
    ck_assert_int_eq(symlink(".", at("self")), 0);
    put_big("big.bin", 'a');
    rootfd = beneath_open_root(top);
    ck_assert_int_ge(rootfd, 0);
    watcher = watch_new(rootfd, 64, 3600);
    ck_assert_ptr_nonnull(watcher);
    ck_assert_int_ge(watch_fd(watcher), 0);
    fc = filecache_new(rootfd, 100, HOUR_MS, 1, watcher);
    ck_assert_ptr_nonnull(fc);
}

static void teardown(void)
{
    close(rootfd);
    sh("rm -rf '%s'", top);
}

/* The bytes of the entry at path as a lookup now gives them ("" for ENOENT, "<dir>"
 * for a directory); the lookup comes right after the notifications are read. */
static const char *now(const char *path)
{
    static char text[16384];
    struct fc_entry *e;
    ssize_t n;
    int err;

    watch_read(watcher);
    err = filecache_get(fc, path, strlen(path), 1000, &e);
    if (err == ENOENT)
        return "";
    ck_assert_int_eq(err, 0);
    if (e->type == FC_DIR)
        return "<dir>";
    n = pread(e->file->fd, text, sizeof(text) - 1, 0);
    ck_assert_int_ge(n, 0);
    ck_assert_uint_eq((uint64_t)n, e->file->size); /* stat data and bytes agree */
    text[n] = '\0';
    if (e->file->data != NULL)
        ck_assert(memcmp(e->file->data, text, (size_t)n) == 0);
    return text;
}

struct change_case {
    const char *name;
    const char *path; /* looked up before and after */
    void (*change)(void);
    const char *want; /* what the lookup gives after the change */
    int via_symlink;  /* the path needs a symlink followed */
};

static void ch_rewrite(void)
{
    rewrite("top.txt", "top v2");
}
static void ch_replace(void)
{
    replace("top.txt", "top v2, renamed into place");
}
static void ch_delete(void)
{
    ck_assert_int_eq(unlink(at("top.txt")), 0);
}
static void ch_touch(void)
{
    sh("touch -d @1000000000 %s", at("top.txt"));
}
static void ch_to_dir(void)
{
    unlink(at("top.txt"));
    sh("mkdir %s", at("top.txt"));
}
static void ch_parent(void)
{
    sh("mv %s %s; mkdir -p %s/b; echo -n 'deep v2' > %s", at("a"), at("a-old"), at("a"),
       at("a/b/deep.txt"));
}
static void ch_dir_b(void)
{
    sh("mv %s %s; mkdir %s; echo -n 'deep v2' > %s", at("a/b"), at("a/b-old"), at("a/b"),
       at("a/b/deep.txt"));
}
static void ch_symlink_target(void)
{
    rewrite("elsewhere/target.txt", "target v2");
}
static void ch_symlink_replaced(void)
{
    replace("elsewhere/target.txt", "target v2");
}
static void ch_symlink_retargeted(void)
{
    sh("ln -sfn other/x.txt %s", at("link.txt"));
}
static void ch_dirlink(void)
{
    sh("ln -sfn other %s", at("dirlink"));
}
static void ch_target_dir(void)
{
    sh("mv %s %s; mkdir %s; echo -n 'target v2' > %s", at("elsewhere"), at("elsewhere-old"),
       at("elsewhere"), at("elsewhere/target.txt"));
}
static void ch_hardlink(void)
{
    rewrite("other/x.txt", "other v2");
}
static void ch_big(void)
{
    put_big("big.bin", 'b');
}
static void ch_unrelated(void)
{
    put("other/new.txt", "new");
    rewrite("a/mid.txt", "mid v2");
}

static const struct change_case cases[] = {
    {"rewritten in place", "/top.txt", ch_rewrite, "top v2", 0},
    {"renamed into place", "/top.txt", ch_replace, "top v2, renamed into place", 0},
    {"deleted", "/top.txt", ch_delete, "", 0},
    {"a directory now", "/top.txt", ch_to_dir, "<dir>", 0},
    {"its directory's parent renamed away and made again", "/a/b/deep.txt", ch_parent, "deep v2",
     0},
    {"its directory renamed away and made again", "/a/b/deep.txt", ch_dir_b, "deep v2", 0},
    {"a symlink's target rewritten", "/link.txt", ch_symlink_target, "target v2", 1},
    {"a symlink's target renamed over", "/link.txt", ch_symlink_replaced, "target v2", 1},
    {"a symlink pointed elsewhere", "/link.txt", ch_symlink_retargeted, "other v1", 1},
    {"a hard link rewritten through its other name", "/hard.txt", ch_hardlink, "other v2", 0},
    {"a symlinked directory pointed elsewhere", "/dirlink/deep.txt", ch_dirlink, "", 1},
    {"a symlink's target directory renamed away and made again", "/link.txt", ch_target_dir,
     "target v2", 1},
    {"the parent of a symlinked directory's target renamed and made again", "/dirlink/deep.txt",
     ch_parent, "deep v2", 1},
    {"unrelated changes elsewhere", "/a/b/deep.txt", ch_unrelated, "deep v1", 0},
};

START_TEST(test_change)
{
    const struct change_case *c = &cases[_i];
    char before[256];

    if (c->via_symlink && !kernel_has_openat2())
        return; /* the fallback walk serves no symlink at all */
    strcpy(before, now(c->path));
    ck_assert_str_ne(before, "");
    c->change();
    ck_assert_msg(strcmp(now(c->path), c->want) == 0, "%s: %s gives '%s', want '%s'", c->name,
                  c->path, now(c->path), c->want);
}
END_TEST

START_TEST(test_attributes)
{
    struct fc_entry *e;

    now("/top.txt");
    ch_touch();
    watch_read(watcher);
    ck_assert_int_eq(filecache_get(fc, "/top.txt", 8, 1000, &e), 0);
    ck_assert_int_eq(e->file->mtime, 1000000000);
}
END_TEST

/* The first lookup's objects are kept when nothing they hang on changed. */
START_TEST(test_untouched_kept)
{
    struct fc_entry *e;
    struct fc_file *before;

    ck_assert_int_eq(filecache_get(fc, "/a/b/deep.txt", 13, 1000, &e), 0);
    before = e->file;
    ch_unrelated();
    watch_read(watcher);
    ck_assert_int_eq(filecache_get(fc, "/a/b/deep.txt", 13, 1000, &e), 0);
    ck_assert_ptr_eq(e->file, before);
    ck_assert_uint_eq(before->changed, 0);
}
END_TEST

/* A response still holding the old version learns that its bytes changed in place,
 * and one holding a version replaced by rename does not (its inode is untouched). */
START_TEST(test_in_flight_versions)
{
    struct fc_entry *e;
    struct fc_file *inplace, *renamed;

    ck_assert_int_eq(filecache_get(fc, "/big.bin", 8, 1000, &e), 0);
    ck_assert_ptr_null(e->file->data);
    inplace = filecache_ref(e->file);
    ck_assert_int_eq(filecache_get(fc, "/top.txt", 8, 1000, &e), 0);
    renamed = filecache_ref(e->file);
    ch_big();
    ch_replace();
    ck_assert_str_eq(now("/big.bin"), now("/big.bin")); /* readable and consistent */
    ck_assert_uint_eq(inplace->changed, 1);
    ck_assert_uint_eq(renamed->changed, 0);
    ck_assert_str_eq(now("/top.txt"), "top v2, renamed into place");
    filecache_release(inplace);
    filecache_release(renamed);
}
END_TEST

static void siblings(struct fc_entry **e)
{
    watch_read(watcher);
    ck_assert_int_eq(filecache_get(fc, "/app.js", 7, 1000, e), 0);
}

START_TEST(test_precompressed_sibling)
{
    struct fc_entry *e;
    char buf[32];

    siblings(&e);
    ck_assert_ptr_null(e->gz);
    put("app.js.gz", "gz v1");
    siblings(&e);
    ck_assert_ptr_nonnull(e->gz);
    rewrite("app.js.gz", "gz v2");
    siblings(&e);
    ck_assert_ptr_nonnull(e->gz);
    ck_assert_int_eq(pread(e->gz->fd, buf, sizeof(buf), 0), 5);
    ck_assert(memcmp(buf, "gz v2", 5) == 0);
    unlink(at("app.js.gz"));
    siblings(&e);
    ck_assert_ptr_null(e->gz);
}
END_TEST

/* Without a watcher (the negative control) the interval alone decides. */
START_TEST(test_without_notifications)
{
    static struct filecache *plain; /* (static: the worker never frees its cache either) */
    struct fc_entry *e;

    plain = filecache_new(rootfd, 100, HOUR_MS, 1, NULL);

    ck_assert_int_eq(filecache_get(plain, "/top.txt", 8, 1000, &e), 0);
    ch_replace();
    ck_assert_int_eq(filecache_get(plain, "/top.txt", 8, 2000, &e), 0);
    ck_assert_uint_eq(e->file->size, 6); /* still "top v1" */
    ck_assert_int_eq(filecache_get(plain, "/top.txt", 8, 2000 + HOUR_MS, &e), 0);
    ck_assert_uint_eq(e->file->size, strlen("top v2, renamed into place"));
}
END_TEST

static int watches(void)
{
    char p[64], line[256];
    FILE *f;
    int n = 0;

    snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", watch_fd(watcher));
    f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f))
        n += strncmp(line, "inotify wd:", 11) == 0;
    fclose(f);
    return n;
}

/* Watches follow what the cache holds: an evicted file's watch and its directories'
 * go with it. */
START_TEST(test_watches_released)
{
    struct filecache *small = filecache_new(rootfd, 1, HOUR_MS, 0, watcher);
    struct fc_entry *e;

    ck_assert_int_eq(watches(), 0);
    ck_assert_int_eq(filecache_get(small, "/a/b/deep.txt", 13, 1000, &e), 0);
    ck_assert_int_eq(watches(), 4); /* the file, a/b, a and the root */
    ck_assert_int_eq(filecache_get(small, "/top.txt", 8, 1000, &e), 0);
    ck_assert_int_eq(watches(), 2); /* the file and the root */
    ck_assert_int_eq(filecache_get(small, "/nothing/here.txt", 17, 1000, &e), ENOENT);
    ck_assert_int_eq(watches(), 2);
}
END_TEST

/* A symlink back up the tree makes endless paths: they are served, but left to
 * the interval rather than given a watch each. */
START_TEST(test_symlink_loop)
{
    struct fc_entry *e;
    int before;

    if (!kernel_has_openat2())
        return; /* the fallback walk serves no symlink at all */
    ck_assert_int_eq(filecache_get(fc, "/top.txt", 8, 1000, &e), 0);
    ck_assert(e->watched);
    before = watches();
    ck_assert_int_eq(filecache_get(fc, "/self/self/self/top.txt", 23, 1000, &e), 0);
    ck_assert(!e->watched);
    ck_assert_int_le(watches(), before + 1);
    ch_rewrite();
    ck_assert_int_eq(filecache_get(fc, "/self/self/self/top.txt", 23, 1000 + HOUR_MS, &e), 0);
    ck_assert_uint_eq(e->file->size, 6);
    ck_assert_str_eq(now("/top.txt"), "top v2");
}
END_TEST

struct fs_case {
    long type;
    int reports;
};

static const struct fs_case fs_cases[] = {
    {0xEF53, 1},     /* ext4 */
    {0x58465342, 1}, /* xfs */
    {0x9123683E, 1}, /* btrfs */
    {0x01021994, 1}, /* tmpfs */
    {0x794c7630, 1}, /* overlay */
    {0x6969, 0},     /* nfs */
    {0xFF534D42, 0}, /* cifs */
    {0xFE534D42, 0}, /* smb2 */
    {0x65735546, 0}, /* fuse: sshfs, virtiofs, ... */
    {0x01021997, 0}, /* 9p: WSL's and VMs' shared folders */
    {0x00C36400, 0}, /* ceph */
    {0x786f4256, 0}, /* vboxsf */
};

START_TEST(test_fs_types)
{
    ck_assert_int_eq(watch_fs_reports_changes(fs_cases[_i].type), fs_cases[_i].reports);
    ck_assert_int_eq(watch_fs_name(fs_cases[_i].type) == NULL, fs_cases[_i].reports);
}
END_TEST

Suite *filecache_suite(void)
{
    Suite *s = suite_create("filecache");
    TCase *tc = tcase_create("notified");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_change, 0, sizeof(cases) / sizeof(cases[0]));
    tcase_add_test(tc, test_attributes);
    tcase_add_test(tc, test_untouched_kept);
    tcase_add_test(tc, test_in_flight_versions);
    tcase_add_test(tc, test_precompressed_sibling);
    tcase_add_test(tc, test_without_notifications);
    tcase_add_test(tc, test_watches_released);
    tcase_add_test(tc, test_symlink_loop);
    suite_add_tcase(s, tc);
    tc = tcase_create("filesystems");
    tcase_add_loop_test(tc, test_fs_types, 0, sizeof(fs_cases) / sizeof(fs_cases[0]));
    suite_add_tcase(s, tc);
    return s;
}
