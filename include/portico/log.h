/* Error log (stderr, with levels) and access log (Combined Log Format, or JSON lines). */
#ifndef PORTICO_LOG_H
#define PORTICO_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Names this process in every error-log line: "portico" or "portico[PID]". */
void log_set_ident(int is_worker);

/* The _x forms print the message alone; the others append strerror(errno). */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* What one access-log line says; strings are spans, not NUL-terminated. */
struct log_access_entry {
    const char *client; /* numeric address: the real client's, behind a trusted proxy */
    const char *request_line;
    size_t request_line_len;
    const char *method; /* its name, NUL-terminated, or NULL when there was no request line */
    const char *target; /* the request target as sent (path and query) */
    size_t target_len;
    const char *host;   /* the Host header, or NULL */
    size_t host_len;
    const char *tls;    /* the TLS version ("TLSv1.3"), or NULL for plain HTTP */
    uint64_t duration_us; /* from the first byte of the request to the last of the response */
    const char *referer;
    size_t referer_len;
    const char *user_agent;
    size_t user_agent_len;
    const char *user; /* authenticated by a password (auth rules), or NULL */
    size_t user_len;
    int status;
    uint64_t bytes; /* body bytes sent */
    time_t when;
};

/* Opens the access log: "-" is stdout, NULL or "off" disables it. */
int log_access_open(const char *path);
/* 1 when an access-log setting names a file (not stdout, not off). */
int log_access_is_file(const char *path);
/* Lines from now on: 0 the Combined Log Format, 1 one JSON object a line (a missing
 * field is null; a value too long for the line is cut, never the line). */
void log_access_set_json(int json);
int log_access_enabled(void);
/* The access log's descriptor (-1 when off), and taking over a new one (a reopened
 * file handed over by the master; the old one is closed). */
int log_access_fd(void);
void log_access_use_fd(int fd);
void log_access(const struct log_access_entry *e);

#endif
