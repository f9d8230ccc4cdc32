/* libFuzzer target for the pure header parsers, each fed the same bytes: Range,
 * HTTP dates, Accept-Encoding, entity-tag lists, path decoding and the
 * configuration file format. Faster per execution than the whole request path. */
#include "build-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "portico/cond.h"
#include "portico/encoding.h"
#include "portico/httpdate.h"
#include "portico/path.h"
#include "portico/range.h"
#include "portico/settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct byte_range ranges[RANGE_MAX];
    char out[4096], err[512], path[64];
    time_t t;
    int n, i;

    if (range_parse(s, size, 1000, ranges, &n) == RANGE_OK) {
        if (n < 1 || n > RANGE_MAX)
            abort();
        for (i = 0; i < n; i++)
            if (ranges[i].first > ranges[i].last || ranges[i].last >= 1000)
                abort(); /* a range outside the representation */
    }
    if (httpdate_parse(s, size, &t) == 0) {
        char back[HTTPDATE_LEN + 1];
        httpdate_format(t, back); /* any date we accept formats back */
    }
    encoding_choose(s, size, ENCODING_GZIP | ENCODING_BR);
    etag_list_match(s, size, "\"abc\"", 5, 1);
    if (path_normalize(s, size, out, sizeof(out)) >= 0) {
        size_t len = strlen(out);
        if (out[0] != '/' || strstr(out, "/../") || strstr(out, "/./") ||
            (len >= 3 && strcmp(out + len - 3, "/..") == 0))
            abort(); /* a dot segment survived normalisation */
        path_is_hidden(out, len);
    }
    /* the configuration parser reads files: give it one in memory */
    {
        int fd = memfd_create("fuzz-config", 0);
        struct settings st;
        if (fd >= 0) {
            if (write(fd, data, size) == (ssize_t)size) {
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                config_defaults(&st);
                config_load(&st, path, err, sizeof(err));
                config_free(&st);
            }
            close(fd);
        }
    }
    return 0;
}
