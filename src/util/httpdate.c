/* Formats HTTP and log timestamps from a time_t, always in UTC. Pure: callers
 * cache the result once a second; nothing here reads the clock. */
#include "build-config.h"

#include <string.h>
#include <time.h>

#include "portico/httpdate.h"

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static char *put2(char *p, int v)
{
    *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

static char *put_year(char *p, int year)
{
    /* four digits by the format's definition; clamp rather than overflow */
    if (year < 0)
        year = 0;
    if (year > 9999)
        year = 9999;
    p = put2(p, year / 100);
    return put2(p, year % 100);
}

static char *put_clock(char *p, const struct tm *tm)
{
    p = put2(p, tm->tm_hour);
    *p++ = ':';
    p = put2(p, tm->tm_min);
    *p++ = ':';
    return put2(p, tm->tm_sec);
}

void httpdate_format(time_t t, char *out)
{
    struct tm tm;
    char *p = out;

    gmtime_r(&t, &tm);
    memcpy(p, days[tm.tm_wday], 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    p = put2(p, tm.tm_mday);
    *p++ = ' ';
    memcpy(p, months[tm.tm_mon], 3);
    p += 3;
    *p++ = ' ';
    p = put_year(p, tm.tm_year + 1900);
    *p++ = ' ';
    p = put_clock(p, &tm);
    memcpy(p, " GMT", 5);
}

void httpdate_format_log(time_t t, char *out)
{
    struct tm tm;
    char *p = out;

    gmtime_r(&t, &tm);
    p = put2(p, tm.tm_mday);
    *p++ = '/';
    memcpy(p, months[tm.tm_mon], 3);
    p += 3;
    *p++ = '/';
    p = put_year(p, tm.tm_year + 1900);
    *p++ = ':';
    p = put_clock(p, &tm);
    memcpy(p, " +0000", 7);
}
