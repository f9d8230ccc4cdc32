/* One call over the compression libraries configure found. Whole buffers only: the
 * cache compresses whole files, once. Never does I/O. */
#include "build-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "portico/codec.h"
#include "portico/encoding.h"

#if HAVE_BROTLI
#include <brotli/encode.h>
#endif
#if HAVE_ZSTD
#include <zstd.h>
#endif
#if HAVE_LIBDEFLATE
#include <libdeflate.h>
#elif HAVE_ZLIB
#include <zlib.h>
#endif

unsigned codec_available(void)
{
    return (HAVE_BROTLI ? ENCODING_BR : 0) | (HAVE_ZSTD ? ENCODING_ZSTD : 0) |
           (HAVE_LIBDEFLATE || HAVE_ZLIB ? ENCODING_GZIP : 0);
}

int codec_level(unsigned coding, int high)
{
    switch (coding) {
    case ENCODING_BR:
        return high ? 11 : 5;
    case ENCODING_ZSTD:
        return high ? 19 : 3;
    case ENCODING_GZIP:
        return high ? (HAVE_LIBDEFLATE ? 12 : 9) : 6;
    default:
        return 0;
    }
}

const char *codec_version(unsigned coding)
{
    static char br[16];

    switch (coding) {
#if HAVE_BROTLI
    case ENCODING_BR:
        if (br[0] == '\0') {
            uint32_t v = BrotliEncoderVersion(); /* 0xMMMmmmPPP, 12 bits each */
            snprintf(br, sizeof(br), "%u.%u.%u", (unsigned)(v >> 24), (unsigned)(v >> 12) & 0xfff,
                     (unsigned)v & 0xfff);
        }
        return br;
#endif
#if HAVE_ZSTD
    case ENCODING_ZSTD:
        return ZSTD_versionString();
#endif
#if HAVE_LIBDEFLATE
    case ENCODING_GZIP:
        return LIBDEFLATE_VERSION_STRING;
#elif HAVE_ZLIB
    case ENCODING_GZIP:
        return zlibVersion();
#endif
    default:
        return "0";
    }
}

#if HAVE_LIBDEFLATE
#define GZIP_LIBRARY "libdeflate"
#else
#define GZIP_LIBRARY "zlib"
#endif

const char *codec_describe(void)
{
    static const struct {
        unsigned coding;
        const char *name, *end; /* around the library's version */
    } codings[] = {{ENCODING_GZIP, "gzip (" GZIP_LIBRARY " ", ")"},
                   {ENCODING_BR, "brotli ", ""},
                   {ENCODING_ZSTD, "zstd ", ""}};
    static char text[96];
    size_t n = 0, i;

    if (text[0] != '\0')
        return text;
    for (i = 0; i < sizeof(codings) / sizeof(codings[0]); i++)
        if ((codec_available() & codings[i].coding) && n < sizeof(text)) {
            int k = snprintf(text + n, sizeof(text) - n, "%s%s%s%s", n ? " " : "",
                             codings[i].name, codec_version(codings[i].coding), codings[i].end);
            n += k > 0 ? (size_t)k : 0;
        }
    return text[0] != '\0' ? text : "none";
}

#if HAVE_BROTLI
static size_t brotli(int level, const void *in, size_t len, unsigned char *out, size_t cap)
{
    /* a window as large as the file, up to brotli's 16 MiB: more finds nothing more */
    int lgwin = BROTLI_MIN_WINDOW_BITS;

    while (lgwin < BROTLI_MAX_WINDOW_BITS && ((size_t)1 << lgwin) - 16 < len)
        lgwin++;
    if (!BrotliEncoderCompress(level, lgwin, BROTLI_MODE_GENERIC, len, in, &cap, out))
        return 0;
    return cap;
}
#endif

#if HAVE_ZSTD
static size_t zstd(int level, const void *in, size_t len, unsigned char *out, size_t cap)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    size_t n = 0;

    /* RFC 8878 §3.1.1.1.2: an HTTP decoder need not take a window above 8 MiB */
    if (c != NULL && !ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)) &&
        !ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, len > (1u << 23) ? 23 : 0))) {
        n = ZSTD_compress2(c, out, cap, in, len);
        if (ZSTD_isError(n))
            n = 0;
    }
    ZSTD_freeCCtx(c);
    return n;
}
#endif

#if HAVE_LIBDEFLATE
static size_t gzip(int level, const void *in, size_t len, unsigned char *out, size_t cap)
{
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
    size_t n = c ? libdeflate_gzip_compress(c, in, len, out, cap) : 0;

    if (c != NULL)
        libdeflate_free_compressor(c);
    return n;
}
#elif HAVE_ZLIB
static size_t gzip(int level, const void *in, size_t len, unsigned char *out, size_t cap)
{
    z_stream z = {0};
    size_t n = 0;

    /* 15 + 16: a gzip wrapper around deflate's largest window */
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (len <= UINT32_MAX && cap <= UINT32_MAX && deflate(&z, Z_FINISH) == Z_STREAM_END)
        n = z.total_out;
    deflateEnd(&z);
    return n;
}
#endif

int codec_compress(unsigned coding, int level, const void *in, size_t len, unsigned char **out,
                   size_t *out_len)
{
    size_t (*make)(int, const void *, size_t, unsigned char *, size_t) = NULL;
    size_t n;

#if HAVE_BROTLI
    if (coding == ENCODING_BR)
        make = brotli;
#endif
#if HAVE_ZSTD
    if (coding == ENCODING_ZSTD)
        make = zstd;
#endif
#if HAVE_LIBDEFLATE || HAVE_ZLIB
    if (coding == ENCODING_GZIP)
        make = gzip;
#endif
    *out = NULL;
    if (make == NULL)
        return -1;
    if (len < 16)
        return 1; /* a coding's header and trailer alone are about that long */
    /* a result worth sending is smaller than the input: room for that much only */
    if ((*out = malloc(len)) == NULL)
        return -1;
    n = make(level, in, len, *out, len - 1);
    if (n == 0) {
        free(*out);
        *out = NULL;
        return 1;
    }
    *out_len = n;
    return 0;
}
