/* Range parsing and clipping (src/util/range.c) and Accept-Encoding choice
 * (src/util/encoding.c): the two header grammars static.c negotiates with. */
#include <stdio.h>
#include <string.h>

#include "portico/encoding.h"
#include "portico/range.h"
#include "suites.h"

static const struct {
    const char *value;
    uint64_t size;
    enum range_result want;
    int n;
    uint64_t first0, last0;
} range_cases[] = {
    {"bytes=0-99", 1000, RANGE_OK, 1, 0, 99},
    {"bytes=0-0", 1000, RANGE_OK, 1, 0, 0},
    {"bytes=990-2000", 1000, RANGE_OK, 1, 990, 999},
    {"bytes=500-", 1000, RANGE_OK, 1, 500, 999},
    {"bytes=-100", 1000, RANGE_OK, 1, 900, 999},
    {"bytes=-5000", 1000, RANGE_OK, 1, 0, 999},
    {"BYTES=1-2", 1000, RANGE_OK, 1, 1, 2},
    {"bytes= 1-2 ,", 1000, RANGE_OK, 1, 1, 2},
    {"bytes=0-1,5-6", 1000, RANGE_OK, 2, 0, 1},
    {"bytes=5-6,0-1", 1000, RANGE_OK, 2, 5, 6},
    {"bytes=2000-3000,0-1", 1000, RANGE_OK, 1, 0, 1}, /* the unsatisfiable part is dropped */
    {"bytes=1000-", 1000, RANGE_UNSATISFIABLE, 0, 0, 0},
    {"bytes=-0", 1000, RANGE_UNSATISFIABLE, 0, 0, 0},
    {"bytes=0-", 0, RANGE_UNSATISFIABLE, 0, 0, 0},
    {"bytes=-1", 0, RANGE_IGNORE, 0, 0, 0}, /* RFC 9110 14.1.1: the one satisfiable form */
    {"bytes=5-2", 1000, RANGE_IGNORE, 0, 0, 0},
    {"bytes=a-b", 1000, RANGE_IGNORE, 0, 0, 0},
    {"bytes=--1", 1000, RANGE_IGNORE, 0, 0, 0},
    {"bytes=", 1000, RANGE_IGNORE, 0, 0, 0},
    {"bytes=1", 1000, RANGE_IGNORE, 0, 0, 0},
    {"items=0-1", 1000, RANGE_IGNORE, 0, 0, 0},
    {"bytes 0-1", 1000, RANGE_IGNORE, 0, 0, 0},
    {"bytes=0-10,5-20", 1000, RANGE_IGNORE, 0, 0, 0}, /* overlapping */
    {"bytes=-10,995-", 1000, RANGE_IGNORE, 0, 0, 0},  /* overlapping once clipped */
    {"bytes=99999999999999999999-", 1000, RANGE_IGNORE, 0, 0, 0},
    {"bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,22-22,24-24,26-26,"
     "28-28,30-30",
     1000, RANGE_OK, 16, 0, 0},
    {"bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,22-22,24-24,26-26,"
     "28-28,30-30,32-32",
     1000, RANGE_IGNORE, 0, 0, 0}, /* more than 16 parts */
};

START_TEST(range_table)
{
    struct byte_range r[RANGE_MAX];
    int n = -1;
    const char *v = range_cases[_i].value;
    enum range_result res = range_parse(v, strlen(v), range_cases[_i].size, r, &n);

    ck_assert_msg(res == range_cases[_i].want, "%s: result %d", v, res);
    if (res == RANGE_OK) {
        ck_assert_int_eq(n, range_cases[_i].n);
        ck_assert_uint_eq(r[0].first, range_cases[_i].first0);
        ck_assert_uint_eq(r[0].last, range_cases[_i].last0);
    }
}
END_TEST

#define BOTH (ENCODING_GZIP | ENCODING_BR)

static const struct {
    const char *ae;
    unsigned avail, want;
} enc_cases[] = {
    {NULL, BOTH, ENCODING_IDENTITY},
    {"", BOTH, ENCODING_IDENTITY},
    {"gzip", BOTH, ENCODING_GZIP},
    {"br", BOTH, ENCODING_BR},
    {"gzip, br", BOTH, ENCODING_BR},
    {"gzip, deflate, br, zstd", BOTH, ENCODING_BR},
    {"gzip;q=1, br;q=0.5", BOTH, ENCODING_GZIP},
    {"gzip;q=0.5, br;q=0.5", BOTH, ENCODING_BR},
    {"br;q=0, gzip", BOTH, ENCODING_GZIP},
    {"gzip;q=0", BOTH, ENCODING_IDENTITY},
    {"gzip; q=0.000", ENCODING_GZIP, ENCODING_IDENTITY},
    {"*", BOTH, ENCODING_BR},
    {"*;q=0.5, br;q=0", BOTH, ENCODING_GZIP},
    {"identity", BOTH, ENCODING_IDENTITY},
    {"br", ENCODING_GZIP, ENCODING_IDENTITY},
    {"x-gzip", ENCODING_GZIP, ENCODING_GZIP},
    {"GZIP", ENCODING_GZIP, ENCODING_GZIP},
    {"gzip;q=2", BOTH, ENCODING_IDENTITY}, /* an invalid qvalue: the element is ignored */
    {"gzip;level=9", BOTH, ENCODING_IDENTITY},
};

#define ALL (ENCODING_GZIP | ENCODING_BR | ENCODING_ZSTD)

/* The order a variant is looked for in: by q, a tie in the order br, zstd, gzip. */
static const struct {
    const char *ae;
    unsigned avail;
    const char *want;
} rank_cases[] = {
    {NULL, ALL, ""},
    {"gzip, deflate, br, zstd", ALL, "br zstd gzip"},
    {"zstd, gzip", ALL, "zstd gzip"},
    {"gzip;q=1, br;q=0.5, zstd;q=0.8", ALL, "gzip zstd br"},
    {"gzip; q=0.5 , zstd ; q=0.5", ALL, "zstd gzip"},
    {"*", ALL, "br zstd gzip"},
    {"*;q=0.1, gzip", ALL, "gzip br zstd"},
    {"zstd;q=0, *", ALL, "br gzip"},
    {"identity;q=0", ALL, ""}, /* nothing acceptable: the file as it is after all */
    {"identity;q=0, *;q=0", ALL, ""},
    {"BR, ZSTD", ALL, "br zstd"},
    {"br;q=1.0, zstd;Q=1", ALL, "br zstd"},
    {"br;q=0.001", ALL, "br"},
    {"deflate, compress, unknown", ALL, ""},
    {"br;q=2, gzip", ALL, "gzip"}, /* an invalid qvalue: that element is ignored */
    {"zstd, gzip", ENCODING_BR | ENCODING_GZIP, "gzip"},
    {"x-gzip;q=0.5, br;q=0.4", ALL, "gzip br"},
    /* RFC 9110 §5.3: field lines of a list are one list, the last mention wins */
    {"gzip;q=0\nzstd", ALL, "zstd"},
    {"br;q=0.1\ngzip", ALL, "gzip br"},
    {"br\nbr;q=0", ALL, ""},
    {"\n*", ALL, "br zstd gzip"},
    /* identity named as better than a coding: that coding is not wanted */
    {"identity, br;q=0.1", ALL, ""},
    {"identity;q=0.5, br, gzip;q=0.4", ALL, "br"},
    {"identity;q=0.5, *", ALL, "br zstd gzip"},
    /* x-gzip is gzip: the better of the two */
    {"gzip, x-gzip;q=0", ALL, "gzip"},
    {"gzip;q=0, x-gzip", ALL, "gzip"},
    {"br;q=1.", ALL, "br"},
    {"br;q=0.", ALL, ""},
};

/* The field lines of a value written with '\n' between them. */
static int split_lines(const char *ae, struct str *lines)
{
    int n = 0;

    while (ae != NULL && n < 4) {
        const char *nl = strchr(ae, '\n');
        lines[n].p = ae;
        lines[n++].len = nl ? (size_t)(nl - ae) : strlen(ae);
        ae = nl ? nl + 1 : NULL;
    }
    return n;
}

START_TEST(rank_table)
{
    const char *ae = rank_cases[_i].ae;
    struct str lines[4];
    unsigned out[ENCODING_COUNT];
    char got[32] = "";
    int n = encoding_rank(lines, split_lines(ae, lines), rank_cases[_i].avail, out), i;

    for (i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "",
                 encoding_name(out[i]));
    ck_assert_msg(strcmp(got, rank_cases[_i].want) == 0, "%s: got '%s', want '%s'",
                  ae ? ae : "(none)", got, rank_cases[_i].want);
}
END_TEST

START_TEST(encoding_table)
{
    const char *ae = enc_cases[_i].ae;
    struct str line = {ae, ae ? strlen(ae) : 0};

    ck_assert_msg(encoding_choose(&line, ae != NULL, enc_cases[_i].avail) ==
                      enc_cases[_i].want,
                  "%s", ae ? ae : "(none)");
}
END_TEST

Suite *range_suite(void)
{
    Suite *s = suite_create("range");
    TCase *tc = tcase_create("range");

    tcase_add_loop_test(tc, range_table, 0, sizeof(range_cases) / sizeof(range_cases[0]));
    tcase_add_loop_test(tc, encoding_table, 0, sizeof(enc_cases) / sizeof(enc_cases[0]));
    tcase_add_loop_test(tc, rank_table, 0, sizeof(rank_cases) / sizeof(rank_cases[0]));
    suite_add_tcase(s, tc);
    return s;
}
