/* Compiles llhttp's generated parser llhttp.c from the directory configure found. */
#include "llhttp.c"
