/* test_onnx_hostile.c - tools/gcw_convert.py against hostile and mutated ONNX files built
 * on the fly by tests/onnx_mutations.py: broken wire format (lengths past the end, long
 * varints, groups, deep nesting), lying tensors (sizes, counts, huge dimensions), external
 * data leaving the model's folder, invalid graphs, folding bombs, truncations and seeded
 * random mutations of the committed fixtures. Each is refused with status 1 and one line
 * (mutations may also convert); nothing hangs (20 s each). Runs python3 (standard library
 * only) through system(). */
#include "test.h"
#include "common/shell.h"
#include <unistd.h>

static char dir[64];

/* Prints the log (the summary lines and any FAIL line); 1 if it has `needle`. */
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

TEST(hostile_and_mutated_onnx_files_are_refused) {
    char log[128];
    snprintf(log, sizeof log, "%s/log.txt", dir);
    int rc = test_run("python3 tests/onnx_mutations.py --workdir %s --mutations 300 > %s 2>&1", dir, log);
    CHECK(rc == 0);
    CHECK(show_log(log, "onnx_mutations: "));
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/test_onnx_hostile_XXXXXX");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    RUN(hostile_and_mutated_onnx_files_are_refused);
    test_run("rm -rf %s", dir);
    return test_summary("onnx_hostile");
}
