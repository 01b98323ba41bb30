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

/* ---- Scale invariance ------------------------------------------------------------------------- */
/* Largest difference of two images of the same size in 8-bit levels; 256 if the sizes differ. */
static int max_level_diff(const gc_image *a, const gc_image *b) {
    if (!a->data || !b->data || a->width != b->width || a->height != b->height || a->channels != b->channels) return 256;
    int d = 0;
    for (int64_t i = 0; i < (int64_t)a->width * a->height * a->channels; i++) {
        int e = abs((int)((uint8_t *)a->data)[i] - (int)((uint8_t *)b->data)[i]);
        if (e > d) d = e;
    }
    return d;
}

/* A smooth bump with noise: structure at every scale. */
static void fill_map(float *m, int64_t n, int64_t w, uint64_t seed) {
    uint64_t r = seed;
    for (int64_t i = 0; i < n; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        const double x = (double)(i % w) / w - 0.4, y = (double)(i / w % w) / w - 0.6;
        m[i] = (float)(exp(-8 * (x * x + y * y)) + 0.3 * ((double)(r >> 40) / (1 << 24) - 0.5));
    }
}

/* Every picture of a map is the same whatever positive factor the map is multiplied by (within
 * one 8-bit level, from float rounding), from 1e-12 to 1e12: gradient images, overlays and
 * every panel of the figure (each map scaled on its own). */
TEST(pictures_do_not_depend_on_the_maps_scale) {
    enum { H = 24, W = 24 };
    static float g[3 * H * W], gs[3 * H * W], cam[7 * 7], cs[7 * 7], cf[7 * 7], cfs[7 * 7], ggc[3 * H * W];
    fill_map(g, 3 * H * W, W, 1);
    fill_map(cam, 49, 7, 2);
    for (int i = 0; i < 49; i++) cf[i] = cam[48 - i];
    gc_image img = {0}, ref[3] = {{0}}, cur = {0};
    CHECK_OK(gc_image_alloc(&img, 60, 40, 3, 8));
    for (int i = 0; i < 60 * 40 * 3; i++) ((uint8_t *)img.data)[i] = (uint8_t)(i * 7);
    gc_explanation e;
    memset(&e, 0, sizeof e);
    e.class_index = 1;
    e.score = 1.0f;
    e.probability = 0.5f;
    gc_figure_opts f = gc_figure_defaults();
    f.panel_height = 48;
    CHECK_OK(gc_render_gradient(g, 3, H, W, GC_COLOR_RGB, &ref[0]));
    CHECK_OK(gc_render_overlay(&img, cam, 7, 7, NULL, NULL, &ref[1], NULL));
    for (int i = 0; i < 3 * H * W; i++) ggc[i] = g[i] * 0.25f;
    set_view(&e.cam, cam, 2, 7, 7, 1);
    set_view(&e.guided, g, 3, 3, H, W);
    set_view(&e.guided_gradcam, ggc, 3, 3, H, W);
    set_view(&e.counterfactual, cf, 2, 7, 7, 1);
    CHECK_OK(gc_render_figure(&img, NULL, &e, &f, &ref[2]));
    static const double scales[] = {1e-12, 1e-9, 1e-6, 1e-3, 3.7, 1e3, 1e6, 1e9, 1e12};
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
        const float s = (float)scales[k];
        for (int i = 0; i < 3 * H * W; i++) gs[i] = g[i] * s;
        for (int i = 0; i < 49; i++) cs[i] = cam[i] * s, cfs[i] = cf[i] * s;
        CHECK_OK(gc_render_gradient(gs, 3, H, W, GC_COLOR_RGB, &cur));
        if (max_level_diff(&cur, &ref[0]) > 1) FAILF("gradient image x %g: %d levels off", scales[k], max_level_diff(&cur, &ref[0]));
        gc_image_release(&cur);
        CHECK_OK(gc_render_overlay(&img, cs, 7, 7, NULL, NULL, &cur, NULL));
        if (max_level_diff(&cur, &ref[1]) > 1) FAILF("overlay x %g: %d levels off", scales[k], max_level_diff(&cur, &ref[1]));
        gc_image_release(&cur);
        /* each map of the figure by its own factor: cam, guided (and its product), counterfactual */
        gc_explanation es = e;
        set_view(&es.cam, cs, 2, 7, 7, 1);
        set_view(&es.guided, gs, 3, 3, H, W);
        set_view(&es.counterfactual, cfs, 2, 7, 7, 1);
        for (int pass = 0; pass < 3; pass++) {
            gc_explanation ep = e;
            if (pass == 0) ep.cam = es.cam;
            if (pass == 1) ep.guided = es.guided;
            if (pass == 2) ep.counterfactual = es.counterfactual;
            CHECK_OK(gc_render_figure(&img, NULL, &ep, &f, &cur));
            if (max_level_diff(&cur, &ref[2]) > 1)
                FAILF("figure with map %d x %g: %d levels off", pass, scales[k], max_level_diff(&cur, &ref[2]));
            gc_image_release(&cur);
        }
    }
    for (int k = 0; k < 3; k++) gc_image_release(&ref[k]);
    gc_image_release(&img);
}

/* Standard deviation of the 8-bit values of the figure region [x0, x0 + w) x [y0, y0 + h). */
static double region_std(const gc_image *im, int x0, int y0, int w, int h) {
    double s = 0, q = 0;
    int64_t n = 0;
    for (int y = y0; y < y0 + h && y < im->height; y++)
        for (int x = x0; x < x0 + w && x < im->width; x++)
            for (int c = 0; c < 3; c++, n++) {
                const double v = px(im, x, y)[c];
                s += v;
                q += v * v;
            }
    return n ? sqrt(q / (double)n - (s / (double)n) * (s / (double)n)) : 0;
}

/* A network with PyTorch's default initialisation (its classifier scaled down further) gives
 * tiny gradients (guided backprop's standard deviation far below the old absolute epsilon of
 * 1e-5); every panel of its figure
 * on a photo-sized image still shows structure (8-bit standard deviation >= 10), and the
 * all-zero / constant maps get a labelled panel. */
TEST(tiny_gradients_still_show) {
    gc_model *m = NULL;
    CHECK_OK(gc_model_create(&m));
    if (!m) return;
    int c = 3;
    char name[32];
    for (int k = 0; k < 4; k++) {
        gc_conv2d_params cp = gc_conv2d_defaults(c, 16 << (k / 2), 3);
        cp.pad_h = cp.pad_w = 1;
        snprintf(name, sizeof name, "features.%d", 3 * k);
        CHECK_OK(gc_model_add_conv2d(m, name, NULL, &cp, NULL, NULL));
        snprintf(name, sizeof name, "features.%d", 3 * k + 1);
        CHECK_OK(gc_model_add_relu(m, name, NULL));
        gc_pool2d_params pp = gc_pool2d_defaults(2);
        snprintf(name, sizeof name, "features.%d", 3 * k + 2);
        CHECK_OK(gc_model_add_maxpool2d(m, name, NULL, &pp));
        c = 16 << (k / 2);
    }
    gc_adaptive_pool2d_params ap = {2, 2};
    gc_linear_params fc = {c * 4, 10, 1};
    CHECK_OK(gc_model_add_adaptive_avgpool2d(m, "avgpool", NULL, &ap));
    CHECK_OK(gc_model_add_flatten(m, "flatten", NULL));
    CHECK_OK(gc_model_add_linear(m, "classifier", NULL, &fc, NULL, NULL));
    CHECK_OK(gc_model_init_random(m, 5));
    gc_tensor fw;   /* logits of a thousandth of PyTorch's default scale: gradients ~1e-8 */
    CHECK_OK(gc_model_param(m, "classifier.weight", &fw));
    for (int64_t i = 0; fw.data && i < gc_tensor_numel(&fw); i++) fw.data[i] *= 1e-3f;
    /* a 500x375 "photo": a synthetic shapes image, preprocessed to 96x96 as torchvision would */
    enum { PW = 500, PH = 375, S = 96 };
    static float rgb[3 * PH * PW];
    gc_shapes_info info;
    gc_image photo = {0}, fig = {0};
    gc_tensor x = {0};
    gc_preprocess_info crop;
    gc_session *s = NULL;
    CHECK_OK(gc_shapes_generate(3, 0, 1, PH, PW, rgb, NULL, &info));
    CHECK_OK(gc_image_alloc(&photo, PW, PH, 3, 8));
    for (int64_t i = 0; i < PH * PW; i++)
        for (int k = 0; k < 3; k++) ((uint8_t *)photo.data)[i * 3 + k] = (uint8_t)(rgb[k * PH * PW + i] * 255.0f + 0.5f);
    gc_preprocess pre = gc_preprocess_torchvision();
    pre.input_height = pre.input_width = S;
    pre.resize_shorter = 110;
    CHECK_OK(gc_image_preprocess(&photo, &pre, &x, &crop));
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = S, .width = S};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    gc_explain_request req = {.target = GC_TARGET_TOP1, .methods = GC_METHOD_GUIDED_GRADCAM | GC_METHOD_COUNTERFACTUAL};
    gc_explain_result r;
    if (!s || !x.data || gc_explain(s, x.data, &req, &r) != GC_OK) { FAILF("explain: %s", gc_last_error()); goto out; }
    const gc_explanation *e = &r.items[0];
    double mean = 0, sd = 0;
    const int64_t n = 3 * S * S;
    for (int64_t i = 0; i < n; i++) mean += e->guided.data[i] / (double)n;
    for (int64_t i = 0; i < n; i++) sd += (e->guided.data[i] - mean) * (e->guided.data[i] - mean) / (double)n;
    sd = sqrt(sd);
    if (getenv("GC_TEST_VERBOSE")) printf("  guided backprop std %.3g\n", sd);
    CHECK(sd < 1e-5); /* the case the relative epsilon is for */
    gc_figure_opts f = gc_figure_defaults();
    f.panel_height = 96;
    CHECK_OK(gc_render_figure(&photo, &crop, e, &f, &fig));
    if (fig.data) {
        /* panels: the photo and its overlay at its aspect, then three squares (guided, Guided
           Grad-CAM, counterfactual overlay: photo aspect) after 6-pixel margins; titles 16 high */
        const int wide = (PW * 96 + PH / 2) / PH, widths[5] = {wide, wide, 96, 96, wide};
        int x0 = 6;
        for (int k = 0; k < 5; k++) {
            const double d = region_std(&fig, x0, 16, widths[k], 96);
            if (getenv("GC_TEST_VERBOSE")) printf("  panel %d std %.1f\n", k, d);
            if (k < 4 && !(d >= 10)) FAILF("panel %d has no visible structure (std %.1f)", k, d);
            x0 += widths[k] + 6;
        }
    }
out:
    gc_image_release(&fig);
    gc_image_release(&photo);
    gc_tensor_release(&x);
    gc_session_free(s);
    gc_model_free(m);
}

/* Maps with nothing to show get a labelled panel, not a flat colour. */
TEST(constant_maps_get_labelled_panels) {
    gc_image img = {0}, fig = {0};
    CHECK_OK(gc_image_alloc(&img, 40, 40, 3, 8));
    static float cam[4 * 4], g[3 * 16 * 16], gg[3 * 16 * 16], cf[4 * 4];
    for (int i = 0; i < 3 * 16 * 16; i++) g[i] = (float)(i % 7) - 3.0f;
    for (int i = 0; i < 16; i++) cf[i] = 2.0f;
    gc_explanation e;
    memset(&e, 0, sizeof e);
    set_view(&e.cam, cam, 2, 4, 4, 1);                 /* all zero */
    set_view(&e.guided, g, 3, 3, 16, 16);
    set_view(&e.guided_gradcam, gg, 3, 3, 16, 16);     /* zero, as guided x a zero map is */
    set_view(&e.counterfactual, cf, 2, 4, 4, 1);       /* constant */
    gc_figure_opts f = gc_figure_defaults();
    f.panel_height = 40;
    CHECK_OK(gc_render_figure(&img, NULL, &e, &f, &fig));
    if (fig.data) {
        /* panels 2 (Grad-CAM), 4 (Guided Grad-CAM) and 5 (counterfactual): grey with dark text */
        const int starts[3] = {6 + 40 + 6, 6 + 40 + 6 + 40 + 6 + 40 + 6, 6 + 40 + 6 + 40 + 6 + 40 + 6 + 40 + 6};
        for (int k = 0; k < 3; k++) {
            int grey = 0, ink = 0;
            for (int y = 16; y < 56; y++)
                for (int x = starts[k]; x < starts[k] + 40; x++) {
                    grey += px(&fig, x, y)[0] == 160 && px(&fig, x, y)[1] == 160;
                    ink += px(&fig, x, y)[0] == 0;
                }
            if (!(grey > 1000 && ink > 20)) FAILF("panel %d: %d grey pixels, %d ink pixels", k, grey, ink);
        }
    }
    gc_image_release(&fig);
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
    RUN(pictures_do_not_depend_on_the_maps_scale);
    RUN(tiny_gradients_still_show);
    RUN(constant_maps_get_labelled_panels);
    return test_summary("render");
}
