/* Compiles llhttp's http.c from the directory configure found (node-llhttp). */
#include "http.c"
