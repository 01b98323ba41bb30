/* cli.h - what every example program and tool shares on the command line:
 * strict number parsing, messages that quote what the user or a file gave
 * them, and JSON strings. */
#ifndef GC_EXAMPLES_CLI_H
#define GC_EXAMPLES_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Numbers from the command line: the whole string (no sign for unsigned,
 * no trailing text, no "1e9" for an integer), in range. 1 on success;
 * *out untouched on failure. */
int cli_parse_long(const char *s, long long lo, long long hi, long long *out);
int cli_parse_int(const char *s, int lo, int hi, int *out);
int cli_parse_u64(const char *s, uint64_t *out);
/* A number (or, with ratio, also "A/B", e.g. 1/255) that is finite as a
 * float32 and lies in [lo, hi]. */
int cli_parse_float(const char *s, int ratio, double lo, double hi, float *out);

/* s (NUL-terminated, may be NULL) through gc_quote into buf: printable
 * ASCII, escapes for the rest. For argv text and file contents in messages. */
const char *cli_q(char *buf, size_t cap, const char *s);

/* Creates the output folder dir (an existing one is fine); on failure prints
 * "prog: cannot create DIR: reason" and returns 0, else 1. */
int cli_make_outdir(const char *prog, const char *dir);

/* One line on stderr: "prog: " and the printf-formatted message. Arguments
 * that came from the user or from a file must be passed through cli_q. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void cli_error(const char *prog, const char *fmt, ...);
/* The message of this thread's last cli_error (without "prog: "), "" before any. */
const char *cli_last_message(void);
/* While buf is set (cap > 0), this thread's cli_error lines ("prog: message\n") are
 * appended to buf (cap bytes, NUL-terminated, emptied here; what does not fit is cut)
 * instead of printed: a worker thread's messages, printed later in input order by
 * cli_error_print. cap 0: print again. */
void cli_error_capture(char *buf, size_t cap);
/* Prints captured lines on stderr as cli_error would have (main thread). */
void cli_error_print(const char *text);

/* A progress line on stderr ("\rprog: message", cleared to the end of the
 * line) when stderr is a terminal, nothing otherwise; cli_error starts a new line after one, and
 * cli_progress_end clears it. The state here: whether a
 * progress line is showing. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void cli_progress(const char *prog, const char *fmt, ...);
void cli_progress_end(void);

/* s as a JSON string (with quotes): ", \ and control characters escaped,
 * valid UTF-8 kept, each byte of an invalid sequence written as U+FFFD, so
 * the file is valid JSON whatever the bytes (labels come from model files).
 * NULL: null. */
void cli_json_string(FILE *f, const char *s);

#endif
