/* Small string helpers shared by the protocol code: pure functions, no I/O. */
#ifndef PORTICO_STR_H
#define PORTICO_STR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A string that is not NUL-terminated, e.g. a header's value in the request. */
struct str {
    const char *p; /* NULL: absent (a header not sent) */
    size_t len;
};

#define STR_HASH_INIT 2166136261u

/* FNV-1a over len more bytes of s, from h (STR_HASH_INIT to begin): the hash of the
 * tables of paths and names. Inline: the file cache hashes each request's path. */
static inline uint32_t str_hash(uint32_t h, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* 1 when the span s equals lit, ignoring ASCII case; lit must be lower-case. Inline,
 * so that the literal's length is known where it is called: a header name costs
 * one comparison of lengths and a byte loop, not a call. */
static inline int str_ieq(const char *s, size_t len, const char *lit)
{
    size_t i;

    if (strlen(lit) != len)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (unsigned char)lit[i])
            return 0;
    }
    return 1;
}
/* 1 when c is an RFC 9110 tchar (the characters of a method or header name). */
int str_is_tchar(unsigned char c);
/* 1 when s has a control character other than HTAB (CR and LF would split a header
 * line; DEL is no field character either, RFC 9110 5.5). */
int str_has_control(const char *s);
/* Parses a decimal unsigned number spanning the whole of s; -1 on junk or overflow. */
int str_to_u64(const char *s, size_t len, uint64_t *out);
/* Iterates over the comma-separated elements of a header list value (RFC 9110 §5.6.1),
 * trimming whitespace and skipping empty elements. Returns 0 when there is none left. */
int str_next_token(const char **p, const char *end, const char **tok, size_t *toklen);
/* Decodes base64 with its padding (RFC 4648 §4) strictly: the alphabet only, a length
 * that is a multiple of four, '=' only at the end and zero bits under it, so that a byte
 * string has exactly one encoding. The decoded length, or -1 (also when over cap). */
long str_base64_decode(const char *in, size_t len, char *out, size_t cap);

#endif
