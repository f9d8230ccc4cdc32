/* Owns both logs. The error log goes to stderr, one line per event; the access
 * log is one write() per request so lines from different workers never interleave. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "portico/buf.h"
#include "portico/httpdate.h"
#include "portico/log.h"

static char ident[32] = "portico";
static int access_fd = -1;

void log_set_ident(int is_worker)
{
    if (is_worker)
        snprintf(ident, sizeof(ident), "portico[%ld]", (long)getpid());
    else
        snprintf(ident, sizeof(ident), "portico");
}

static void emit(const char *tag, int err, const char *fmt, va_list ap)
{
    char line[1024];
    struct buf b;
    int n;

    buf_init(&b, line, sizeof(line) - 1);
    buf_printf(&b, "%s: %s", ident, tag);
    n = vsnprintf(b.data + b.len, b.cap - b.len, fmt, ap);
    if (n > 0)
        b.len += (size_t)n < b.cap - b.len ? (size_t)n : b.cap - b.len - 1;
    if (err)
        buf_printf(&b, ": %s", strerror(err));
    b.data[b.len++] = '\n';
    if (write(STDERR_FILENO, b.data, b.len) < 0) {
        /* nowhere left to report it */
    }
}

#define DEFINE_LOG(name, tag, with_errno)                                                     \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        int saved = errno;                                                                         \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        emit(tag, with_errno ? saved : 0, fmt, ap);                                                \
        va_end(ap);                                                                                \
        errno = saved;                                                                             \
    }

DEFINE_LOG(log_error, "error: ", 1)
DEFINE_LOG(log_errorx, "error: ", 0)
DEFINE_LOG(log_warn, "warning: ", 1)
DEFINE_LOG(log_warnx, "warning: ", 0)
DEFINE_LOG(log_info, "", 0)

int log_access_open(const char *path)
{
    if (access_fd > STDERR_FILENO)
        close(access_fd);
    access_fd = -1;
    if (path == NULL || strcmp(path, "off") == 0)
        return 0;
    if (strcmp(path, "-") == 0) {
        access_fd = STDOUT_FILENO;
        return 0;
    }
    access_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return access_fd < 0 ? -1 : 0;
}

int log_access_enabled(void)
{
    return access_fd >= 0;
}

int log_access_fd(void)
{
    return access_fd;
}

void log_access_use_fd(int fd)
{
    if (access_fd > STDERR_FILENO)
        close(access_fd);
    access_fd = fd;
}

/* Escapes a client-supplied span as nginx does: '"', '\' and bytes outside
 * printable ASCII become \xHH, so a log line can never be forged or split; in a
 * field without quotes (the user), a space too. */
static void put_escaped_as(struct buf *b, const char *s, size_t len, int field)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    if (len == 0) {
        buf_puts(b, "-");
        return;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || (field && c == ' ')) {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            buf_append(b, esc, 4);
        } else {
            buf_append(b, &s[i], 1);
        }
    }
}

static void put_escaped(struct buf *b, const char *s, size_t len)
{
    put_escaped_as(b, s, len, 0);
}

void log_access(const struct log_access_entry *e)
{
    static time_t cached_when = -1;
    static char date[LOGDATE_LEN + 1];
    char line[4096];
    struct buf b;

    if (access_fd < 0)
        return;
    if (e->when != cached_when) {
        httpdate_format_log(e->when, date);
        cached_when = e->when;
    }
    buf_init(&b, line, sizeof(line) - 1);
    buf_printf(&b, "%s - ", e->client);
    put_escaped_as(&b, e->user, e->user ? e->user_len : 0, 1);
    buf_printf(&b, " [%s] \"", date);
    put_escaped(&b, e->request_line, e->request_line_len);
    buf_printf(&b, "\" %d ", e->status);
    buf_put_u64(&b, e->bytes);
    buf_puts(&b, " \"");
    put_escaped(&b, e->referer, e->referer_len);
    buf_puts(&b, "\" \"");
    put_escaped(&b, e->user_agent, e->user_agent_len);
    buf_puts(&b, "\"");
    b.data[b.len++] = '\n';
    if (write(access_fd, b.data, b.len) < 0) {
        /* a full disk must not stop serving; the error log would say the same */
    }
}

void log_access_set_json(int json)
{
    (void)json; /* STUB */
}
