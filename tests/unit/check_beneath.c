/* The fence beneath the root (src/beneath.c): openat2 and the O_NOFOLLOW walk that
 * stands in for it on old kernels must both refuse every way out. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "portico/beneath.h"
#include "suites.h"

static char top[64];
static int rootfd = -1;

/* top/secret.txt outside; top/root/{a.txt, dir/b.txt, in -> a.txt, out -> ../secret.txt,
 * up -> .., abs -> /etc} */
static void make_tree(void)
{
    char p[256];
    FILE *f;

    strcpy(top, "/tmp/portico-static-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(top));
    snprintf(p, sizeof(p), "%s/secret.txt", top);
    f = fopen(p, "w");
    fputs("secret", f);
    fclose(f);
    snprintf(p, sizeof(p), "%s/root", top);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/root/dir", top);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/root/a.txt", top);
    f = fopen(p, "w");
    fputs("a", f);
    fclose(f);
    snprintf(p, sizeof(p), "%s/root/dir/b.txt", top);
    f = fopen(p, "w");
    fputs("b", f);
    fclose(f);
    snprintf(p, sizeof(p), "%s/root/in", top);
    ck_assert_int_eq(symlink("a.txt", p), 0);
    snprintf(p, sizeof(p), "%s/root/out", top);
    ck_assert_int_eq(symlink("../secret.txt", p), 0);
    snprintf(p, sizeof(p), "%s/root/up", top);
    ck_assert_int_eq(symlink("..", p), 0);
    snprintf(p, sizeof(p), "%s/root/abs", top);
    ck_assert_int_eq(symlink("/etc", p), 0);
    snprintf(p, sizeof(p), "%s/root", top);
    rootfd = beneath_open_root(p);
    ck_assert_int_ge(rootfd, 0);
}

static void remove_tree(void)
{
    char cmd[128];

    close(rootfd);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    ck_assert_int_eq(system(cmd), 0);
}

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* Whether this kernel (and its seccomp filter) lets beneath_open use openat2; where
 * it refuses, beneath_open is the walk, which follows no symlink at all. */
int kernel_has_openat2(void)
{
    struct {
        unsigned long long flags, mode, resolve;
    } how = {O_RDONLY | O_DIRECTORY, 0, 0};
    long fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));

    if (fd < 0)
        return 0;
    close((int)fd);
    return 1;
}

static char read_one(int fd)
{
    char c = 0;

    ck_assert_int_eq(read(fd, &c, 1), 1);
    close(fd);
    return c;
}

START_TEST(beneath_and_walk_serve_inside)
{
    make_tree();
    ck_assert_int_eq(read_one(beneath_open(rootfd, "a.txt", O_RDONLY)), 'a');
    ck_assert_int_eq(read_one(beneath_open(rootfd, "dir/b.txt", O_RDONLY)), 'b');
    ck_assert_int_eq(read_one(beneath_open_walk(rootfd, "a.txt", O_RDONLY)), 'a');
    ck_assert_int_eq(read_one(beneath_open_walk(rootfd, "dir/b.txt", O_RDONLY)), 'b');
    /* a symlink that stays inside is followed by openat2 (the walk refuses it) */
    if (kernel_has_openat2())
        ck_assert_int_eq(read_one(beneath_open(rootfd, "in", O_RDONLY)), 'a');
    else
        ck_assert_int_lt(beneath_open(rootfd, "in", O_RDONLY), 0);
    /* ... and refused, with ELOOP, by the direct form either way */
    ck_assert_int_eq(read_one(beneath_open_direct(rootfd, "dir/b.txt", O_RDONLY)), 'b');
    ck_assert_int_lt(beneath_open_direct(rootfd, "in", O_RDONLY), 0);
    ck_assert_int_eq(errno, ELOOP);
    remove_tree();
}
END_TEST

static const char *const escapes[] = {"out", "up/secret.txt", "abs/hostname", "../secret.txt",
                                      "dir/../../secret.txt"};

START_TEST(beneath_refuses_escapes)
{
    int fd;

    make_tree();
    fd = beneath_open(rootfd, escapes[_i], O_RDONLY);
    ck_assert_msg(fd < 0, "%s opened", escapes[_i]);
    fd = beneath_open_walk(rootfd, escapes[_i], O_RDONLY);
    ck_assert_msg(fd < 0, "%s opened by the walk", escapes[_i]);
    remove_tree();
}
END_TEST

START_TEST(walk_refuses_every_symlink)
{
    make_tree();
    ck_assert_int_lt(beneath_open_walk(rootfd, "in", O_RDONLY), 0);
    ck_assert_int_eq(errno, ELOOP);
    ck_assert_int_lt(beneath_open_walk(rootfd, "a.txt/", O_RDONLY), 0);
    remove_tree();
}
END_TEST

Suite *beneath_suite(void)
{
    Suite *s = suite_create("beneath");
    TCase *tc = tcase_create("beneath");

    tcase_add_test(tc, beneath_and_walk_serve_inside);
    tcase_add_loop_test(tc, beneath_refuses_escapes, 0, sizeof(escapes) / sizeof(escapes[0]));
    tcase_add_test(tc, walk_refuses_every_symlink);
    suite_add_tcase(s, tc);
    return s;
}
