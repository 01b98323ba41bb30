/* gcw.h - .gcw helpers shared with the tools (internal). */
#ifndef GC_GCW_H
#define GC_GCW_H

#include "net/model.h"

/* Writes layer l's hyper-parameters as "key=value ..." with the names of
 * docs/format.md into buf (always terminated; "" for none). */
void gc_gcw_format_hparams(const gc_layer *l, char *buf, size_t cap);

/* gc_model_open without mmap: the file is read into one aligned buffer, the path
 * gc_model_open takes when the file cannot be mapped (tests exercise it through this). */
gc_status gc_gcw_open_unmapped(const char *path, gc_model **out);

#endif
