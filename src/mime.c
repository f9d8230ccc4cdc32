/* Built-in extension → media type table. The OS's mime.types is never read: the
 * web's types (.mjs, .wasm, .avif, .woff2) must be right on every machine. */
#include "build-config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "portico/mime.h"

#define UTF8 "; charset=utf-8"

struct mime_entry {
    const char *ext;
    const char *type;
    int compressible; /* text and the like; never images, media, archives or woff */
};

#define Z 1

/* Sorted by extension (lower case) for bsearch. */
static const struct mime_entry table[] = {
    {"7z", "application/x-7z-compressed", 0},
    {"aac", "audio/aac", 0},
    {"apng", "image/apng", 0},
    {"atom", "application/atom+xml", Z},
    {"avif", "image/avif", 0},
    {"bin", "application/octet-stream", 0},
    {"bmp", "image/bmp", 0},
    {"bz2", "application/x-bzip2", 0},
    {"cjs", "text/javascript" UTF8, Z},
    {"css", "text/css" UTF8, Z},
    {"csv", "text/csv" UTF8, Z},
    {"epub", "application/epub+zip", 0},
    {"flac", "audio/flac", 0},
    {"gif", "image/gif", 0},
    {"gz", "application/gzip", 0},
    {"htm", "text/html" UTF8, Z},
    {"html", "text/html" UTF8, Z},
    {"ico", "image/x-icon", Z},
    {"ics", "text/calendar" UTF8, Z},
    {"jpeg", "image/jpeg", 0},
    {"jpg", "image/jpeg", 0},
    {"js", "text/javascript" UTF8, Z},
    {"json", "application/json", Z},
    {"jsonld", "application/ld+json", Z},
    {"jxl", "image/jxl", 0},
    {"m4a", "audio/mp4", 0},
    {"m4v", "video/mp4", 0},
    {"manifest", "application/manifest+json", Z},
    {"map", "application/json", Z},
    {"md", "text/markdown" UTF8, Z},
    {"mjs", "text/javascript" UTF8, Z},
    {"mov", "video/quicktime", 0},
    {"mp3", "audio/mpeg", 0},
    {"mp4", "video/mp4", 0},
    {"mpeg", "video/mpeg", 0},
    {"oga", "audio/ogg", 0},
    {"ogg", "audio/ogg", 0},
    {"ogv", "video/ogg", 0},
    {"opus", "audio/ogg", 0},
    {"otf", "font/otf", Z},
    {"pdf", "application/pdf", 0},
    {"png", "image/png", 0},
    {"rss", "application/rss+xml", Z},
    {"rtf", "application/rtf", Z},
    {"svg", "image/svg+xml", Z},
    {"svgz", "image/svg+xml", 0},
    {"tar", "application/x-tar", 0},
    {"tif", "image/tiff", 0},
    {"tiff", "image/tiff", 0},
    {"toml", "application/toml", Z},
    {"ts", "video/mp2t", 0},
    {"ttf", "font/ttf", Z},
    {"txt", "text/plain" UTF8, Z},
    {"vtt", "text/vtt" UTF8, Z},
    {"wasm", "application/wasm", Z},
    {"wav", "audio/wav", 0},
    {"weba", "audio/webm", 0},
    {"webm", "video/webm", 0},
    {"webmanifest", "application/manifest+json", Z},
    {"webp", "image/webp", 0},
    {"woff", "font/woff", 0},
    {"woff2", "font/woff2", 0},
    {"xhtml", "application/xhtml+xml", Z},
    {"xml", "application/xml", Z},
    {"xz", "application/x-xz", 0},
    {"yaml", "application/yaml", Z},
    {"yml", "application/yaml", Z},
    {"zip", "application/zip", 0},
    {"zst", "application/zstd", 0},
};

struct key {
    const char *s;
    size_t len;
};

static int compare(const void *k, const void *e)
{
    const struct key *key = k;
    const char *ext = ((const struct mime_entry *)e)->ext;
    size_t elen = strlen(ext);
    int c = strncasecmp(key->s, ext, key->len < elen ? key->len : elen);

    if (c != 0)
        return c;
    return (key->len > elen) - (key->len < elen);
}

static const struct mime_entry *lookup(const char *name, size_t len)
{
    struct key key;
    size_t i = len;

    while (i > 0 && name[i - 1] != '.' && name[i - 1] != '/')
        i--;
    if (i == 0 || name[i - 1] != '.' || i == len)
        return NULL;
    key.s = name + i;
    key.len = len - i;
    return bsearch(&key, table, sizeof(table) / sizeof(table[0]), sizeof(table[0]), compare);
}

const char *mime_type(const char *name, size_t len)
{
    const struct mime_entry *e = lookup(name, len);

    return e ? e->type : "application/octet-stream";
}

int mime_compressible(const char *name, size_t len)
{
    const struct mime_entry *e = lookup(name, len);

    return e != NULL && e->compressible;
}
