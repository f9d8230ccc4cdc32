/* Compiles llhttp's api.c from the directory configure found (node-llhttp). */
#include "api.c"
