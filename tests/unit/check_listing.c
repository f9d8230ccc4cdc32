/* Directory listings (src/listing.c): escaping, order, and what is left out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "portico/beneath.h"
#include "portico/listing.h"
#include "suites.h"

START_TEST(escape)
{
    char out[128];

    ck_assert_int_eq(listing_html_escape("<a href=\"x\">&'</a>", 18, out, sizeof(out)), 48);
    ck_assert_str_eq(out, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    ck_assert_int_eq(listing_html_escape("plain", 5, out, sizeof(out)), 5);
    ck_assert_int_eq(listing_html_escape("<<<", 3, out, 8), -1);
}
END_TEST

static void touch(const char *dir, const char *name)
{
    char p[512];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs("x", f);
    fclose(f);
}

START_TEST(build)
{
    char top[] = "/tmp/portico-listing-XXXXXX", p[512], page[8192], cmd[600];
    uint64_t len = 0;
    ssize_t n;
    int root, fd;
    char *b, *z, *sub;

    ck_assert_ptr_nonnull(mkdtemp(top));
    snprintf(p, sizeof(p), "%s/root", top);
    mkdir(p, 0755);
    touch(p, "<script>alert(1)<\\script>.txt");
    touch(p, "b.txt");
    touch(p, "a\"b.txt");
    touch(p, ".hidden");
    touch(top, "secret.txt");
    snprintf(p, sizeof(p), "%s/root/zdir", top);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/root/out", top);
    ck_assert_int_eq(symlink("../secret.txt", p), 0);
    snprintf(p, sizeof(p), "%s/root", top);
    root = beneath_open_root(p);
    ck_assert_int_ge(root, 0);

    fd = listing_build(root, "/", 1, &len);
    ck_assert_int_ge(fd, 0);
    n = pread(fd, page, sizeof(page) - 1, 0);
    ck_assert_int_eq(n, (ssize_t)len);
    page[n] = '\0';
    ck_assert_ptr_null(strstr(page, "<script>"));
    ck_assert_ptr_nonnull(strstr(page, "&lt;script&gt;alert(1)&lt;\\script&gt;.txt"));
    ck_assert_ptr_nonnull(strstr(page, "href=\"./%3Cscript%3Ealert%281%29%3C%5Cscript%3E.txt\""));
    ck_assert_ptr_nonnull(strstr(page, "a&quot;b.txt"));
    ck_assert_ptr_null(strstr(page, ".hidden"));
    ck_assert_ptr_null(strstr(page, "\"./out\""));  /* a symlink out of the root */
    ck_assert_ptr_null(strstr(page, "href=\"../\"")); /* no parent link at the root */
    /* directories first, then names in byte order */
    z = strstr(page, "./zdir/");
    b = strstr(page, "./b.txt");
    ck_assert(z != NULL && b != NULL && z < b);
    ck_assert(strstr(page, "./a%22b.txt") < b);
    close(fd);

    fd = listing_build(root, "/zdir/", 6, &len);
    ck_assert_int_ge(fd, 0);
    n = pread(fd, page, sizeof(page) - 1, 0);
    page[n] = '\0';
    sub = strstr(page, "href=\"../\"");
    ck_assert_ptr_nonnull(sub);
    close(fd);
    ck_assert_int_lt(listing_build(root, "/nope/", 6, &len), 0);
    close(root);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *listing_suite(void)
{
    Suite *s = suite_create("listing");
    TCase *tc = tcase_create("listing");

    tcase_add_test(tc, escape);
    tcase_add_test(tc, build);
    suite_add_tcase(s, tc);
    return s;
}
