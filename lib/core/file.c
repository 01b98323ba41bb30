/* file.c - opening input files the same way everywhere (contract in core.h). */
#include "core.h"
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

gc_status gc_open_regular(const char *path, const char *qp, FILE **f, int64_t *size) {
    *f = fopen(path, "rb");
    if (!*f) return gc_error(GC_ERR_IO, "%s: cannot open: %s", qp, strerror(errno));
    struct stat sb;
    if (fstat(fileno(*f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(*f);
        *f = NULL;
        return gc_error(GC_ERR_IO, "%s: not a regular file", qp);
    }
    if (size) *size = (int64_t)sb.st_size;
    return GC_OK;
}
