/* test_shapes.c - the synthetic dataset: determinism per (seed, index),
 * boxes against the pixels that differ from the object-free background,
 * class balance, value range, shape sanity and refusals. */
#include "test.h"

enum { H = 64, W = 64, P = H * W };

static int same(const float *a, const float *b, int n) { return memcmp(a, b, (size_t)n * sizeof(float)) == 0; }

TEST(deterministic_per_seed_and_index) {
    static float a[3 * P], b[3 * P], c[3 * P];
    gc_shapes_info ia, ib, ic;
    for (int n = 0; n <= 2; n++) {
        CHECK_OK(gc_shapes_generate(42, 17, n, H, W, a, NULL, &ia));
        /* other images in between, in another order, change nothing */
        for (int k = 30; k > 0; k -= 7) CHECK_OK(gc_shapes_generate(42, (uint64_t)k, 2 - n, H, W, c, NULL, &ic));
        CHECK_OK(gc_shapes_generate(42, 17, n, H, W, b, NULL, &ib));
        CHECK(same(a, b, 3 * P));
        CHECK(memcmp(&ia, &ib, sizeof ia) == 0);
        CHECK_OK(gc_shapes_generate(42, 18, n, H, W, c, NULL, &ic));
        CHECK(!same(a, c, 3 * P));
        CHECK_OK(gc_shapes_generate(43, 17, n, H, W, c, NULL, &ic));
        CHECK(!same(a, c, 3 * P));
    }
    /* other sizes work and differ */
    static float big[3 * 96 * 80];
    CHECK_OK(gc_shapes_generate(42, 17, 1, 96, 80, big, NULL, &ic));
    CHECK(ic.box[0].x1 < 80 && ic.box[0].y1 < 96);
}

TEST(values_are_8bit_levels) {
    static float a[3 * P];
    gc_shapes_info in;
    for (uint64_t i = 0; i < 20; i++) {
        CHECK_OK(gc_shapes_generate(5, i, (int)(i % 3), H, W, a, NULL, &in));
        int bad = 0;
        for (int k = 0; k < 3 * P; k++) {
            float v = a[k] * 255.0f;
            if (!(a[k] >= 0 && a[k] <= 1) || fabsf(v - roundf(v)) > 1e-3f) bad++;
        }
        CHECK(bad == 0);
    }
}

/* Every pixel that differs from the background-only image of the same
 * (seed, index) lies in a box; each box is tight (every edge holds such a
 * pixel); the mask agrees with the boxes. */
TEST(boxes_hold_the_object_pixels) {
    static float img[3 * P], bg[3 * P];
    static uint8_t mask[P];
    gc_shapes_info in, none;
    int outside = 0, loose = 0, mask_bad = 0, overlap = 0, tiny = 0;
    for (uint64_t i = 0; i < 120; i++) {
        int n = 1 + (int)(i & 1);
        CHECK_OK(gc_shapes_generate(9, i, n, H, W, img, mask, &in));
        CHECK_OK(gc_shapes_generate(9, i, 0, H, W, bg, NULL, &none));
        CHECK(none.n_objects == 0 && in.n_objects == n);
        int edge[2][4] = {{0}};
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int diff = 0;
                for (int c = 0; c < 3; c++) diff |= img[c * P + y * W + x] != bg[c * P + y * W + x];
                int inbox = 0;
                for (int k = 0; k < n; k++) {
                    const gc_box *b = &in.box[k];
                    int ins = x >= b->x0 && x <= b->x1 && y >= b->y0 && y <= b->y1;
                    inbox |= ins;
                    if (diff && ins) {
                        edge[k][0] |= x == b->x0; edge[k][1] |= x == b->x1;
                        edge[k][2] |= y == b->y0; edge[k][3] |= y == b->y1;
                    }
                    if (mask[y * W + x] == k + 1 && !ins) mask_bad++;
                }
                if (diff && !inbox) outside++;
                if (!mask[y * W + x] && diff) mask_bad++;
            }
        for (int k = 0; k < n; k++) {
            int64_t area = 0;
            for (int q = 0; q < P; q++) area += mask[q] == k + 1;
            if (area != in.box[k].area) mask_bad++;
            loose += !(edge[k][0] && edge[k][1] && edge[k][2] && edge[k][3]);
            const gc_box *b = &in.box[k];
            tiny += (b->x1 - b->x0 + 1) < 0.2 * W * 0.6 || (b->y1 - b->y0 + 1) < 0.2 * H * 0.6;
        }
        if (n == 2) {
            const gc_box *a = &in.box[0], *b = &in.box[1];
            overlap += !(a->x1 < b->x0 || b->x1 < a->x0 || a->y1 < b->y0 || b->y1 < a->y0);
            CHECK(in.label[0] != in.label[1]);
        }
    }
    CHECK(outside == 0);
    CHECK(loose == 0);
    CHECK(mask_bad == 0);
    CHECK(overlap == 0);
    CHECK(tiny == 0);
    if (outside || loose || mask_bad || overlap || tiny)
        FAILF("outside %d loose %d mask %d overlap %d tiny %d", outside, loose, mask_bad, overlap, tiny);
}

TEST(class_balance) {
    static float img[3 * P];
    gc_shapes_info in;
    int count[GC_SHAPES_CLASSES] = {0}, blocks_ok = 1;
    for (uint64_t b = 0; b < 50; b++) {
        int seen = 0;
        for (uint64_t j = 0; j < 6; j++) {
            CHECK_OK(gc_shapes_generate(3, b * 6 + j, 1, H, W, img, NULL, &in));
            CHECK(in.label[0] >= 0 && in.label[0] < GC_SHAPES_CLASSES);
            count[in.label[0]]++;
            seen |= 1 << in.label[0];
        }
        blocks_ok &= seen == 63;
    }
    CHECK(blocks_ok);
    for (int k = 0; k < GC_SHAPES_CLASSES; k++) CHECK(count[k] == 50);
    /* the permutation differs between blocks (not always the same order) */
    int first[2];
    CHECK_OK(gc_shapes_generate(3, 0, 1, H, W, img, NULL, &in));
    first[0] = in.label[0];
    int differs = 0;
    for (uint64_t b = 1; b < 10; b++) {
        CHECK_OK(gc_shapes_generate(3, b * 6, 1, H, W, img, NULL, &in));
        first[1] = in.label[0];
        differs |= first[1] != first[0];
    }
    CHECK(differs);
    /* two-object images: every class about equally often (2 x 300 / 6 = 100 each) */
    int c2[GC_SHAPES_CLASSES] = {0};
    for (uint64_t i = 0; i < 300; i++) {
        CHECK_OK(gc_shapes_generate(3, i, 2, H, W, img, NULL, &in));
        c2[in.label[0]]++;
        c2[in.label[1]]++;
    }
    for (int k = 0; k < GC_SHAPES_CLASSES; k++)
        if (c2[k] < 70 || c2[k] > 130) FAILF("class %d appears %d times in 300 two-object images", k, c2[k]);
}

/* Shapes are what they say: a disc fills pi/4 of its box and its centre; a
 * ring's centre is a hole; a cross covers its centre but not its box corners. */
TEST(shapes_look_right) {
    static float img[3 * P];
    static uint8_t mask[P];
    gc_shapes_info in;
    int checked[GC_SHAPES_CLASSES] = {0};
    for (uint64_t i = 0; i < 60; i++) {
        CHECK_OK(gc_shapes_generate(11, i, 1, H, W, img, mask, &in));
        const gc_box *b = &in.box[0];
        int area = 0, cx = (b->x0 + b->x1) / 2, cy = (b->y0 + b->y1) / 2;
        for (int k = 0; k < P; k++) area += mask[k] == 1;
        double fill = (double)area / ((b->x1 - b->x0 + 1) * (b->y1 - b->y0 + 1));
        int centre = mask[cy * W + cx], corner = mask[b->y0 * W + b->x0];
        switch (in.label[0]) {
        case GC_SHAPES_DISC: CHECK(fill > 0.70 && fill < 0.86); CHECK(centre); break;
        case GC_SHAPES_RING: CHECK(fill > 0.50 && fill < 0.72); CHECK(!centre); break;
        case GC_SHAPES_CROSS: CHECK(centre); CHECK(fill < 0.80); break;
        case GC_SHAPES_STAR: CHECK(centre); CHECK(fill < 0.53); CHECK(!corner); break;
        case GC_SHAPES_TRIANGLE: CHECK(centre); CHECK(fill < 0.62); break;
        case GC_SHAPES_SQUARE: CHECK(centre); CHECK(fill > 0.45); break;
        }
        checked[in.label[0]]++;
    }
    for (int k = 0; k < GC_SHAPES_CLASSES; k++) CHECK(checked[k] == 10);
    CHECK(strcmp(gc_shapes_class_name(GC_SHAPES_STAR), "star") == 0);
    CHECK(gc_shapes_class_name(6) == NULL && gc_shapes_class_name(-1) == NULL);
}

TEST(refusals) {
    static float img[3 * P];
    gc_shapes_info in;
    CHECK_FAILS(gc_shapes_generate(1, 0, 3, H, W, img, NULL, &in), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_shapes_generate(1, 0, -1, H, W, img, NULL, &in), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_shapes_generate(1, 0, 1, 8, W, img, NULL, &in), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_shapes_generate(1, 0, 1, H, 5000, img, NULL, &in), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_shapes_generate(1, 0, 1, H, W, NULL, NULL, &in), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_shapes_generate(1, 0, 1, H, W, img, NULL, NULL), GC_ERR_INVALID_ARGUMENT);
}

int main(void) {
    RUN(deterministic_per_seed_and_index);
    RUN(values_are_8bit_levels);
    RUN(boxes_hold_the_object_pixels);
    RUN(class_balance);
    RUN(shapes_look_right);
    RUN(refusals);
    return test_summary("shapes");
}
