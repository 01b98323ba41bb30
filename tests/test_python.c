/* test_python.c - the Python binding (python/gradcam) through python3, from the build tree:
 * python/tests/test_binding.py (unittest) with NumPy and without (GRADCAM_NO_NUMPY=1), under
 * the first python3 on PATH and under /usr/bin/python3 when that is another interpreter; each
 * run counts its tests here. The C side writes the sizes and field offsets of the header's
 * structs, which the binding's ctypes declarations must match. Skipped (with a line saying
 * so) where python3 is missing, and under the sanitizers (an uninstrumented interpreter cannot
 * load an instrumented library). */
#include "test.h"
#include "common/shell.h"
#include <stddef.h>
#include <unistd.h>

#define F(s, f) fprintf(o, "%s[\"%s\", %zu]", first++ ? ", " : "", #f, offsetof(s, f))
#define S(s, ...) do { int first = 0; fprintf(o, "%s\"%s\": {\"size\": %zu, \"fields\": [", ns++ ? ",\n" : "", #s, sizeof(s)); \
                       __VA_ARGS__; fprintf(o, "]}"); } while (0)

static int write_layout(const char *path) {
    FILE *o = fopen(path, "w");
    if (!o) return 0;
    int ns = 0;
    fprintf(o, "{");
    S(gc_tensor, F(gc_tensor, data); F(gc_tensor, shape); F(gc_tensor, ndim); F(gc_tensor, owns_data));
    S(gc_image, F(gc_image, width); F(gc_image, height); F(gc_image, channels); F(gc_image, bit_depth); F(gc_image, data));
    S(gc_image_limits, F(gc_image_limits, max_pixels); F(gc_image_limits, max_dimension));
    S(gc_preprocess, F(gc_preprocess, input_height); F(gc_preprocess, input_width); F(gc_preprocess, resize_shorter);
      F(gc_preprocess, order); F(gc_preprocess, scale); F(gc_preprocess, mean); F(gc_preprocess, std));
    S(gc_preprocess_info, F(gc_preprocess_info, resized_width); F(gc_preprocess_info, resized_height);
      F(gc_preprocess_info, crop_left); F(gc_preprocess_info, crop_top); F(gc_preprocess_info, x);
      F(gc_preprocess_info, y); F(gc_preprocess_info, width); F(gc_preprocess_info, height));
    S(gc_box, F(gc_box, x0); F(gc_box, y0); F(gc_box, x1); F(gc_box, y1); F(gc_box, area));
    S(gc_shapes_info, F(gc_shapes_info, n_objects); F(gc_shapes_info, label); F(gc_shapes_info, box));
    S(gc_session_config, F(gc_session_config, batch); F(gc_session_config, channels); F(gc_session_config, height);
      F(gc_session_config, width); F(gc_session_config, param_grads); F(gc_session_config, input_layer);
      F(gc_session_config, max_bytes); F(gc_session_config, kernels); F(gc_session_config, keep);
      F(gc_session_config, keep_all); F(gc_session_config, no_fold); F(gc_session_config, no_winograd);
      F(gc_session_config, threads); F(gc_session_config, no_fuse); F(gc_session_config, backward_floor);
      F(gc_session_config, forward_only));
    S(gc_method_params, F(gc_method_params, batch); F(gc_method_params, ig_steps); F(gc_method_params, ig_baseline);
      F(gc_method_params, noise_samples); F(gc_method_params, noise_sigma); F(gc_method_params, noise_seed);
      F(gc_method_params, noise_base); F(gc_method_params, occlusion_patch); F(gc_method_params, occlusion_stride);
      F(gc_method_params, occlusion_fill));
    S(gc_method_info, F(gc_method_info, name); F(gc_method_info, title); F(gc_method_info, bit);
      F(gc_method_info, input_level); F(gc_method_info, map));
    S(gc_explain_request, F(gc_explain_request, target); F(gc_explain_request, class_index);
      F(gc_explain_request, top_k); F(gc_explain_request, classes); F(gc_explain_request, n_classes);
      F(gc_explain_request, output_grad); F(gc_explain_request, layer); F(gc_explain_request, methods);
      F(gc_explain_request, alpha_sum); F(gc_explain_request, params));
    S(gc_map, F(gc_map, name); F(gc_map, method); F(gc_map, t));
    S(gc_explanation, F(gc_explanation, class_index); F(gc_explanation, score); F(gc_explanation, probability);
      F(gc_explanation, alpha); F(gc_explanation, cam_raw); F(gc_explanation, cam); F(gc_explanation, cam_up);
      F(gc_explanation, cam_norm); F(gc_explanation, counterfactual); F(gc_explanation, guided);
      F(gc_explanation, guided_gradcam); F(gc_explanation, deconvnet); F(gc_explanation, cam_zhou);
      F(gc_explanation, n_maps); F(gc_explanation, maps));
    S(gc_explain_result, F(gc_explain_result, layer); F(gc_explain_result, count); F(gc_explain_result, items);
      F(gc_explain_result, logits); F(gc_explain_result, probabilities));
    S(gc_sanity_result, F(gc_sanity_result, steps); F(gc_sanity_result, n_methods); F(gc_sanity_result, height);
      F(gc_sanity_result, width); F(gc_sanity_result, class_index); F(gc_sanity_result, methods);
      F(gc_sanity_result, layers); F(gc_sanity_result, spearman); F(gc_sanity_result, ssim);
      F(gc_sanity_result, maps));
    S(gc_occlusion_params, F(gc_occlusion_params, patch); F(gc_occlusion_params, stride);
      F(gc_occlusion_params, fill); F(gc_occlusion_params, use_probability));
    S(gc_overlay_opts, F(gc_overlay_opts, alpha); F(gc_overlay_opts, box_threshold); F(gc_overlay_opts, draw_box));
    S(gc_figure_opts, F(gc_figure_opts, panel_height); F(gc_figure_opts, overlay); F(gc_figure_opts, text_scale);
      F(gc_figure_opts, order); F(gc_figure_opts, label));
    fprintf(o, "}\n");
    return fclose(o) == 0;
}

/* Runs the unittest suite under one interpreter and configuration; adds its counts. */
static void run_suite(const char *dir, const char *python, const char *env, const char *what) {
    char log[4200];
    snprintf(log, sizeof log, "%s/suite.log", dir);
    int rc = test_run("%s GRADCAM_LAYOUT=%s/layout.json GRADCAM_TEST_TMP=%s PYTHONPATH=python %s -B "
                      "python/tests/test_binding.py > %s 2>&1", env, dir, dir, python, log);
    size_t n = 0;
    char *out = (char *)test_read_file(log, &n);
    int p = -1, f = -1, s = 0;
    const char *line = out ? strstr(out, "pytests: ") : NULL;
    if (line) sscanf(line, "pytests: %d passed, %d failed, %d skipped", &p, &f, &s);
    if (p < 0 || f < 0) {
        test_failed++;
        fprintf(stderr, "FAIL python (%s): no summary (exit %d)\n%s\n", what, rc, out ? out : "");
    } else {
        test_passed += p;
        test_failed += f;
        if (f || rc) fprintf(stderr, "FAIL python (%s): exit %d\n%s\n", what, rc, out);
        if (rc && !f) test_failed++;
        printf("python (%s): %d passed, %d failed, %d skipped\n", what, p, f, s);
    }
    free(out);
}

/* The README's three lines, from the build tree. */
static void three_lines(const char *dir, const char *python) {
    test_cur_name = "three_lines";
    int rc = test_run("PYTHONPATH=python %s -B -c \"import gradcam; m = gradcam.Model('weights/shapes.gcw'); "
                      "m.explain('examples/data/shape1_ring.png').save_figure('%s/ring.png')\" 2> %s/three.log",
                      python, dir, dir);
    CHECK(rc == 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/ring.png", dir);
    gc_image img = {0};
    CHECK_OK(gc_image_load(path, NULL, &img));
    CHECK(img.width > 2 * img.height && img.channels == 3);
    gc_image_release(&img);
    if (test_cur_failed) test_failed++; else test_passed++;
}

/* pip install ./python into a fresh virtual environment (Debian's setuptools, offline:
 * --no-build-isolation) against a library installed by make install into a scratch prefix;
 * the installed package finds the library through the prefix's gradcam.pc. Needs
 * /usr/bin/python3 with venv, ensurepip and setuptools; skipped otherwise. */
static void pip_install(const char *dir) {
    test_cur_name = "pip_install";
    if (test_run("/usr/bin/python3 -c 'import venv, ensurepip, setuptools' > /dev/null 2>&1")) {
        printf("python: pip install skipped (/usr/bin/python3 lacks venv, ensurepip or setuptools)\n");
        return;
    }
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) { test_failed++; return; }
    CHECK(test_run("make -s install PREFIX=%s/prefix " GC_MAKE_ARGS " > %s/install.log 2>&1", dir, dir) == 0);
    CHECK(test_run("/usr/bin/python3 -m venv --system-site-packages %s/venv > %s/venv.log 2>&1", dir, dir) == 0);
    /* from a copy: pip's build leaves files next to the sources */
    CHECK(test_run("cp -r python %s/src && cd %s && venv/bin/pip install -q --no-build-isolation --no-index ./src "
                   "> pip.log 2>&1", dir, dir) == 0);
    /* from another folder (not the build tree), the library found through pkg-config */
    CHECK(test_run("cd %s && PKG_CONFIG_PATH=%s/prefix/lib/pkgconfig %s/venv/bin/python -c \"import gradcam, sys; "
                   "assert gradcam.__file__.startswith('%s/venv'), gradcam.__file__; "
                   "assert gradcam.LIBRARY_PATH == '%s/prefix/lib/libgradcam.so.0', gradcam.LIBRARY_PATH; "
                   "p = gradcam.Model('%s/weights/shapes.gcw').classify('%s/examples/data/shape0_triangle.png', 1); "
                   "sys.exit(p[0].label != 'triangle')\" > %s/use.log 2>&1",
                   dir, dir, dir, dir, dir, cwd, cwd, dir) == 0);
    if (test_cur_failed) test_failed++; else test_passed++;
}

int main(void) {
#ifdef GC_SANITIZED
    printf("python: skipped under the sanitizers (the interpreter is not instrumented)\n");
    return test_summary("python");
#endif
    if (test_run("python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 6) else 1)' > /dev/null 2>&1")) {
        printf("python: skipped (no python3 >= 3.6 on PATH)\n");
        return test_summary("python");
    }
    char dir[] = "/tmp/gc_python_XXXXXX";
    if (!mkdtemp(dir)) { fprintf(stderr, "mkdtemp failed\n"); return 1; }
    char path[4200];
    snprintf(path, sizeof path, "%s/layout.json", dir);
    if (!write_layout(path)) { fprintf(stderr, "cannot write %s\n", path); return 1; }
    run_suite(dir, "python3", "", "python3");
    run_suite(dir, "python3", "GRADCAM_NO_NUMPY=1", "python3 without NumPy");
    /* Debian's interpreter (python3-numpy lives there) when PATH's python3 is another one */
    if (!access("/usr/bin/python3", X_OK) &&
        test_run("[ \"$(python3 -c 'import sys; print(sys.executable)')\" != /usr/bin/python3 ]") == 0) {
        run_suite(dir, "/usr/bin/python3", "", "/usr/bin/python3");
        if (test_run("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") == 0)
            run_suite(dir, "/usr/bin/python3", "GRADCAM_NO_NUMPY=1", "/usr/bin/python3 without NumPy");
    }
    three_lines(dir, "python3");
    pip_install(dir);
    if (!test_failed) test_run("rm -rf %s", dir);
    else printf("python: files left in %s\n", dir);
    return test_summary("python");
}
