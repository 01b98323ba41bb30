/* shell.h - running shell commands from the tests (converter, example programs). */
#ifndef GC_TEST_SHELL_H
#define GC_TEST_SHELL_H

/* Runs the printf-formatted command through system(); returns its exit status, or -1 if it
 * did not exit normally (signal) or could not run. Commands longer than 16 KB are refused
 * with -1. */
int test_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
