/* test_convert_hostile.c - tools/gcw_convert.py against ~1800 hostile and
 * mutated checkpoints built on the fly by tests/convert_mutations.py
 * (forbidden globals in every pickle encoding, nesting bombs, huge memo
 * indices, lying storage sizes, zip bombs, bad safetensors headers,
 * truncations, the limits of issue 14: shared-storage amplification,
 * members inflating past their size, hash-colliding dictionary keys, BUILD
 * on allow-listed functions; inputs the limits must accept; seeded random
 * mutations): each refused with status 1 and one line, or (mutations and
 * accepted inputs only) converted within the output bound; nothing executed,
 * nothing hangs. Runs python3 (standard library only) through system(). */
#include "test.h"
#include "common/shell.h"
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

/* Prints the log's summary lines (and any FAIL line); 1 if it has `needle`. */
static int show_log(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    char line[1024];
    int found = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        printf("  %s", line);
        if (strstr(line, needle)) found = 1;
    }
    fclose(f);
    return found;
}

TEST(hostile_and_mutated_checkpoints_are_refused) {
    char cmd[512], log[128], marker[128];
    struct stat sb;
    snprintf(log, sizeof log, "%s/log.txt", dir);
    snprintf(cmd, sizeof cmd, "python3 tests/convert_mutations.py --workdir %s --mutations 300 > %s 2>&1", dir, log);
    int rc = test_run("%s", cmd);
    CHECK(rc == 0);
    CHECK(show_log(log, "convert_mutations: "));
    snprintf(marker, sizeof marker, "%s/gcw_pwned_marker", dir);
    CHECK(stat(marker, &sb) != 0); /* no payload ran */
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/test_convert_hostile_XXXXXX");
    if (!mkdtemp(dir)) { fprintf(stderr, "mkdtemp failed\n"); return 1; }
    RUN(hostile_and_mutated_checkpoints_are_refused);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    test_run("%s", cmd);
    return test_summary("convert_hostile");
}
