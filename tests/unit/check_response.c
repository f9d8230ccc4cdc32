/* response_compose: what goes out as memory and what as file segments, above all
 * that a small cached file's body joins its head in one write. */
#include <stdlib.h>
#include <string.h>

#include "portico/response.h"
#include "suites.h"

#define BODY "hello, world"

static struct fc_file *small_file(int with_data)
{
    struct fc_file *f = calloc(1, sizeof(*f) + sizeof(BODY));

    ck_assert_ptr_nonnull(f);
    f->fd = 0; /* never read here: compose only needs to know there is a file */
    f->refs = 1;
    f->size = strlen(BODY);
    memcpy(f->mem, BODY, strlen(BODY));
    f->data = with_data ? f->mem : NULL;
    return f;
}

struct compose_case {
    const char *name;
    int with_data, head_only, nranges;
    uint64_t first[2], last[2];
    int tight;               /* the buffer has room for the head and 5 bytes more */
    int nseg;
    uint64_t file_len;       /* of the first segment */
    const char *tail;        /* what the memory of the first segment ends with */
};

static const struct compose_case cases[] = {
    {"in memory: head and body in one segment", 1, 0, 0, {0}, {0}, 0, 1, 0, "\r\n\r\n" BODY},
    {"in memory, one range: only its bytes", 1, 0, 1, {7, 0}, {11, 0}, 0, 1, 0, "\r\n\r\nworld"},
    {"not in memory: the body is a file segment", 0, 0, 0, {0}, {0}, 0, 1, 12, "\r\n\r\n"},
    {"HEAD: no body either way", 1, 1, 0, {0}, {0}, 0, 1, 0, "\r\n\r\n"},
    {"no room left in the buffer: sendfile after all", 1, 0, 0, {0}, {0}, 1, 1, 12, "\r\n\r\n"},
    {"multipart: file segments", 1, 0, 2, {0, 7}, {4, 11}, 0, 3, 5, "\r\n\r\n"},
};

START_TEST(test_compose_body)
{
    const struct compose_case *t = &cases[_i];
    struct fc_file *f = small_file(t->with_data);
    struct response r;
    struct segment seg[RESPONSE_MAX_SEGMENTS];
    char mem[1024];
    struct buf out;
    size_t head_len, tail_len = strlen(t->tail);
    int n, i;

    response_init(&r);
    r.status = t->nranges ? HTTP_PARTIAL_CONTENT : HTTP_OK;
    r.file = f;
    r.content_type = "text/plain";
    r.length = r.complete_length = f->size;
    r.head_only = t->head_only;
    r.keep_alive = 1;
    r.nranges = t->nranges;
    for (i = 0; i < t->nranges; i++) {
        r.ranges[i].first = t->first[i];
        r.ranges[i].last = t->last[i];
    }
    buf_init(&out, mem, sizeof(mem));
    if (t->tight) {
        /* learn the head's length, then leave too little room for the body */
        f->data = NULL;
        response_compose(&out, &r, seg, &head_len);
        f->data = f->mem;
        buf_init(&out, mem, head_len + 5);
    }
    n = response_compose(&out, &r, seg, &head_len);
    ck_assert_msg(!out.overflow, "%s: the head overflowed", t->name);
    ck_assert_int_eq(n, t->nseg);
    ck_assert_msg(seg[0].file_len == t->file_len, "%s: file_len %llu", t->name,
                  (unsigned long long)seg[0].file_len);
    ck_assert_uint_ge(seg[0].mem_len, tail_len);
    ck_assert_msg(memcmp(mem + seg[0].mem_off + seg[0].mem_len - tail_len, t->tail, tail_len) == 0,
                  "%s: first segment ends %.*s", t->name, (int)tail_len,
                  mem + seg[0].mem_off + seg[0].mem_len - tail_len);
    if (t->nseg == 1 && t->file_len == 0 && !t->head_only)
        ck_assert_uint_eq(seg[0].mem_len, head_len + tail_len - 4);
    free(f);
}
END_TEST

static size_t compose_200(struct fc_file *f, const char *type, const char *cache_control,
                          char *mem, size_t cap)
{
    struct response r;
    struct segment seg[RESPONSE_MAX_SEGMENTS];
    struct buf out;
    size_t head_len;

    response_init(&r);
    r.status = HTTP_OK;
    r.file = f;
    r.content_type = type;
    r.cache_control = cache_control;
    r.etag = f->etag;
    r.last_modified = f->last_modified;
    r.accept_ranges = 1;
    r.keep_alive = 1;
    r.length = r.complete_length = f->size;
    buf_init(&out, mem, cap);
    response_compose(&out, &r, seg, &head_len);
    ck_assert(!out.overflow);
    return head_len;
}

/* The memo of a file's representation headers gives the same bytes as composing
 * them, and is not reused when what they were made of differs. */
START_TEST(test_head_memo)
{
    struct fc_file *f = small_file(1);
    char first[1024], again[1024], other[1024];
    size_t n1, n2, n3;

    strcpy(f->etag, "\"abc-1\"");
    f->etag_len = 7;
    strcpy(f->last_modified, "Sun, 06 Nov 1994 08:49:37 GMT");
    n1 = compose_200(f, "text/plain", NULL, first, sizeof(first));
    {
        static const unsigned char zero[FC_MEMO_SIZE];
        ck_assert(memcmp(f->memo, zero, FC_MEMO_SIZE) != 0); /* kept in the file's slot */
    }
    n2 = compose_200(f, "text/plain", NULL, again, sizeof(again));
    ck_assert_uint_eq(n1, n2);
    ck_assert(memcmp(first, again, n1) == 0);
    n3 = compose_200(f, "text/css", "max-age=60", other, sizeof(other));
    other[n3] = '\0';
    ck_assert_ptr_nonnull(strstr(other, "\r\nContent-Type: text/css\r\n"));
    ck_assert_ptr_nonnull(strstr(other, "\r\nCache-Control: max-age=60\r\n"));
    ck_assert_ptr_nonnull(strstr(other, "\r\nETag: \"abc-1\"\r\n"));
    ck_assert_ptr_null(strstr(other, "text/plain"));
    free(f);
}
END_TEST

/* Appends to a buffer of 8 bytes: what fits is kept whole, what does not is cut at
 * the capacity and marks the overflow, and nothing is written past it. */
static const struct {
    const char *name;
    const char *parts[3];
    const char *want;
    int overflow;
} clip_cases[] = {
    {"fits", {"abc", "de"}, "abcde", 0},
    {"fills exactly", {"abc", "defgh"}, "abcdefgh", 0},
    {"one too many", {"abcdefgh", "x"}, "abcdefgh", 1},
    {"cut in the middle", {"abcdef", "ghij", "k"}, "abcdefgh", 1},
    {"cut at once", {"0123456789"}, "01234567", 1},
    {"nothing more", {"abcdefgh", ""}, "abcdefgh", 0},
};

START_TEST(test_buf_clip)
{
    char mem[8 + 4];
    struct buf b;
    int i;

    memset(mem, '#', sizeof(mem));
    buf_init(&b, mem, 8);
    for (i = 0; i < 3 && clip_cases[_i].parts[i] != NULL; i++)
        buf_puts(&b, clip_cases[_i].parts[i]);
    ck_assert_msg(b.len == strlen(clip_cases[_i].want) &&
                      memcmp(mem, clip_cases[_i].want, b.len) == 0,
                  "%s: %.*s", clip_cases[_i].name, (int)b.len, mem);
    ck_assert_int_eq(b.overflow, clip_cases[_i].overflow);
    ck_assert_msg(memcmp(mem + 8, "####", 4) == 0, "%s: written past the end",
                  clip_cases[_i].name);
}
END_TEST

Suite *response_suite(void)
{
    Suite *s = suite_create("response");
    TCase *tc = tcase_create("compose");

    tcase_add_loop_test(tc, test_compose_body, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, test_head_memo);
    tcase_add_loop_test(tc, test_buf_clip, 0, (int)(sizeof(clip_cases) / sizeof(clip_cases[0])));
    suite_add_tcase(s, tc);
    return s;
}
