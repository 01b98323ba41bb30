/* test_render.c - jet colour map, overlay blending, localisation box,
 * gradient images, bitmap font and figure layout. */
#include "test.h"
#include <stdint.h>

static const uint8_t *px(const gc_image *im, int x, int y) {
    return (const uint8_t *)im->data + ((size_t)y * im->width + x) * im->channels;
}

/* ---- Colour map ------------------------------------------------------------------------ */
/* cv2.applyColorMap(gray, COLORMAP_JET) printed for gray 0..20 (BGR(128 + 4i, 0, 0)),
 * blog.csdn.net/qq_41498261/article/details/109603986. */
TEST(jet_matches_documented_opencv_values) {
    uint8_t c[3];
    for (int i = 0; i <= 20; i++) {
        gc_colormap_jet(i, c);
        if (c[0] != 0 || c[1] != 0 || c[2] != 128 + 4 * i) FAILF("jet[%d] = %d %d %d", i, c[0], c[1], c[2]);
    }
    gc_colormap_jet(255, c);               /* dark red, the mirror of entry 0 */
    CHECK(c[0] == 128 && c[1] == 0 && c[2] == 0);
    gc_colormap_jet(-5, c);
    CHECK(c[2] == 128);
    gc_colormap_jet(999, c);
    CHECK(c[0] == 128);
}

/* Every entry within half a unit of 255 * the piecewise-linear jet (ties
 * are settled by OpenCV's float rounding), flat parts exact. */
TEST(jet_follows_piecewise_definition) {
    static const double up[3] = {-1.5, -0.5, 0.5}, down[3] = {4.5, 3.5, 2.5};
    for (int i = 0; i < 256; i++) {
        uint8_t c[3];
        gc_colormap_jet(i, c);
        for (int k = 0; k < 3; k++) {
            double x = i / 255.0, v = fmin(4 * x + up[k], down[k] - 4 * x);
            v = 255 * fmax(0, fmin(1, v));
            if (fabs(c[k] - v) > 0.5 + 1e-9) FAILF("jet[%d][%d] = %d, definition %.3f", i, k, c[k], v);
        }
    }
    uint8_t c[3];
    gc_colormap_jet(95, c);  CHECK(c[0] == 0);    /* red starts after 4x - 1.5 > 0: i >= 96 */
    gc_colormap_jet(96, c);  CHECK(c[0] == 2);    /* 1.5 -> 2 */
    gc_colormap_jet(160, c); CHECK(c[0] == 255 && c[1] == 252 && c[2] == 0);
    gc_colormap_jet(31, c);  CHECK(c[1] == 0 && c[2] == 252);
    gc_colormap_jet(128, c); CHECK(c[1] == 255);
}

TEST(colormap_index_and_image) {
    CHECK(gc_colormap_index(0.0f) == 0);
    CHECK(gc_colormap_index(1.0f) == 255);
    CHECK(gc_colormap_index(0.5f) == 127);      /* np.uint8(127.5) */
    CHECK(gc_colormap_index(0.999f) == 254);
    CHECK(gc_colormap_index(-3.0f) == 0);
    CHECK(gc_colormap_index(7.0f) == 255);
    CHECK(gc_colormap_index(NAN) == 0);
    float m[4] = {0.0f, 1.0f, 0.5f, 0.25f};
    gc_image im = {0};
    CHECK_OK(gc_colormap_jet_image(m, 2, 2, &im));
    if (im.data) {
        CHECK(im.width == 2 && im.height == 2 && im.channels == 3 && im.bit_depth == 8);
        int idx[4] = {0, 255, 127, 63};
        for (int i = 0; i < 4; i++) {
            uint8_t c[3];
            gc_colormap_jet(idx[i], c);
            CHECK(memcmp(px(&im, i % 2, i / 2), c, 3) == 0);
        }
    }
    gc_image_release(&im);
    CHECK_FAILS(gc_colormap_jet_image(NULL, 2, 2, &im), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_colormap_jet_image(m, 0, 2, &im), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_colormap_jet_image(m, 2, 2, NULL), GC_ERR_INVALID_ARGUMENT);
}

/* ---- Localisation ------------------------------------------------------------------------ */
TEST(localize_largest_component_wins) {
    float m[8 * 10] = {0}; /* (8, 10) */
    m[1 * 10 + 1] = 1.0f;  /* small blob with the maximum: 2 pixels */
    m[1 * 10 + 2] = 0.9f;
    for (int y = 4; y <= 6; y++) for (int x = 5; x <= 8; x++) m[y * 10 + x] = 0.5f; /* 12 pixels */
    gc_box b;
    CHECK_OK(gc_map_localize(m, 8, 10, 0.15f, &b));
    CHECK(b.x0 == 5 && b.y0 == 4 && b.x1 == 8 && b.y1 == 6 && b.area == 12);
    CHECK_OK(gc_map_localize(m, 8, 10, 0.6f, &b)); /* only the small blob is above 0.6 */
    CHECK(b.x0 == 1 && b.y0 == 1 && b.x1 == 2 && b.y1 == 1 && b.area == 2);
}

TEST(localize_threshold_boundary_and_connectivity) {
    float m[5 * 5] = {0};
    m[0] = 1.0f;                       /* (0,0) */
    m[1 * 5 + 1] = 0.25f;              /* diagonal neighbour: 8-connected */
    m[2 * 5 + 2] = 0.25f;
    m[3 * 5 + 3] = 0.2499f;            /* just below 0.25 */
    gc_box b;
    CHECK_OK(gc_map_localize(m, 5, 5, 0.25f, &b));      /* >= 0.25 * 1.0 is in */
    CHECK(b.x0 == 0 && b.y0 == 0 && b.x1 == 2 && b.y1 == 2 && b.area == 3);
    m[3 * 5 + 3] = 0.25f;
    CHECK_OK(gc_map_localize(m, 5, 5, 0.25f, &b));
    CHECK(b.x1 == 3 && b.y1 == 3 && b.area == 4);
    /* two equal components: the first in raster order */
    float t[3 * 5] = {1, 0, 0, 0, 1,  1, 0, 0, 0, 1,  0, 0, 0, 0, 0};
    CHECK_OK(gc_map_localize(t, 3, 5, 0.15f, &b));
    CHECK(b.x0 == 0 && b.x1 == 0 && b.area == 2);
}

TEST(localize_degenerate_maps) {
    float z[6] = {0, 0, 0, 0, 0, 0}, neg[6] = {-1, -2, -3, -1, -1, -1}, nan[6] = {NAN, 0.5f, 0, 0, 0, 0};
    gc_box b;
    CHECK_OK(gc_map_localize(z, 2, 3, 0.15f, &b));
    CHECK(b.area == 0);
    CHECK_OK(gc_map_localize(neg, 2, 3, 0.15f, &b));
    CHECK(b.area == 0);
    CHECK_OK(gc_map_localize(nan, 2, 3, 0.15f, &b));
    CHECK(b.area == 1 && b.x0 == 1 && b.y0 == 0);
    CHECK_FAILS(gc_map_localize(NULL, 2, 3, 0.15f, &b), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_map_localize(z, 2, 3, 0.15f, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_map_localize(z, 0, 3, 0.15f, &b), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_map_localize(z, 2, 3, 1.5f, &b), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_map_localize(z, 2, 3, NAN, &b), GC_ERR_INVALID_ARGUMENT);
}

/* ---- Overlay ------------------------------------------------------------------------------ */
/* 4 x 4 image of (200, 100, 50); the crop is the left half; map [0, 1]
 * (1 x 2) lands on columns 0 and 1 exactly: jet 0 = (0, 0, 128), jet 255 =
 * (128, 0, 0); columns 2, 3 keep their colour. */
TEST(overlay_blends_by_hand) {
    gc_image img = {0}, out = {0};
    CHECK_OK(gc_image_alloc(&img, 4, 4, 3, 8));
    for (int i = 0; i < 16; i++) { uint8_t *p = (uint8_t *)img.data + 3 * i; p[0] = 200; p[1] = 100; p[2] = 50; }
    gc_preprocess_info crop = {0};
    crop.x = 0; crop.y = 0; crop.width = 2; crop.height = 4;
    float map[2] = {3.0f, 7.0f}; /* min-max scaled to 0, 1 */
    gc_overlay_opts o = gc_overlay_defaults();
    CHECK(o.alpha == 0.5f && o.box_threshold == 0.15f && o.draw_box == 1);
    o.draw_box = 0;
    gc_box b;
    CHECK_OK(gc_render_overlay(&img, map, 1, 2, &crop, &o, &out, &b));
    if (out.data) {
        for (int y = 0; y < 4; y++) {
            const uint8_t *a = px(&out, 0, y), *c = px(&out, 1, y), *d = px(&out, 2, y), *e = px(&out, 3, y);
            CHECK(a[0] == 100 && a[1] == 50 && a[2] == 89);   /* (200+0)/2, (100+0)/2, (50+128)/2 */
            CHECK(c[0] == 164 && c[1] == 50 && c[2] == 25);   /* (200+128)/2 */
            CHECK(d[0] == 200 && d[1] == 100 && d[2] == 50 && e[0] == 200);
        }
    }
    CHECK(b.x0 == 1 && b.x1 == 1 && b.y0 == 0 && b.y1 == 3 && b.area == 4);
    gc_image_release(&out);
    o.alpha = 0.25f;                                          /* 0.75 * 200 + 0.25 * 128 = 182; 37.5 -> 38 */
    CHECK_OK(gc_render_overlay(&img, map, 1, 2, &crop, &o, &out, NULL));
    if (out.data) CHECK(px(&out, 1, 2)[0] == 182 && px(&out, 1, 2)[1] == 75 && px(&out, 1, 2)[2] == 38);
    gc_image_release(&out);
    o.draw_box = 1;                                           /* the 2-pixel outline covers columns 0..1 of the box */
    CHECK_OK(gc_render_overlay(&img, map, 1, 2, &crop, &o, &out, NULL));
    if (out.data) CHECK(px(&out, 1, 0)[0] == 0 && px(&out, 1, 0)[1] == 255 && px(&out, 1, 3)[1] == 255);
    gc_image_release(&out);
    /* no crop: the map covers the whole image; gray images are expanded to RGB */
    gc_image g = {0};
    CHECK_OK(gc_image_alloc(&g, 3, 2, 1, 8));
    float flat[1] = {0.4f};
    o.draw_box = 0;
    CHECK_OK(gc_render_overlay(&g, flat, 1, 1, NULL, &o, &out, NULL));
    if (out.data) CHECK(out.channels == 3 && px(&out, 2, 1)[2] == 32);       /* constant map -> 0 -> jet (0,0,128) * 0.25 */
    gc_image_release(&out);
    float bad[2] = {0, NAN};
    CHECK_FAILS(gc_render_overlay(&img, bad, 1, 2, &crop, &o, &out, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_render_overlay(NULL, map, 1, 2, &crop, &o, &out, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_render_overlay(&img, map, 0, 2, &crop, &o, &out, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_render_overlay(&img, map, 1, 2, &crop, &o, &img, NULL), GC_ERR_INVALID_ARGUMENT);
    o.alpha = 1.5f;
    CHECK_FAILS(gc_render_overlay(&img, map, 1, 2, &crop, &o, &out, NULL), GC_ERR_INVALID_ARGUMENT);
    o.alpha = 0.5f;
    crop.width = 0;
    CHECK_FAILS(gc_render_overlay(&img, map, 1, 2, &crop, &o, &out, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK(out.data == NULL);
    gc_image_release(&img); gc_image_release(&g);
}

/* Overlay through a real preprocessing crop: heat only inside the crop. */
TEST(overlay_respects_preprocess_crop) {
    gc_image img = {0}, out = {0};
    CHECK_OK(gc_image_alloc(&img, 40, 20, 3, 8));
    gc_preprocess p = gc_preprocess_torchvision();
    p.resize_shorter = 16; p.input_height = p.input_width = 16; /* 40x20 -> 32x16, crop left 8 */
    gc_preprocess_info g;
    CHECK_OK(gc_preprocess_plan(40, 20, &p, &g));
    CHECK(g.crop_left == 8 && g.crop_top == 0);
    CHECK_NEAR(g.x, 10.0, 1e-12);
    CHECK_NEAR(g.width, 20.0, 1e-12);
    float map[4] = {0, 1, 1, 0};
    gc_overlay_opts o = gc_overlay_defaults();
    o.draw_box = 0;
    gc_box b;
    CHECK_OK(gc_render_overlay(&img, map, 2, 2, &g, &o, &out, &b));
    if (out.data) {
        int outside_black = 1, inside_blue = 1;
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 40; x++) {
                const uint8_t *q = px(&out, x, y);
                if (x < 10 || x >= 30) outside_black &= q[0] == 0 && q[1] == 0 && q[2] == 0;
                else inside_blue &= q[2] > 0 || q[0] > 0;
            }
        CHECK(outside_black && inside_blue);
    }
    CHECK(b.area > 0 && b.x0 >= 10 && b.x1 <= 29);
    gc_image_release(&img); gc_image_release(&out);
}

/* ---- Gradient images ------------------------------------------------------------------------- */
TEST(gradient_deprocess_by_hand) {
    float g[2] = {-1.0f, 1.0f}; /* mean 0, std 1: 0.5 -+ 0.1 / 1.00001 */
    gc_image im = {0};
    CHECK_OK(gc_render_gradient(g, 1, 1, 2, GC_COLOR_RGB, &im));
    if (im.data) {
        CHECK(px(&im, 0, 0)[0] == 102 && px(&im, 0, 0)[1] == 102 && px(&im, 0, 0)[2] == 102);
        CHECK(px(&im, 1, 0)[0] == 152);
    }
    gc_image_release(&im);
    /* channels (3, 1, 2), mean 0, std sqrt(300): +-30 -> 0.5 +- 0.1732 -> 171, 83 */
    float c[6] = {-30, 0,  0, 0,  30, 0};
    CHECK_OK(gc_render_gradient(c, 3, 1, 2, GC_COLOR_BGR, &im));
    if (im.data) CHECK(px(&im, 0, 0)[0] == 171 && px(&im, 0, 0)[1] == 127 && px(&im, 0, 0)[2] == 83 && px(&im, 1, 0)[1] == 127);
    gc_image_release(&im);
    CHECK_OK(gc_render_gradient(c, 3, 1, 2, GC_COLOR_RGB, &im));
    if (im.data) CHECK(px(&im, 0, 0)[0] == 83 && px(&im, 0, 0)[2] == 171);
    gc_image_release(&im);
    float two[4] = {0, 0, 0, 100};                               /* mean 25, std 43.3: 0.5 - 0.0577, 0.5 + 0.1732 */
    CHECK_OK(gc_render_gradient(two, 1, 2, 2, GC_COLOR_RGB, &im));
    if (im.data) CHECK(px(&im, 0, 0)[0] == 112 && px(&im, 1, 1)[0] == 171);
    gc_image_release(&im);
    float spike[36] = {0};                                       /* z = sqrt(35) > 5: clipped to 255 */
    spike[20] = 1.0f;                                            /* zeros: 0.5 - 0.1 / sqrt(35) -> 123 */
    CHECK_OK(gc_render_gradient(spike, 1, 6, 6, GC_COLOR_RGB, &im));
    if (im.data) CHECK(px(&im, 2, 3)[0] == 255 && px(&im, 0, 0)[0] == 123);
    gc_image_release(&im);
    float z[4] = {0};                                            /* constant: 0.5 -> 127 */
    CHECK_OK(gc_render_gradient(z, 1, 2, 2, GC_COLOR_RGB, &im));
    if (im.data) CHECK(px(&im, 1, 1)[0] == 127);
    gc_image_release(&im);
    CHECK_FAILS(gc_render_gradient(z, 2, 1, 2, GC_COLOR_RGB, &im), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_render_gradient(NULL, 1, 1, 2, GC_COLOR_RGB, &im), GC_ERR_INVALID_ARGUMENT);
    float n[2] = {INFINITY, 0};
    CHECK_FAILS(gc_render_gradient(n, 1, 1, 2, GC_COLOR_RGB, &im), GC_ERR_INVALID_ARGUMENT);
}

/* ---- Font --------------------------------------------------------------------------------------- */
static int ink(const gc_image *im) {
    int n = 0;
    for (int i = 0; i < im->width * im->height; i++) n += ((uint8_t *)im->data)[3 * i] != 0;
    return n;
}

TEST(font_every_printable_glyph_is_distinct) {
    static uint8_t cells[95][8 * 6];
    const uint8_t white[3] = {255, 255, 255};
    for (int c = 32; c <= 126; c++) {
        gc_image im = {0};
        char s[2] = {(char)c, 0};
        CHECK_OK(gc_image_alloc(&im, GC_FONT_ADVANCE, GC_FONT_HEIGHT, 3, 8));
        CHECK_OK(gc_image_draw_text(&im, 0, 0, s, 1, white));
        int n = ink(&im);
        if (c == ' ' ? n != 0 : n == 0) FAILF("glyph '%c' has %d ink pixels", c, n);
        int right = 0;
        for (int y = 0; y < GC_FONT_HEIGHT; y++) right |= px(&im, 5, y)[0];
        if (right) FAILF("glyph '%c' touches the spacing column", c);
        for (int i = 0; i < 48; i++) cells[c - 32][i] = ((uint8_t *)im.data)[3 * i];
        gc_image_release(&im);
    }
    for (int a = 0; a < 95; a++)
        for (int b = a + 1; b < 95; b++)
            if (!memcmp(cells[a], cells[b], sizeof cells[a])) FAILF("glyphs '%c' and '%c' are identical", a + 32, b + 32);
}

TEST(font_scaling_clipping_and_width) {
    const uint8_t white[3] = {255, 255, 255};
    gc_image a = {0}, b = {0};
    CHECK(gc_text_width("Grad-CAM", 1) == 48 && gc_text_width("Grad-CAM", 3) == 144 && gc_text_width("", 2) == 0);
    CHECK(gc_text_width(NULL, 1) == 0 && gc_text_width("x", 0) == 0);
    CHECK_OK(gc_image_alloc(&a, 60, 10, 3, 8));
    CHECK_OK(gc_image_alloc(&b, 120, 20, 3, 8));
    CHECK_OK(gc_image_draw_text(&a, 0, 0, "Az9@", 1, white));
    CHECK_OK(gc_image_draw_text(&b, 0, 0, "Az9@", 2, white));
    CHECK(ink(&b) == 4 * ink(&a) && ink(&a) > 0);
    memset(a.data, 0, 60 * 10 * 3);
    CHECK_OK(gc_image_draw_text(&a, -3, -4, "Hello", 1, white));   /* partly outside */
    CHECK_OK(gc_image_draw_text(&a, 1000, 1000, "Hello", 1, white));
    CHECK(ink(&a) > 0);
    gc_image q = {0};
    CHECK_OK(gc_image_alloc(&q, 60, 10, 3, 8));
    memset(a.data, 0, 60 * 10 * 3);
    CHECK_OK(gc_image_draw_text(&a, 0, 0, "\xc3\xa9", 1, white));  /* non-ASCII bytes draw '?' */
    CHECK_OK(gc_image_draw_text(&q, 0, 0, "??", 1, white));
    CHECK(ink(&a) > 0 && memcmp(a.data, q.data, 60 * 10 * 3) == 0);
    gc_image_release(&q);
    gc_image g = {0};
    CHECK_OK(gc_image_alloc(&g, 12, 8, 1, 8));
    CHECK_OK(gc_image_draw_text(&g, 0, 0, "I", 1, white));
    CHECK(((uint8_t *)g.data)[2] == 255);                            /* 'I' top row .###. */
    CHECK_FAILS(gc_image_draw_text(&a, 0, 0, "x", 0, white), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_image_draw_text(&a, 0, 0, NULL, 1, white), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_image_draw_text(NULL, 0, 0, "x", 1, white), GC_ERR_INVALID_ARGUMENT);
    gc_image_release(&a); gc_image_release(&b); gc_image_release(&g);
}

/* ---- Figure ----------------------------------------------------------------------------------------- */
static void set_view(gc_tensor *t, float *data, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    memset(t, 0, sizeof *t);
    t->data = data; t->ndim = ndim;
    t->shape[0] = d0; t->shape[1] = d1; t->shape[2] = d2; t->shape[3] = 1;
}

TEST(figure_layout) {
    gc_image img = {0}, fig = {0};
    CHECK_OK(gc_image_alloc(&img, 100, 50, 3, 8));
    static float cam[7 * 7], g[3 * 32 * 32];
    for (int i = 0; i < 49; i++) cam[i] = (float)(i % 5);
    for (int i = 0; i < 3 * 32 * 32; i++) g[i] = (float)((i * 37) % 11) - 5.0f;
    gc_explanation e;
    memset(&e, 0, sizeof e);
    e.class_index = 3; e.score = 2.5f; e.probability = 0.25f;
    set_view(&e.cam, cam, 2, 7, 7, 1);
    set_view(&e.guided, g, 3, 3, 32, 32);
    set_view(&e.guided_gradcam, g, 3, 3, 32, 32);
    gc_figure_opts f = gc_figure_defaults();
    CHECK(f.panel_height == 224 && f.text_scale == 2 && f.label == NULL && f.overlay.alpha == 0.5f);
    f.panel_height = 64;
    CHECK_OK(gc_render_figure(&img, NULL, &e, &f, &fig));
    /* panels 128 + 128 + 64 + 64, 5 margins of 6; title 16 + panels 64 + caption 28 */
    if (fig.data) {
        CHECK(fig.width == 6 + 128 + 6 + 128 + 6 + 64 + 6 + 64 + 6);
        CHECK(fig.height == 16 + 64 + 28);
        CHECK(fig.channels == 3 && fig.bit_depth == 8);
        CHECK(px(&fig, 0, 0)[0] == 255);                            /* white background */
        int caption_ink = 0;
        for (int y = 80; y < fig.height; y++) for (int x = 0; x < 200; x++) caption_ink += px(&fig, x, y)[0] == 0;
        CHECK(caption_ink > 50);
    }
    gc_image_release(&fig);
    e.guided.data = NULL; e.guided_gradcam.data = NULL;              /* missing maps: square gray panels */
    CHECK_OK(gc_render_figure(&img, NULL, &e, &f, &fig));
    if (fig.data) CHECK(fig.width == 6 + 128 + 6 + 128 + 6 + 64 + 6 + 64 + 6 && px(&fig, 6 + 128 + 6 + 128 + 6 + 1, 20)[0] == 160);
    gc_image_release(&fig);
    /* a counterfactual map adds a fifth panel: its overlay on the whole original */
    static float cf[7 * 7];
    for (int i = 0; i < 49; i++) cf[i] = (float)(4 - i % 5);
    set_view(&e.counterfactual, cf, 2, 7, 7, 1);
    CHECK_OK(gc_render_figure(&img, NULL, &e, &f, &fig));
    if (fig.data) {
        CHECK(fig.width == 6 + 128 + 6 + 128 + 6 + 64 + 6 + 64 + 6 + 128 + 6);
        int x0 = 6 + 128 + 6 + 128 + 6 + 64 + 6 + 64 + 6, colour = 0;
        for (int y = 16; y < 16 + 64; y++) for (int x = x0; x < x0 + 128; x++) colour += px(&fig, x, y)[0] != px(&fig, x, y)[2];
        CHECK(colour > 1000); /* jet heat, not a gray panel */
    }
    gc_image_release(&fig);
    e.counterfactual.data = NULL;
    e.cam.data = NULL;
    CHECK_FAILS(gc_render_figure(&img, NULL, &e, &f, &fig), GC_ERR_INVALID_ARGUMENT);
    e.cam.data = cam;
    f.panel_height = 3;
    CHECK_FAILS(gc_render_figure(&img, NULL, &e, &f, &fig), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_render_figure(&img, NULL, NULL, NULL, &fig), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_render_figure(NULL, NULL, &e, NULL, &fig), GC_ERR_INVALID_ARGUMENT);
    CHECK(fig.data == NULL);
    gc_image_release(&img);
}

int main(void) {
    RUN(jet_matches_documented_opencv_values);
    RUN(jet_follows_piecewise_definition);
    RUN(colormap_index_and_image);
    RUN(localize_largest_component_wins);
    RUN(localize_threshold_boundary_and_connectivity);
    RUN(localize_degenerate_maps);
    RUN(overlay_blends_by_hand);
    RUN(overlay_respects_preprocess_crop);
    RUN(gradient_deprocess_by_hand);
    RUN(font_every_printable_glyph_is_distinct);
    RUN(font_scaling_clipping_and_width);
    RUN(figure_layout);
    return test_summary("render");
}
