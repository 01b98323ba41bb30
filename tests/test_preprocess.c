/* test_preprocess.c - PIL-exact resizing and torchvision/Caffe preprocessing
 * against fixtures made by tests/ref/make_preprocess_fixtures.py (PIL 9.4,
 * torchvision 0.14) in tests/data/preprocess. */
#include "test.h"
#include <stdint.h>

#define DIR "tests/data/preprocess/"

static gc_preprocess imagenet(int rs, int h, int w) {
    gc_preprocess p = gc_preprocess_torchvision();
    p.resize_shorter = rs;
    p.input_height = h;
    p.input_width = w;
    return p;
}

/* ---- Resizing ----------------------------------------------------------------------- */
/* One PIL resize fixture: source image, expected PNG; every sample must match. */
static void check_pil_resize(const char *src, const char *ref) {
    gc_image in = {0}, want = {0}, got = {0};
    CHECK_OK(gc_image_load(src, NULL, &in));
    CHECK_OK(gc_image_load(ref, NULL, &want));
    if (!in.data || !want.data) { gc_image_release(&in); gc_image_release(&want); return; }
    CHECK(in.channels == want.channels);
    CHECK_OK(gc_image_resize(&in, want.width, want.height, &got));
    if (got.data) {
        CHECK(got.width == want.width && got.height == want.height && got.channels == want.channels);
        size_t n = (size_t)want.width * want.height * want.channels, bad = 0;
        int maxd = 0;
        for (size_t i = 0; i < n; i++) {
            int d = abs((int)((uint8_t *)got.data)[i] - (int)((uint8_t *)want.data)[i]);
            bad += d != 0;
            if (d > maxd) maxd = d;
        }
        if (bad) FAILF("%s: %zu of %zu samples differ from PIL (max %d)", ref, bad, n, maxd);
    }
    gc_image_release(&in); gc_image_release(&want); gc_image_release(&got);
}

TEST(resize_matches_pil_exactly) {
    check_pil_resize(DIR "b.png", DIR "r_b_113x67.png");  /* shrink 2.7 x 3.0 */
    check_pil_resize(DIR "b.png", DIR "r_b_37x23.png");   /* shrink 8 x 8.7: wide filters */
    check_pil_resize(DIR "a.png", DIR "r_a_131x90.png");  /* enlarge */
    check_pil_resize(DIR "a.png", DIR "r_a_150x40.png");  /* enlarge x, shrink y */
    check_pil_resize(DIR "c.png", DIR "r_c_20x50.png");   /* gray */
}

TEST(resize_same_size_is_a_copy) {
    gc_image in = {0}, out = {0};
    CHECK_OK(gc_image_load(DIR "a.png", NULL, &in));
    CHECK_OK(gc_image_resize(&in, in.width, in.height, &out));
    CHECK(out.data && memcmp(in.data, out.data, (size_t)in.width * in.height * 3) == 0);
    gc_image_release(&in); gc_image_release(&out);
}

TEST(resize_constant_stays_constant) {
    gc_image in = {0}, out = {0};
    CHECK_OK(gc_image_alloc(&in, 53, 31, 3, 8));
    memset(in.data, 201, 53 * 31 * 3);
    CHECK_OK(gc_image_resize(&in, 7, 90, &out));
    int ok = 1;
    for (int i = 0; i < 7 * 90 * 3; i++) ok &= ((uint8_t *)out.data)[i] == 201;
    CHECK(ok);
    gc_image_release(&in); gc_image_release(&out);
}

TEST(resize_float_matches_pil_mode_f) {
    gc_tensor in = {0}, want = {0};
    CHECK_OK(gc_npy_load(DIR "f_in.npy", &in));
    CHECK_OK(gc_npy_load(DIR "f_out.npy", &want));
    if (!in.data || !want.data) goto done;
    float got[10 * 31];
    CHECK(in.shape[0] == 17 && in.shape[1] == 23 && want.shape[0] == 10 && want.shape[1] == 31);
    CHECK_OK(gc_image_resize_float(in.data, 1, 17, 23, got, 10, 31));
    double e = test_rel_err(got, want.data, 310, 1.0);
    if (e > 1e-6) FAILF("float resize rel err %g", e);
done:
    gc_tensor_release(&in); gc_tensor_release(&want);
}

/* 8-bit (rounded between passes) vs float resize of the same random image
 * over awkward sizes: within one level everywhere. Also extreme aspects. */
TEST(resize_8bit_tracks_float_path) {
    static const int sizes[][4] = {{1, 1, 5, 3}, {7, 3, 1, 1}, {1000, 1, 3, 7}, {3, 7, 1000, 2},
                                   {97, 61, 13, 40}, {31, 29, 32, 30}, {64, 64, 17, 17}, {5, 300, 40, 9}};
    uint32_t seed = 12345;
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int w = sizes[t][0], h = sizes[t][1], W = sizes[t][2], H = sizes[t][3];
        gc_image in = {0}, out = {0};
        CHECK_OK(gc_image_alloc(&in, w, h, 1, 8));
        float *f = malloc(sizeof(float) * (size_t)(w * h)), *g = malloc(sizeof(float) * (size_t)(W * H));
        for (int i = 0; i < w * h; i++) {
            seed = seed * 1664525u + 1013904223u;
            ((uint8_t *)in.data)[i] = (uint8_t)(seed >> 24);
            f[i] = (float)(seed >> 24);
        }
        CHECK_OK(gc_image_resize(&in, W, H, &out));
        CHECK_OK(gc_image_resize_float(f, 1, h, w, g, H, W));
        if (out.data) {
            double md = 0;
            for (int i = 0; i < W * H; i++) {
                double d = fabs(((uint8_t *)out.data)[i] - (double)g[i]);
                if (d > md) md = d;
            }
            if (md > 1.0) FAILF("%dx%d -> %dx%d: 8-bit vs float differ by %g", w, h, W, H, md);
        }
        free(f); free(g);
        gc_image_release(&in); gc_image_release(&out);
    }
}

TEST(preprocess_tiny_image) {
    gc_image img = {0};
    gc_tensor t = {0};
    CHECK_OK(gc_image_alloc(&img, 1, 1, 1, 8));
    ((uint8_t *)img.data)[0] = 51;                              /* 0.2 */
    gc_preprocess p = gc_preprocess_torchvision();
    gc_preprocess_info g;
    CHECK_OK(gc_image_preprocess(&img, &p, &t, &g));
    CHECK(g.resized_width == 256 && g.resized_height == 256 && g.crop_left == 16);
    if (t.data) {
        float want = (51.0f / 255.0f - p.mean[2]) / p.std[2];
        CHECK(t.data[2 * 224 * 224 + 100 * 224 + 7] == want);
    }
    gc_tensor_release(&t);
    gc_image_release(&img);
}

/* ---- Geometry ------------------------------------------------------------------------ */
TEST(plan_follows_torchvision) {
    gc_preprocess_info g;
    gc_preprocess p = imagenet(256, 224, 224);
    CHECK_OK(gc_preprocess_plan(500, 375, &p, &g));            /* int(256 * 500 / 375) = 341 */
    CHECK(g.resized_width == 341 && g.resized_height == 256);
    CHECK(g.crop_left == 58 && g.crop_top == 16);               /* round(58.5) = 58 (ties to even) */
    CHECK_NEAR(g.x, 58 * 500.0 / 341, 1e-9);
    CHECK_NEAR(g.width, 224 * 500.0 / 341, 1e-9);
    CHECK_NEAR(g.y, 16 * 375.0 / 256, 1e-9);
    CHECK_NEAR(g.height, 224 * 375.0 / 256, 1e-9);
    CHECK_OK(gc_preprocess_plan(375, 500, &p, &g));            /* portrait */
    CHECK(g.resized_width == 256 && g.resized_height == 341 && g.crop_top == 58 && g.crop_left == 16);
    p = imagenet(48, 39, 43);
    CHECK_OK(gc_preprocess_plan(97, 61, &p, &g));              /* 76 x 48; round(4.5) = 4, round(16.5) = 16 */
    CHECK(g.resized_width == 76 && g.resized_height == 48 && g.crop_top == 4 && g.crop_left == 16);
    p = imagenet(30, 36, 50);
    CHECK_OK(gc_preprocess_plan(97, 61, &p, &g));              /* 47 x 30, padded: -(3 // 2), -(6 // 2) */
    CHECK(g.resized_width == 47 && g.resized_height == 30 && g.crop_left == -1 && g.crop_top == -3);
    p = imagenet(0, 40, 48);
    CHECK_OK(gc_preprocess_plan(97, 61, &p, &g));
    CHECK(g.resized_width == 48 && g.resized_height == 40 && g.crop_left == 0 && g.crop_top == 0);
    CHECK_NEAR(g.width, 97, 1e-9);
    CHECK_NEAR(g.height, 61, 1e-9);
    p = imagenet(256, 224, 224);
    CHECK_OK(gc_preprocess_plan(256, 256, &p, &g));            /* square: no resize, crop 16 */
    CHECK(g.resized_width == 256 && g.crop_left == 16 && g.crop_top == 16);
}

/* ---- Pixels vs torchvision ------------------------------------------------------------- */
/* Preprocesses `png` with p, compares with the (3, H, W) fixture; returns max |diff|. */
static double check_case(const char *png, const gc_preprocess *p, const char *npy) {
    gc_image img = {0};
    gc_tensor want = {0}, got = {0};
    double md = -1;
    CHECK_OK(gc_image_load(png, NULL, &img));
    CHECK_OK(gc_npy_load(npy, &want));
    if (!img.data || !want.data) goto done;
    CHECK_OK(gc_image_preprocess(&img, p, &got, NULL));
    if (!got.data) goto done;
    CHECK(got.ndim == 4 && got.shape[0] == 1 && got.shape[1] == 3);
    CHECK(want.ndim == 3 && got.shape[2] == want.shape[1] && got.shape[3] == want.shape[2]);
    if (gc_tensor_numel(&got) != gc_tensor_numel(&want)) goto done;
    md = 0;
    for (int64_t i = 0; i < gc_tensor_numel(&got); i++) {
        double d = fabs((double)got.data[i] - want.data[i]);
        if (!(d <= md)) md = d;
    }
    if (!(md <= 1e-6)) FAILF("%s: max |diff| %g > 1e-6", npy, md);
done:
    gc_image_release(&img); gc_tensor_release(&want); gc_tensor_release(&got);
    return md;
}

TEST(preprocess_matches_torchvision) {
    gc_preprocess p;
    double worst = 0, d;
    p = imagenet(48, 39, 43);  d = check_case(DIR "a.png", &p, DIR "a_tv.npy");     if (d > worst) worst = d;
    p = imagenet(48, 40, 40);  d = check_case(DIR "b.png", &p, DIR "b_tv.npy");     if (d > worst) worst = d;
    p = imagenet(70, 50, 40);  d = check_case(DIR "c.png", &p, DIR "c_tv.npy");     if (d > worst) worst = d;
    p = imagenet(0, 40, 48);   d = check_case(DIR "a.png", &p, DIR "a_direct.npy"); if (d > worst) worst = d;
    p = imagenet(30, 36, 50);  d = check_case(DIR "a.png", &p, DIR "a_pad.npy");    if (d > worst) worst = d;
    printf("preprocess: max |ours - torchvision| = %g\n", worst);
}

TEST(preprocess_caffe_style) {
    gc_preprocess p = {.input_height = 40, .input_width = 40, .resize_shorter = 48, .order = GC_COLOR_BGR,
                       .scale = 1.0f, .mean = {104, 117, 123}, .std = {1, 1, 1}};
    double d = check_case(DIR "b.png", &p, DIR "b_caffe.npy");
    CHECK(d == 0.0); /* integers minus integers: exact */
}

/* 16-bit (v * 257) and RGBA versions of an image preprocess exactly like it. */
TEST(preprocess_16bit_and_alpha_reduce_first) {
    gc_image img = {0}, w16 = {0}, rgba = {0};
    gc_tensor a = {0}, b = {0}, c = {0};
    gc_preprocess p = imagenet(48, 39, 43);
    CHECK_OK(gc_image_load(DIR "a.png", NULL, &img));
    if (!img.data) return;
    int64_t n = (int64_t)img.width * img.height;
    CHECK_OK(gc_image_alloc(&w16, img.width, img.height, 3, 16));
    CHECK_OK(gc_image_alloc(&rgba, img.width, img.height, 4, 8));
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) {
            uint8_t v = k < 3 ? ((uint8_t *)img.data)[3 * i + k] : (uint8_t)(i * 7);
            if (k < 3) ((uint16_t *)w16.data)[3 * i + k] = (uint16_t)(v * 257);
            ((uint8_t *)rgba.data)[4 * i + k] = v;
        }
    gc_preprocess_info ga, gb;
    CHECK_OK(gc_image_preprocess(&img, &p, &a, &ga));
    CHECK_OK(gc_image_preprocess(&w16, &p, &b, &gb));
    CHECK_OK(gc_image_preprocess(&rgba, &p, &c, NULL));
    if (a.data && b.data && c.data) {
        CHECK(memcmp(a.data, b.data, (size_t)gc_tensor_numel(&a) * 4) == 0);
        CHECK(memcmp(a.data, c.data, (size_t)gc_tensor_numel(&a) * 4) == 0);
    }
    CHECK(ga.crop_left == 16 && gb.crop_left == 16);
    gc_image_release(&img); gc_image_release(&w16); gc_image_release(&rgba);
    gc_tensor_release(&a); gc_tensor_release(&b); gc_tensor_release(&c);
}

/* ---- Refusals ------------------------------------------------------------------------------ */
TEST(bad_arguments_are_refused) {
    gc_image img = {0}, out = {0}, w16 = {0};
    gc_tensor t = {0};
    gc_preprocess_info g;
    gc_preprocess p = imagenet(256, 224, 224);
    CHECK_OK(gc_image_alloc(&img, 10, 8, 3, 8));
    CHECK_OK(gc_image_alloc(&w16, 10, 8, 3, 16));
    CHECK_FAILS(gc_image_resize(NULL, 5, 5, &out), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_image_resize(&img, 5, 5, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_image_resize(&img, 5, 5, &img), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_image_resize(&img, 0, 5, &out), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_image_resize(&img, 5, -3, &out), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_image_resize(&img, 1 << 30, 1 << 30, &out), GC_ERR_LIMIT);
    CHECK_FAILS(gc_image_resize(&w16, 5, 5, &out), GC_ERR_UNSUPPORTED);
    float f[4] = {0};
    CHECK_FAILS(gc_image_resize_float(NULL, 1, 2, 2, f, 2, 2), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_image_resize_float(f, 0, 2, 2, f + 0, 2, 2), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_image_preprocess(NULL, &p, &t, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_image_preprocess(&img, NULL, &t, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_image_preprocess(&img, &p, NULL, NULL), GC_ERR_INVALID_ARGUMENT);
    gc_preprocess q = p; q.std[1] = 0;
    CHECK_FAILS(gc_image_preprocess(&img, &q, &t, NULL), GC_ERR_INVALID_ARGUMENT);
    q = p; q.order = (gc_color_order)7;
    CHECK_FAILS(gc_preprocess_plan(10, 8, &q, &g), GC_ERR_INVALID_ARGUMENT);
    q = p; q.input_width = 0;
    CHECK_FAILS(gc_preprocess_plan(10, 8, &q, &g), GC_ERR_INVALID_ARGUMENT);
    q = p; q.resize_shorter = -1;
    CHECK_FAILS(gc_preprocess_plan(10, 8, &q, &g), GC_ERR_INVALID_ARGUMENT);
    q = p; q.mean[0] = NAN;
    CHECK_FAILS(gc_preprocess_plan(10, 8, &q, &g), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_preprocess_plan(0, 8, &p, &g), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_preprocess_plan(10, 8, &p, NULL), GC_ERR_INVALID_ARGUMENT);
    q = p; q.resize_shorter = 60000;                         /* 1 x 100000 -> 60000 x 6e9 */
    CHECK_FAILS(gc_preprocess_plan(1, 100000, &q, &g), GC_ERR_LIMIT);
    CHECK(t.data == NULL && out.data == NULL);
    gc_image_release(&img); gc_image_release(&w16);
}

int main(void) {
    RUN(resize_matches_pil_exactly);
    RUN(resize_same_size_is_a_copy);
    RUN(resize_constant_stays_constant);
    RUN(resize_float_matches_pil_mode_f);
    RUN(resize_8bit_tracks_float_path);
    RUN(preprocess_tiny_image);
    RUN(plan_follows_torchvision);
    RUN(preprocess_matches_torchvision);
    RUN(preprocess_caffe_style);
    RUN(preprocess_16bit_and_alpha_reduce_first);
    RUN(bad_arguments_are_refused);
    return test_summary("preprocess");
}
