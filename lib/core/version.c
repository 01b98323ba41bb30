/* version.c - the library's version. */
#include "gradcam.h"

const char *gc_version(void) { return GC_VERSION_STRING; }
