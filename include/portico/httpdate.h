/* HTTP dates (IMF-fixdate, RFC 9110 §5.6.7) and the access log's clock format. */
#ifndef PORTICO_HTTPDATE_H
#define PORTICO_HTTPDATE_H

#include <stddef.h>
#include <time.h>

#define HTTPDATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */
#define LOGDATE_LEN  26 /* "06/Nov/1994:08:49:37 +0000" */

/* gmtime_r of t clamped to the four-digit years (gmtime fails past 2^31 years). */
void httpdate_utc(time_t t, struct tm *tm);
/* Writes the IMF-fixdate of t into out (HTTPDATE_LEN + 1 bytes, NUL-terminated). */
void httpdate_format(time_t t, char *out);
/* Parses an HTTP date in any of the three formats RFC 9110 §5.6.7 requires a
 * recipient to accept (IMF-fixdate, RFC 850, asctime); -1 if it is none of them. */
int httpdate_parse(const char *s, size_t len, time_t *out);
/* Writes the Common Log Format time of t (UTC) into out (LOGDATE_LEN + 1 bytes). */
void httpdate_format_log(time_t t, char *out);

#endif
