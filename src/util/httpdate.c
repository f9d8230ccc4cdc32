/* Formats HTTP and log timestamps from a time_t, always in UTC, and parses the three
 * date forms. Callers cache what is formatted once a second; the clock is read only
 * to place an RFC 850 date's two-digit year. */
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

/* gmtime_r fails past year 2^31: keep every time within the four-digit years */
void httpdate_utc(time_t t, struct tm *tm)
{
    if (t < 0)
        t = 0;
    if (t > 253402300799) /* 9999-12-31 23:59:59 */
        t = 253402300799;
    gmtime_r(&t, tm);
}

void httpdate_format(time_t t, char *out)
{
    struct tm tm;
    char *p = out;

    httpdate_utc(t, &tm);
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

    httpdate_utc(t, &tm);
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

static int month_index(const char *s)
{
    int i;

    for (i = 0; i < 12; i++)
        if (memcmp(s, months[i], 3) == 0)
            return i;
    return -1;
}

static int day_index(const char *s, size_t len)
{
    static const char *const long_days[7] = {"Sunday", "Monday", "Tuesday", "Wednesday",
                                             "Thursday", "Friday", "Saturday"};
    int i;

    for (i = 0; i < 7; i++) {
        if (len == 3 && memcmp(s, days[i], 3) == 0)
            return i;
        if (len == strlen(long_days[i]) && memcmp(s, long_days[i], len) == 0)
            return i;
    }
    return -1;
}

/* Reads exactly n digits. */
static int digits(const char *s, int n, int *out)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int clock_part(const char *s, struct tm *tm)
{
    if (digits(s, 2, &tm->tm_hour) < 0 || s[2] != ':' || digits(s + 3, 2, &tm->tm_min) < 0 ||
        s[5] != ':' || digits(s + 6, 2, &tm->tm_sec) < 0)
        return -1;
    return tm->tm_hour < 24 && tm->tm_min < 60 && tm->tm_sec <= 60 ? 0 : -1;
}

static int finish(struct tm *tm, int wday, time_t *out)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year = tm->tm_year + 1900;
    time_t t;

    if (tm->tm_mday < 1 || tm->tm_mday > mdays[tm->tm_mon] ||
        (tm->tm_mon == 1 && tm->tm_mday == 29 &&
         !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))))
        return -1;
    t = timegm(tm);
    if (t == (time_t)-1)
        return -1;
    (void)wday; /* a wrong day name is tolerated, as by every server that parses dates */
    *out = t;
    return 0;
}

int httpdate_parse(const char *s, size_t len, time_t *out)
{
    struct tm tm;
    const char *comma = memchr(s, ',', len);
    int wday, year;

    memset(&tm, 0, sizeof(tm));
    if (comma != NULL) {
        wday = day_index(s, (size_t)(comma - s));
        if (wday < 0)
            return -1;
        if (len == 29 && comma - s == 3) {
            /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
            if (s[4] != ' ' || digits(s + 5, 2, &tm.tm_mday) < 0 || s[7] != ' ' ||
                (tm.tm_mon = month_index(s + 8)) < 0 || s[11] != ' ' ||
                digits(s + 12, 4, &year) < 0 || s[16] != ' ' || clock_part(s + 17, &tm) < 0 ||
                memcmp(s + 25, " GMT", 4) != 0)
                return -1;
            tm.tm_year = year - 1900;
            return finish(&tm, wday, out);
        }
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        len -= (size_t)(comma + 1 - s);
        s = comma + 1;
        if (len != 23 || s[0] != ' ' || digits(s + 1, 2, &tm.tm_mday) < 0 || s[3] != '-' ||
            (tm.tm_mon = month_index(s + 4)) < 0 || s[7] != '-' || digits(s + 8, 2, &year) < 0 ||
            s[10] != ' ' || clock_part(s + 11, &tm) < 0 || memcmp(s + 19, " GMT", 4) != 0)
            return -1;
        {
            /* RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is in the past */
            time_t now = time(NULL);
            struct tm cur;
            int full;
            gmtime_r(&now, &cur);
            full = (cur.tm_year + 1900) / 100 * 100 + year;
            if (full > cur.tm_year + 1900 + 50)
                full -= 100;
            tm.tm_year = full - 1900;
        }
        return finish(&tm, wday, out);
    }
    /* asctime: "Sun Nov  6 08:49:37 1994" */
    if (len != 24 || (wday = day_index(s, 3)) < 0 || s[3] != ' ' ||
        (tm.tm_mon = month_index(s + 4)) < 0 || s[7] != ' ')
        return -1;
    if (s[8] == ' ') {
        if (digits(s + 9, 1, &tm.tm_mday) < 0)
            return -1;
    } else if (digits(s + 8, 2, &tm.tm_mday) < 0) {
        return -1;
    }
    if (s[10] != ' ' || clock_part(s + 11, &tm) < 0 || s[19] != ' ' ||
        digits(s + 20, 4, &year) < 0)
        return -1;
    tm.tm_year = year - 1900;
    return finish(&tm, wday, out);
}
