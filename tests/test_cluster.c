/* test_cluster.c - the many-machine recipes (python/tests/test_cluster.py): a one-process run
 * against the Slurm script's array tasks and merge step (tools/gcmerge), gcmerge's refusals,
 * and examples/cluster/dask_explain.py on a LocalCluster of two worker processes, each merged
 * result equal to the one-process run. Runs under an interpreter that has Dask's distributed
 * (python3 on PATH, else /usr/bin/python3: Debian's python3-distributed), else under python3
 * with the Dask test skipped and said so. Skipped where python3 is missing and under the
 * sanitizers (the binding loads the uninstrumented-interpreter-incompatible library). */
#include "test.h"
#include "common/shell.h"
#include <unistd.h>

int main(void) {
    test_cur_name = "cluster";
    (void)test_cur_failed;
#ifdef GC_SANITIZED
    printf("cluster: skipped under the sanitizers (the interpreter is not instrumented)\n");
    return test_summary("cluster");
#endif
    if (test_run("python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 6) else 1)' > /dev/null 2>&1")) {
        printf("cluster: skipped (no python3 >= 3.6 on PATH)\n");
        return test_summary("cluster");
    }
    const char *py = "python3";
    if (test_run("python3 -c 'import distributed' > /dev/null 2>&1") != 0) {
        if (!access("/usr/bin/python3", X_OK) && test_run("/usr/bin/python3 -c 'import distributed' > /dev/null 2>&1") == 0)
            py = "/usr/bin/python3";
        else
            printf("cluster: Dask's distributed is not installed (Debian: apt-get install python3-distributed): "
                   "the LocalCluster test is skipped\n");
    }
    char dir[] = "/tmp/gc_cluster_XXXXXX";
    if (!mkdtemp(dir)) { fprintf(stderr, "mkdtemp failed\n"); return 1; }
    char log[64];
    snprintf(log, sizeof log, "%s/suite.log", dir);
    int rc = test_run("GRADCAM_TEST_TMP=%s OMP_NUM_THREADS=1 PYTHONPATH=python %s -B python/tests/test_cluster.py > %s 2>&1",
                      dir, py, log);
    size_t n = 0;
    char *out = (char *)test_read_file(log, &n);
    int p = -1, f = -1, s = 0;
    const char *line = out ? strstr(out, "pytests: ") : NULL;
    if (line) sscanf(line, "pytests: %d passed, %d failed, %d skipped", &p, &f, &s);
    if (p < 0 || f < 0) {
        test_failed++;
        fprintf(stderr, "FAIL cluster: no summary (exit %d)\n%s\n", rc, out ? out : "");
    } else {
        test_passed += p;
        test_failed += f;
        if (f || rc) fprintf(stderr, "FAIL cluster: exit %d\n%s\n", rc, out);
        if (rc && !f) test_failed++;
        printf("cluster (%s): %d passed, %d failed, %d skipped\n", py, p, f, s);
    }
    free(out);
    if (!test_failed) test_run("rm -rf %s", dir);
    else printf("cluster: files left in %s\n", dir);
    return test_summary("cluster");
}
