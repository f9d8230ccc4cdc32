/* The built-in MIME table (src/mime.c). */
#include <string.h>

#include "portico/mime.h"
#include "suites.h"

static const char *const cases[][2] = {
    {"/index.html", "text/html; charset=utf-8"},
    {"/INDEX.HTM", "text/html; charset=utf-8"},
    {"/a/style.css", "text/css; charset=utf-8"},
    {"/app.js", "text/javascript; charset=utf-8"},
    {"/mod.mjs", "text/javascript; charset=utf-8"},
    {"/data.json", "application/json"},
    {"/app.js.map", "application/json"},
    {"/logo.svg", "image/svg+xml"},
    {"/p.PNG", "image/png"},
    {"/p.jpg", "image/jpeg"},
    {"/p.jpeg", "image/jpeg"},
    {"/p.gif", "image/gif"},
    {"/p.webp", "image/webp"},
    {"/p.avif", "image/avif"},
    {"/favicon.ico", "image/x-icon"},
    {"/m.wasm", "application/wasm"},
    {"/v.mp4", "video/mp4"},
    {"/v.webm", "video/webm"},
    {"/a.ogg", "audio/ogg"},
    {"/a.mp3", "audio/mpeg"},
    {"/a.wav", "audio/wav"},
    {"/f.woff", "font/woff"},
    {"/f.woff2", "font/woff2"},
    {"/f.ttf", "font/ttf"},
    {"/f.otf", "font/otf"},
    {"/d.pdf", "application/pdf"},
    {"/r.txt", "text/plain; charset=utf-8"},
    {"/feed.xml", "application/xml"},
    {"/t.csv", "text/csv; charset=utf-8"},
    {"/z.zip", "application/zip"},
    {"/z.tar.gz", "application/gzip"},
    {"/site.webmanifest", "application/manifest+json"},
    {"/noext", "application/octet-stream"},
    {"/dir.d/noext", "application/octet-stream"},
    {"/trailingdot.", "application/octet-stream"},
    {"/x.unknownext", "application/octet-stream"},
    {"/x.htmlx", "application/octet-stream"},
    {"/x.htm", "text/html; charset=utf-8"},
    {"/x.h", "application/octet-stream"},
};

START_TEST(lookup)
{
    const char *name = cases[_i][0];

    ck_assert_str_eq(mime_type(name, strlen(name)), cases[_i][1]);
}
END_TEST

/* What the cache compresses: text and the like, never what is compressed already. */
static const struct {
    const char *name;
    int want;
} compress_cases[] = {
    {"/index.html", 1}, {"/a/style.CSS", 1}, {"/app.js", 1},      {"/mod.mjs", 1},
    {"/data.json", 1},  {"/app.js.map", 1},  {"/logo.svg", 1},    {"/favicon.ico", 1},
    {"/m.wasm", 1},     {"/f.ttf", 1},       {"/f.otf", 1},       {"/r.txt", 1},
    {"/feed.xml", 1},   {"/t.csv", 1},       {"/site.webmanifest", 1},
    {"/p.png", 0},      {"/p.jpg", 0},       {"/p.webp", 0},      {"/p.avif", 0},
    {"/f.woff", 0},     {"/f.woff2", 0},     {"/logo.svgz", 0},   {"/z.zip", 0},
    {"/z.tar.gz", 0},   {"/a.zst", 0},       {"/v.mp4", 0},       {"/a.mp3", 0},
    {"/d.pdf", 0},      {"/noext", 0},       {"/x.unknownext", 0}, {"/x.bin", 0},
};

START_TEST(compressible)
{
    const char *name = compress_cases[_i].name;

    ck_assert_msg(mime_compressible(name, strlen(name)) == compress_cases[_i].want, "%s", name);
}
END_TEST

Suite *mime_suite(void)
{
    Suite *s = suite_create("mime");
    TCase *tc = tcase_create("mime");

    tcase_add_loop_test(tc, lookup, 0, sizeof(cases) / sizeof(cases[0]));
    tcase_add_loop_test(tc, compressible, 0, sizeof(compress_cases) / sizeof(compress_cases[0]));
    suite_add_tcase(s, tc);
    return s;
}
