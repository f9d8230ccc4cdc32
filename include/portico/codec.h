/* The compression libraries behind one call: brotli, zstd and gzip (libdeflate or
 * zlib), each there when configure found it. Pure: bytes in, bytes out. */
#ifndef PORTICO_CODEC_H
#define PORTICO_CODEC_H

#include <stddef.h>

/* The codings this build can make (a mask of ENCODING_*, encoding.h). */
unsigned codec_available(void);
/* The level to make a coding at: the cache's best (brotli 11, zstd 19, gzip 12 with
 * libdeflate or 9 with zlib), or one fast enough for the event loop (high == 0). */
int codec_level(unsigned coding, int high);
/* Compresses len bytes of in at level into *out (malloc'd, the caller frees it):
 * 0; 1 when the result would be no smaller than the input (not worth it); -1 when
 * the coding is not built in or memory ran out. */
int codec_compress(unsigned coding, int level, const void *in, size_t len, unsigned char **out,
                   size_t *out_len);
/* The version of the library that makes a coding ("1.0.9"): the same file and level
 * give the same bytes with the same version, so a validator that names it agrees
 * across machines running the same build, and differs where the bytes may. */
const char *codec_version(unsigned coding);
/* What this build has, for --version: "gzip (libdeflate 1.14) brotli 1.0.9 zstd 1.5.4". */
const char *codec_describe(void);

#endif
