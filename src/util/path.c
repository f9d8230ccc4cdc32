/* Request path → normalised path beneath the root. Decoding happens exactly once,
 * before dot segments are judged, so "%2e%2e" is "..". Pure; must never touch the
 * file system: the real fence is openat2(RESOLVE_BENEATH) in beneath.c. */
#include "build-config.h"

#include <string.h>

#include "portico/path.h"
#include "portico/str.h"

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long path_normalize(const char *in, size_t len, char *out, size_t cap)
{
    size_t i = 0, olen = 0;
    int trailing = 0;

    if (len == 0 || in[0] != '/')
        return PATH_NOT_ABSOLUTE;
    if (cap < 2)
        return PATH_TOO_LONG;

    while (i < len) {
        size_t seg; /* where this segment's '/' sits in out */
        i++;        /* skip the '/' that starts every segment */
        if (olen + 1 >= cap)
            return PATH_TOO_LONG;
        seg = olen;
        out[olen++] = '/';
        while (i < len && in[i] != '/') {
            unsigned char c = (unsigned char)in[i];
            if (c == '%') {
                int hi, lo;
                if (i + 2 >= len)
                    return PATH_BAD_ESCAPE;
                hi = hexval((unsigned char)in[i + 1]);
                lo = hexval((unsigned char)in[i + 2]);
                if (hi < 0 || lo < 0)
                    return PATH_BAD_ESCAPE;
                c = (unsigned char)(hi << 4 | lo);
                if (c == '/')
                    return PATH_ENCODED_SLASH;
                i += 3;
            } else {
                i++;
            }
            if (c == '\0')
                return PATH_NUL;
            if (olen + 1 >= cap)
                return PATH_TOO_LONG;
            out[olen++] = (char)c;
        }
        /* judge the decoded segment out[seg+1 .. olen) */
        size_t n = olen - seg - 1;
        const char *s = out + seg + 1;
        if (n == 0 || (n == 1 && s[0] == '.')) {
            olen = seg;
            trailing = 1;
        } else if (n == 2 && s[0] == '.' && s[1] == '.') {
            olen = seg;
            if (olen == 0)
                return PATH_ABOVE_ROOT;
            while (olen > 0 && out[olen - 1] != '/')
                olen--;
            olen--; /* drop the '/' that began the removed segment */
            trailing = 1;
        } else {
            trailing = 0;
        }
    }
    if (olen == 0 || trailing) {
        if (olen + 2 > cap)
            return PATH_TOO_LONG;
        out[olen++] = '/';
    }
    out[olen] = '\0';
    return (long)olen;
}

int path_is_hidden(const char *path, size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i++) {
        if (path[i] != '/' || path[i + 1] != '.')
            continue;
        if (i == 0 && len >= 12 && memcmp(path, "/.well-known", 12) == 0 &&
            (len == 12 || path[12] == '/'))
            continue;
        return 1;
    }
    return 0;
}

static long encode(const char *in, size_t len, char *out, size_t cap, const char *keep_set)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   (c != '\0' && strchr(keep_set, c) != NULL);
        if (o + (keep ? 1 : 3) >= cap)
            return -1;
        if (keep) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return (long)o;
}

long path_encode(const char *in, size_t len, char *out, size_t cap)
{
    return encode(in, len, out, cap, "-._~!$&'()*+,;=:@/");
}

long path_encode_name(const char *in, size_t len, char *out, size_t cap)
{
    return encode(in, len, out, cap, "-._~");
}

int path_is_served_file(const char *path)
{
    return path[0] == '/' && strpbrk(path, "?# \t") == NULL && strstr(path, "/.") == NULL &&
           !str_has_control(path);
}
