/* test_shared.c - the shared library: this program is linked against lib/libgradcam.so only
 * (Makefile), so every call below goes through the .so. Checks the soname, that the dynamic
 * symbol table is exactly the functions include/gradcam.h declares (no internal symbol
 * exported, none of the API missing), and that a real explanation runs through it. */
#include "test.h"
#include "common/shell.h"
#include <ctype.h>
#include <dlfcn.h>
#include <unistd.h>

#define MAX_NAMES 1024

typedef struct { char *name[MAX_NAMES]; int n; } names;

static void names_free(names *s) { for (int i = 0; i < s->n; i++) free(s->name[i]); s->n = 0; }
static int names_has(const names *s, const char *n) {
    for (int i = 0; i < s->n; i++) if (!strcmp(s->name[i], n)) return 1;
    return 0;
}
static void names_add(names *s, const char *n, size_t len) {
    if (s->n >= MAX_NAMES) return;
    char *c = malloc(len + 1);
    if (!c) return;
    memcpy(c, n, len); c[len] = 0;
    if (names_has(s, c)) { free(c); return; }
    s->name[s->n++] = c;
}

/* Functions the header declares: identifiers gc_* followed by '(' outside comments. */
static int header_functions(names *out) {
    size_t len;
    char *h = (char *)test_read_file("include/gradcam.h", &len);
    if (!h) return 0;
    for (size_t i = 0; i < len; i++) { /* blank the comments */
        if (h[i] == '/' && i + 1 < len && h[i + 1] == '*') {
            size_t j = i;
            while (j + 1 < len && !(h[j] == '*' && h[j + 1] == '/')) h[j++] = ' ';
            if (j + 1 < len) h[j] = h[j + 1] = ' ';
            i = j + 1;
        } else if (h[i] == '/' && i + 1 < len && h[i + 1] == '/') {
            while (i < len && h[i] != '\n') h[i++] = ' ';
        }
    }
    for (size_t i = 0; i + 3 < len; i++) {
        if (strncmp(h + i, "gc_", 3) || (i > 0 && (isalnum((unsigned char)h[i - 1]) || h[i - 1] == '_'))) continue;
        size_t j = i;
        while (j < len && (isalnum((unsigned char)h[j]) || h[j] == '_')) j++;
        size_t k = j;
        while (k < len && isspace((unsigned char)h[k])) k++;
        if (k < len && h[k] == '(') names_add(out, h + i, j - i);
        i = j;
    }
    free(h);
    return 1;
}

/* Global symbols defined in a file, by nm (-D: the dynamic table). kinds: letters accepted. */
static int nm_symbols(const char *args, const char *kinds, names *out) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "nm %s 2>/dev/null", args);
    FILE *p = popen(cmd, "r");
    if (!p) return 0;
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof line, p)) {
        char addr[64], kind[8], name[400];
        if (sscanf(line, "%63s %7s %399s", addr, kind, name) != 3) continue;
        lines++;
        if (strchr(kinds, kind[0])) names_add(out, name, strlen(name));
    }
    return pclose(p) == 0 && lines > 0;
}

TEST(soname_and_version) {
    CHECK(!strcmp(gc_version(), GC_VERSION_STRING));
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_PATCH);
    CHECK(!strcmp(gc_version(), want));
    FILE *p = popen("readelf -d lib/libgradcam.so 2>/dev/null", "r");
    CHECK(p != NULL);
    if (!p) return;
    char line[512], soname[128] = "";
    while (fgets(line, sizeof line, p)) {
        char *s = strstr(line, "Library soname: [");
        if (s) sscanf(s + 17, "%127[^]]", soname);
    }
    pclose(p);
    snprintf(want, sizeof want, "libgradcam.so.%d", GC_VERSION_MAJOR);
    if (strcmp(soname, want)) FAILF("soname '%s', expected '%s'", soname, want);
    /* this very program found the library through the soname link */
    void *h = dlopen(want, RTLD_NOW | RTLD_NOLOAD);
    CHECK(h != NULL);
    if (h) dlclose(h);
}

TEST(exports_exactly_the_header) {
    names api = {0}, dyn = {0}, arch = {0};
    CHECK(header_functions(&api));
    CHECK(api.n > 100); /* the header declares well over a hundred functions */
    /* every defined dynamic symbol, whatever its kind (T, D, B, R, W, V, i, u) */
    CHECK(nm_symbols("-D --defined-only lib/libgradcam.so", "TtDdBbRrWwVvGgSsiu", &dyn));
    CHECK(nm_symbols("-g --defined-only lib/libgradcam.a", "TDBRWVGS", &arch));
    for (int i = 0; i < dyn.n; i++)
        if (!names_has(&api, dyn.name[i])) FAILF("exported but not in gradcam.h: %s", dyn.name[i]);
    for (int i = 0; i < api.n; i++)
        if (!names_has(&dyn, api.name[i])) FAILF("declared in gradcam.h but not exported: %s", api.name[i]);
    /* The archive has global symbols the header does not declare (internal, shared between
     * the library's files): without hidden visibility they would be exported. Show there are
     * such symbols and that the loader cannot find one. */
    int internal = 0;
    const char *one = NULL;
    for (int i = 0; i < arch.n; i++)
        if (!names_has(&api, arch.name[i])) { internal++; if (!one) one = arch.name[i]; }
    CHECK(internal > 20);
    char soname[64];
    snprintf(soname, sizeof soname, "libgradcam.so.%d", GC_VERSION_MAJOR);
    void *h = dlopen(soname, RTLD_NOW);
    CHECK(h != NULL);
    if (h && one) {
        if (dlsym(h, one)) FAILF("internal symbol %s resolves through dlsym", one);
        CHECK(dlsym(h, "gc_explain") != NULL);
    }
    if (h) dlclose(h);
    printf("shared: %d functions exported, %d internal global symbols hidden\n", dyn.n, internal);
    names_free(&api); names_free(&dyn); names_free(&arch);
}

/* The shipped model explains a shipped image through the .so. */
TEST(explains_through_the_shared_library) {
    gc_model *m = NULL;
    gc_session *s = NULL;
    gc_image img = {0};
    gc_tensor x = {0};
    CHECK_OK(gc_model_open("weights/shapes.gcw", &m));
    CHECK_OK(gc_image_load("examples/data/shape4_cross.png", NULL, &img));
    if (!m || !img.data) goto done;
    CHECK_OK(gc_image_preprocess(&img, gc_model_preprocess(m), &x, NULL));
    gc_session_config cfg = {.batch = 1, .channels = x.shape[1], .height = x.shape[2], .width = x.shape[3]};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    if (!s || !x.data) goto done;
    gc_explain_request req = {.target = GC_TARGET_TOP1, .methods = GC_METHOD_GRADCAM};
    gc_explain_result r;
    CHECK_OK(gc_explain(s, x.data, &req, &r));
    CHECK(r.count == 1);
    if (r.count == 1) {
        CHECK(!strcmp(gc_model_label(m, r.items[0].class_index), "cross"));
        CHECK(r.items[0].cam_norm.data != NULL);
    }
    /* errors come back through the .so with their message */
    gc_model *bad = NULL;
    CHECK_FAILS(gc_model_open("weights/no-such-model.gcw", &bad), GC_ERR_IO);
    CHECK(bad == NULL);
    CHECK(strstr(gc_last_error(), "no-such-model.gcw") != NULL);
done:
    gc_session_free(s);
    gc_tensor_release(&x);
    gc_image_release(&img);
    gc_model_free(m);
}

/* make install into a scratch DESTDIR, then a program through each .pc file: gradcam.pc
 * links the .so (NEEDED libgradcam.so.MAJOR, runs with LD_LIBRARY_PATH), gradcam-static.pc
 * the archive (no libgradcam in NEEDED, runs without it). */
TEST(install_and_pkg_config) {
    char dir[] = "/tmp/gc_install_XXXXXX";
    if (!mkdtemp(dir)) { FAILF("mkdtemp failed"); return; }
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) { FAILF("getcwd failed"); return; }
    CHECK(test_run("make -s -C %s install DESTDIR=%s PREFIX=/usr " GC_MAKE_ARGS " > %s/make.log 2>&1",
                   cwd, dir, dir) == 0);
    const char *files[] = {"usr/include/gradcam.h", "usr/lib/libgradcam.a", "usr/lib/libgradcam.so",
                           "usr/lib/pkgconfig/gradcam.pc", "usr/lib/pkgconfig/gradcam-static.pc"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (access(p, R_OK)) FAILF("make install did not write %s", files[i]);
    }
    CHECK(test_run("test -L %s/usr/lib/libgradcam.so.%d && test -f %s/usr/lib/libgradcam.so.%s",
                   dir, GC_VERSION_MAJOR, dir, GC_VERSION_STRING) == 0);
    if (test_run("pkg-config --version > /dev/null 2>&1") != 0) {
        printf("shared: pkg-config not found: linking through the .pc files skipped\n");
    } else {
        FILE *f;
        char prog[4200];
        snprintf(prog, sizeof prog, "%s/prog.c", dir);
        if ((f = fopen(prog, "w"))) {
            fputs("#include <gradcam.h>\n#include <stdio.h>\n#include <string.h>\n"
                  "int main(void) { printf(\"%s\\n\", gc_version());\n"
                  "  return strcmp(gc_version(), GC_VERSION_STRING) != 0; }\n", f);
            fclose(f);
        }
        const char *env = "PKG_CONFIG_PATH=%s/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=%s";
        char e[9000];
        snprintf(e, sizeof e, env, dir, dir);
        CHECK(test_run("cd %s && %s pkg-config --modversion gradcam | grep -qx '%s'", dir, e, GC_VERSION_STRING) == 0);
        CHECK(test_run("cd %s && cc prog.c " GC_PROG_FLAGS " $(%s pkg-config --cflags --libs gradcam) -o dyn 2> cc1.log", dir, e) == 0);
        CHECK(test_run("cd %s && readelf -d dyn | grep -q 'NEEDED.*libgradcam.so.%d'", dir, GC_VERSION_MAJOR) == 0);
        CHECK(test_run("cd %s && LD_LIBRARY_PATH=%s/usr/lib ./dyn | grep -qx '%s'", dir, dir, GC_VERSION_STRING) == 0);
        CHECK(test_run("cd %s && cc prog.c " GC_PROG_FLAGS " $(%s pkg-config --cflags --libs gradcam-static) -o sta 2> cc2.log", dir, e) == 0);
        CHECK(test_run("cd %s && ! readelf -d sta | grep -q libgradcam", dir) == 0);
        CHECK(test_run("cd %s && ./sta | grep -qx '%s'", dir, GC_VERSION_STRING) == 0);
    }
    if (!test_failed) test_run("rm -rf %s", dir);
    else printf("shared: install files left in %s\n", dir);
}

int main(void) {
    RUN(soname_and_version);
    RUN(exports_exactly_the_header);
    RUN(explains_through_the_shared_library);
    RUN(install_and_pkg_config);
    return test_summary("shared");
}
