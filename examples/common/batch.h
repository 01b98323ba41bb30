/* batch.h - what a program running over a data set needs: the list of its
 * inputs (files, folders searched recursively, list files) with the name each
 * input's outputs take, a progress bar with rate and ETA, and JSON written
 * as tools/gcmerge and python/gradcam/shards.py write it (docs/cluster.md). */
#ifndef GC_EXAMPLES_BATCH_H
#define GC_EXAMPLES_BATCH_H

#include <stdio.h>

/* One input: the path to read and its name, the path relative to where it
 * was found ('/'-separated, never absolute, never with ".."); outputs are
 * named by the name without its extension (the stem). */
typedef struct cli_item {
    char *path, *name, *stem;
} cli_item;

typedef struct cli_items {
    cli_item *v;  /* (n) in input order */
    int       n, cap;
} cli_items;

/* Appends the inputs of one argument: a file (named by its base name), or a
 * folder, searched recursively for .png .jpg .jpeg .ppm .pgm (any case), its
 * files in bytewise order of their path relative to it (the name); symbolic
 * links to folders are not followed, and the folder skip (the output folder,
 * may be NULL or missing) is left out. Prints "prog: reason" and returns 0
 * on failure. */
int cli_items_add(const char *prog, cli_items *it, const char *arg, const char *skip);
/* Appends the inputs of a list file ("-": standard input): one path per
 * line (empty lines ignored, a trailing '\r' dropped), relative to the
 * current folder. A folder is added as by cli_items_add; a file is named by
 * its path as written (without "./" parts) when that is relative and has no
 * ".." part, else by its base name. */
int cli_items_add_list(const char *prog, cli_items *it, const char *list, const char *skip);
/* 0 (after printing both paths) if two inputs would write the same files
 * (equal stems), else 1. */
int cli_items_check_names(const char *prog, const cli_items *it);
void cli_items_free(cli_items *it);

/* Creates the folders of path's parent below base ("a/b" for "a/b/x"): 0
 * with errno set on failure. */
int cli_mkdirs(const char *base, const char *rel);

/* A progress bar on stderr: "[#####-----] done/total  rate/s  ETA m:ss  what";
 * rate and ETA from the inputs computed (not skipped) since the start. */
typedef struct cli_bar {
    double t0;
    int    total, done, computed;
} cli_bar;
void   cli_bar_start(cli_bar *b, int total);
void   cli_bar_show(const char *prog, const cli_bar *b, const char *what);
double cli_now(void); /* monotonic seconds */

/* JSON as Python's json.dumps(ensure_ascii=True) writes it: s escaped, every
 * non-ASCII character as \uXXXX (surrogate pairs above U+FFFF), each byte of
 * invalid UTF-8 as \ufffd. */
void cli_json_ascii(FILE *f, const char *s);
/* v as the shortest decimal that reads back as the same double (Python's
 * repr form for the usual magnitudes: "0.5", "4.0", "1e-05"); v must be finite. */
void cli_json_number(FILE *f, double v);
/* Reads the JSON string at *p (at its opening quote) into out (UTF-8, NUL
 * terminated), advancing *p past it: 0 if malformed or longer than cap. */
int cli_json_parse_string(const char **p, char *out, size_t cap);

#endif
