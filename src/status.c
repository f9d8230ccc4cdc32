/* Reason phrases for the status codes (RFC 9110 §15). Pure; no I/O. */
#include "build-config.h"

#include "portico/status.h"

const char *http_reason(enum http_status status)
{
    switch (status) {
    case HTTP_CONTINUE: return "Continue";
    case HTTP_OK: return "OK";
    case HTTP_NO_CONTENT: return "No Content";
    case HTTP_PARTIAL_CONTENT: return "Partial Content";
    case HTTP_MOVED_PERMANENTLY: return "Moved Permanently";
    case HTTP_FOUND: return "Found";
    case HTTP_SEE_OTHER: return "See Other";
    case HTTP_NOT_MODIFIED: return "Not Modified";
    case HTTP_TEMPORARY_REDIRECT: return "Temporary Redirect";
    case HTTP_PERMANENT_REDIRECT: return "Permanent Redirect";
    case HTTP_BAD_REQUEST: return "Bad Request";
    case HTTP_UNAUTHORIZED: return "Unauthorized";
    case HTTP_FORBIDDEN: return "Forbidden";
    case HTTP_NOT_FOUND: return "Not Found";
    case HTTP_METHOD_NOT_ALLOWED: return "Method Not Allowed";
    case HTTP_REQUEST_TIMEOUT: return "Request Timeout";
    case HTTP_PRECONDITION_FAILED: return "Precondition Failed";
    case HTTP_CONTENT_TOO_LARGE: return "Content Too Large";
    case HTTP_URI_TOO_LONG: return "URI Too Long";
    case HTTP_RANGE_NOT_SATISFIABLE: return "Range Not Satisfiable";
    case HTTP_EXPECTATION_FAILED: return "Expectation Failed";
    case HTTP_MISDIRECTED_REQUEST: return "Misdirected Request";
    case HTTP_HEADERS_TOO_LARGE: return "Request Header Fields Too Large";
    case HTTP_INTERNAL_ERROR: return "Internal Server Error";
    case HTTP_NOT_IMPLEMENTED: return "Not Implemented";
    case HTTP_SERVICE_UNAVAILABLE: return "Service Unavailable";
    case HTTP_VERSION_NOT_SUPPORTED: return "HTTP Version Not Supported";
    }
    return "Unknown";
}
