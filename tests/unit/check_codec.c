/* The codecs (src/codec.c): what each coding makes decodes, with the libraries' own
 * decoders, to the input, at the fast and the cache's level; input that would not
 * shrink is refused. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"
#include "portico/codec.h"
#include "portico/encoding.h"
#include "suites.h"

#if HAVE_BROTLI && HAVE_BROTLIDEC
#include <brotli/decode.h>
#endif
#if HAVE_ZSTD
#include <zstd.h>
#endif
#if HAVE_LIBDEFLATE
#include <libdeflate.h>
#elif HAVE_ZLIB
#include <zlib.h>
#endif

/* Decodes in into out (room for want bytes): the length, or (size_t)-1. */
static size_t decode(unsigned coding, const unsigned char *in, size_t len, unsigned char *out,
                     size_t want)
{
    size_t n = (size_t)-1;

#if HAVE_BROTLI && HAVE_BROTLIDEC
    if (coding == ENCODING_BR && BrotliDecoderDecompress(len, in, &want, out) ==
                                     BROTLI_DECODER_RESULT_SUCCESS)
        n = want;
#endif
#if HAVE_ZSTD
    if (coding == ENCODING_ZSTD) {
        /* as a browser decodes: no window above 8 MiB (RFC 8878 §3.1.1.1.2) */
        ZSTD_DCtx *d = ZSTD_createDCtx();
        ZSTD_inBuffer src = {in, len, 0};
        ZSTD_outBuffer dst = {out, want, 0};
        size_t r = ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 23);
        if (!ZSTD_isError(r))
            r = ZSTD_decompressStream(d, &dst, &src);
        n = !ZSTD_isError(r) && r == 0 ? dst.pos : (size_t)-1;
        ZSTD_freeDCtx(d);
    }
#endif
#if HAVE_LIBDEFLATE
    if (coding == ENCODING_GZIP) {
        struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
        if (libdeflate_gzip_decompress(d, in, len, out, want, &n) != LIBDEFLATE_SUCCESS)
            n = (size_t)-1;
        libdeflate_free_decompressor(d);
    }
#elif HAVE_ZLIB
    if (coding == ENCODING_GZIP) {
        z_stream z = {0};
        inflateInit2(&z, 15 + 16);
        z.next_in = (unsigned char *)(uintptr_t)in;
        z.avail_in = (unsigned)len;
        z.next_out = out;
        z.avail_out = (unsigned)want;
        n = inflate(&z, Z_FINISH) == Z_STREAM_END ? z.total_out : (size_t)-1;
        inflateEnd(&z);
    }
#endif
    return n;
}

/* text that compresses, of a given length */
static unsigned char *text(size_t len)
{
    static const char line[] = "function f(x) { return x * 2; }\n";
    unsigned char *p = malloc(len);
    size_t i;

    for (i = 0; i < len; i++)
        p[i] = (unsigned char)(line[i % (sizeof(line) - 1)] + (i / 997) % 3);
    return p;
}

static const struct {
    unsigned coding;
    int high;
    size_t len;
} cases[] = {
    {ENCODING_BR, 0, 300},       {ENCODING_BR, 1, 300},       {ENCODING_BR, 1, 200000},
    {ENCODING_ZSTD, 0, 300},     {ENCODING_ZSTD, 1, 300},     {ENCODING_ZSTD, 1, 200000},
    {ENCODING_GZIP, 0, 300},     {ENCODING_GZIP, 1, 300},     {ENCODING_GZIP, 1, 200000},
    {ENCODING_BR, 0, 5u << 20},  {ENCODING_ZSTD, 1, 9u << 20}, /* past 8 MiB: a window's worth */
};

START_TEST(round_trip)
{
    unsigned coding = cases[_i].coding;
    size_t len = cases[_i].len, out_len = 0;
    unsigned char *in = text(len), *out = NULL, *back = malloc(len);

    if (!(codec_available() & coding)) {
        free(in);
        free(back);
        return; /* not built in: nothing to test */
    }
    ck_assert_int_eq(codec_compress(coding, codec_level(coding, cases[_i].high), in, len, &out,
                                    &out_len), 0);
    ck_assert_msg(out_len > 0 && out_len < len, "%zu bytes from %zu", out_len, len);
    if (coding != ENCODING_BR || HAVE_BROTLIDEC) { /* no decoder: the e2e test decodes */
        ck_assert_uint_eq(decode(coding, out, out_len, back, len), len);
        ck_assert(memcmp(in, back, len) == 0);
    }
    free(in);
    free(out);
    free(back);
}
END_TEST

/* Random bytes do not shrink and a handful of bytes are not worth a coding's header:
 * "not worth it" (1); a coding not built in is a failure (-1). */
START_TEST(refused)
{
    unsigned char noise[4096], *out = (unsigned char *)"untouched";
    size_t i, n = 0;
    unsigned coding = 1u << _i;

    if (!(codec_available() & coding))
        return; /* not built in: codec_compress says -1, as for any unknown coding */
    for (i = 0; i < sizeof(noise); i++)
        noise[i] = (unsigned char)(rand() >> 7);
    ck_assert_int_eq(codec_compress(coding, codec_level(coding, 1), noise, sizeof(noise), &out,
                                    &n), 1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(codec_compress(coding, 5, "aaaa", 4, &out, &n), 1);
    ck_assert_int_eq(codec_compress(0, 1, noise, sizeof(noise), &out, &n), -1);
}
END_TEST

Suite *codec_suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("codec");

    tcase_set_timeout(tc, 60); /* brotli 11 on 200 KB under ASan */
    tcase_add_loop_test(tc, round_trip, 0, sizeof(cases) / sizeof(cases[0]));
    tcase_add_loop_test(tc, refused, 0, ENCODING_COUNT);
    suite_add_tcase(s, tc);
    return s;
}
