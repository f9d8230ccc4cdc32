/* The compressor's index of its cache directory (src/cachedir.c) and the names it
 * may delete (variant_name_valid, src/variant.c): eviction goes by last use, keeps
 * foreign files, and finds every name again after a scan or an eviction. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "portico/cachedir.h"
#include "portico/encoding.h"
#include "portico/variant.h"
#include "suites.h"

static const struct {
    const char *name;
    int valid;
} names[] = {
    {"fe00-a88630-46bf6-6b161c13.150756428.br11", 1},
    {"1-2-3-4.000000000.zstd19", 1},
    {"1-2-3-4.000000000.br11-1.0.9", 1},  /* the library's version */
    {"1-2-3-4.000000000.br11-", 0},
    {"1-2-3-4.000000000.br11-1.x", 0},
    {"1-2-3-4.000000000.br-1.0.9", 0},
    {"1-2-3-4.000000000.gzip12", 1},
    {"1-2-3-4.000000000.br", 0},          /* no level */
    {"1-2-3-4.00000000.br11", 0},         /* eight digits of nanoseconds */
    {"1-2-3.000000000.br11", 0},          /* three parts */
    {"1-2-3-4.000000000.deflate6", 0},
    {"1-2-3-4.000000000.br11x", 0},
    {"1-2-3-G.000000000.br11", 0},
    {"../1-2-3-4.000000000.br11", 0},
    {".tmp-portico-12-0", 0},
    {"index.html", 0},
    {"", 0},
};

START_TEST(name_table)
{
    ck_assert_msg(variant_name_valid(names[_i].name) == names[_i].valid, "%s", names[_i].name);
}
END_TEST

START_TEST(name_round_trip)
{
    char out[VARIANT_NAME_MAX];
    struct timespec t = {0x6b161c13, 150756428};
    unsigned bit;

    for (bit = 1; bit < 1u << ENCODING_COUNT; bit <<= 1) {
        ck_assert_uint_gt(variant_name(out, 0xfe00, 0xa88630, 0x46bf6, t, bit, 11), 0);
        ck_assert_msg(variant_name_valid(out), "%s", out);
    }
    ck_assert_uint_eq(variant_name(out, 1, 2, 3, t, ENCODING_IDENTITY, 5), 0);
}
END_TEST

static char dir[64];

static int make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/check-cachedir-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return open(dir, O_RDONLY | O_DIRECTORY);
}

static void put(int dirfd, const char *name, size_t size, time_t used)
{
    char buf[1000] = {0};
    struct timespec times[2] = {{used, 0}, {used, 0}};
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, buf, size), (ssize_t)size);
    futimens(fd, times);
    close(fd);
}

static int exists(int dirfd, const char *name)
{
    struct stat st;

    return fstatat(dirfd, name, &st, 0) == 0;
}

/* Ten variants of 1000 bytes, used at times 100..109, and a foreign file: a bound of
 * 5000 keeps the four most recently used (4500 is the tenth below it), a use moves
 * one up, and the foreign file stays. */
START_TEST(evicts_least_recently_used)
{
    struct cachedir c = {0};
    struct timespec now = {200, 0};
    char name[VARIANT_NAME_MAX];
    int dirfd = make_dir(), i;

    for (i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "1-%x-3-4.000000000.br11", i);
        put(dirfd, name, 1000, 100 + i);
    }
    put(dirfd, "keep-me.txt", 1000, 1);
    cachedir_scan(&c, dirfd, 100000, 600);
    ck_assert_uint_eq(c.n, 10);
    ck_assert_uint_eq(c.total, 10000);
    ck_assert_ptr_nonnull(cachedir_find(&c, "1-0-3-4.000000000.br11"));
    cachedir_find(&c, "1-0-3-4.000000000.br11")->used = now; /* the oldest, used again */
    cachedir_evict(&c, 5000);
    ck_assert_uint_eq(c.total, 4000);
    for (i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "1-%x-3-4.000000000.br11", i);
        ck_assert_msg(exists(dirfd, name) == (i == 0 || i >= 7), "%s", name);
        ck_assert_msg((cachedir_find(&c, name) != NULL) == (i == 0 || i >= 7), "%s", name);
    }
    ck_assert(exists(dirfd, "keep-me.txt"));
    cachedir_note(&c, "1-99-3-4.000000000.gzip12", 500, now);
    ck_assert_uint_eq(c.total, 4500);
    ck_assert_ptr_nonnull(cachedir_find(&c, "1-99-3-4.000000000.gzip12"));
    cachedir_evict(&c, 0); /* everything it indexed goes; the foreign file stays */
    ck_assert(exists(dirfd, "keep-me.txt"));
    unlinkat(dirfd, "keep-me.txt", 0);
    ck_assert_int_eq(rmdir(dir), 0);
    cachedir_free(&c);
    close(dirfd);
}
END_TEST

/* Thousands of names: each is found, and a note of a known name updates it. */
START_TEST(finds_many)
{
    struct cachedir c = {.dirfd = -1};
    struct timespec t = {1, 0};
    char name[VARIANT_NAME_MAX];
    int i;

    for (i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "1-%x-3-4.000000000.zstd19", i);
        cachedir_note(&c, name, 10, t);
    }
    cachedir_note(&c, "1-0-3-4.000000000.zstd19", 20, t);
    ck_assert_uint_eq(c.n, 5000);
    ck_assert_uint_eq(c.total, 50010);
    for (i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "1-%x-3-4.000000000.zstd19", i);
        ck_assert_ptr_nonnull(cachedir_find(&c, name));
    }
    ck_assert_ptr_null(cachedir_find(&c, "1-5000-3-4.000000000.zstd19"));
    cachedir_free(&c);
}
END_TEST

Suite *cachedir_suite(void)
{
    Suite *s = suite_create("cachedir");
    TCase *tc = tcase_create("cachedir");

    tcase_add_loop_test(tc, name_table, 0, sizeof(names) / sizeof(names[0]));
    tcase_add_test(tc, name_round_trip);
    tcase_add_test(tc, evicts_least_recently_used);
    tcase_add_test(tc, finds_many);
    suite_add_tcase(s, tc);
    return s;
}
