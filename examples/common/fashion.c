/* fashion.c - Fashion-MNIST for the example programs (see fashion.h). */
#include "fashion.h"
#include "cli.h"
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const fashion_class_names[FASHION_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

enum { S = FASHION_SIDE };

uint64_t fashion_mix(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in 0..n-1 (n small: the modulo bias is below 2^-50). */
static int64_t below(uint64_t *st, int64_t n) { return (int64_t)(fashion_mix(st) % (uint64_t)n); }

void fashion_release(fashion_set *s) {
    if (!s) return;
    gc_idx_release(&s->img);
    gc_idx_release(&s->lab);
    memset(s, 0, sizeof *s);
}

int fashion_load(const char *prog, const char *dir, int train, fashion_set *s) {
    memset(s, 0, sizeof *s);
    char ip[4096], lp[4096], q[256];
    snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", dir, train ? "train" : "t10k");
    snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", dir, train ? "train" : "t10k");
    if (gc_idx_load(ip, 0, &s->img) || gc_idx_load(lp, 0, &s->lab)) {
        cli_error(prog, "%s (the data set: apt-get install dataset-fashion-mnist)", gc_last_error());
        fashion_release(s);
        return 0;
    }
    if (s->img.ndim != 3 || s->img.dims[1] != S || s->img.dims[2] != S || s->lab.ndim != 1 ||
        s->lab.dims[0] != s->img.dims[0]) {
        cli_error(prog, "%s: expected n x 28 x 28 images and n labels", cli_q(q, sizeof q, dir));
        fashion_release(s);
        return 0;
    }
    for (int64_t i = 0; i < s->lab.count; i++)
        if (s->lab.data[i] >= FASHION_CLASSES) {
            cli_error(prog, "%s: label %d of image %lld is not a class 0..9", cli_q(q, sizeof q, lp), s->lab.data[i],
                      (long long)i);
            fashion_release(s);
            return 0;
        }
    s->n = s->img.dims[0];
    s->pixels = s->img.data;
    s->labels = s->lab.data;
    return 1;
}

void fashion_to_input(const uint8_t *img, float *x) {
    for (int p = 0; p < S * S; p++) {
        volatile float v = (float)img[p]; /* step by step, as gc_image_preprocess does */
        v = v / 255.0f;
        x[p] = x[S * S + p] = x[2 * S * S + p] = (v - 0.0f) / FASHION_STD;
    }
}

void fashion_batch(const fashion_set *s, const int64_t *idx, int n, int shift, int flip, uint64_t seed,
                   uint64_t step, float *x, int *y) {
    uint8_t tmp[S * S];
    for (int i = 0; i < n; i++) {
        const uint8_t *src = s->pixels + idx[i] * S * S;
        uint64_t st = seed * 0x2545F4914F6CDD1Dull ^ (step * 0x100000001B3ull + (uint64_t)i);
        fashion_mix(&st);
        int dx = shift > 0 ? (int)below(&st, 2 * shift + 1) - shift : 0;
        int dy = shift > 0 ? (int)below(&st, 2 * shift + 1) - shift : 0;
        int fl = flip && (fashion_mix(&st) >> 63);
        for (int r = 0; r < S; r++)
            for (int c = 0; c < S; c++) {
                int sr = r - dy, sc = c - dx;
                if (fl) sc = S - 1 - sc;
                tmp[r * S + c] = sr >= 0 && sr < S && sc >= 0 && sc < S ? src[sr * S + sc] : 0;
            }
        fashion_to_input(tmp, x + (size_t)i * 3 * S * S);
        y[i] = s->labels[idx[i]];
    }
}

void fashion_permutation(int64_t n, uint64_t seed, uint64_t epoch, int64_t *perm) {
    uint64_t st = seed ^ (0xD1B54A32D192ED03ull * (epoch + 1));
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = below(&st, i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* Tight box of the non-zero pixels of a 28 x 28 item placed at (x, y). */
static gc_box item_box(const uint8_t *img, int x, int y) {
    gc_box b = {S, S, -1, -1, 0};
    for (int r = 0; r < S; r++)
        for (int c = 0; c < S; c++)
            if (img[r * S + c]) {
                if (c < b.x0) b.x0 = c;
                if (c > b.x1) b.x1 = c;
                if (r < b.y0) b.y0 = r;
                if (r > b.y1) b.y1 = r;
                b.area++;
            }
    if (b.area == 0) return (gc_box){x, y, x + S - 1, y + S - 1, 0};
    b.x0 += x; b.x1 += x; b.y0 += y; b.y1 += y;
    return b;
}

void clutter_canvas(const fashion_set *s, const clutter_params *p, uint64_t seed, uint64_t index, int64_t target,
                    uint8_t *canvas, gc_box *box) {
    const int W = p->side, F = p->frag;
    uint64_t st = seed * 0x9E3779B97F4A7C15ull + index * 0xBF58476D1CE4E5B9ull + 7;
    fashion_mix(&st);
    memset(canvas, 0, (size_t)W * W);
    const uint8_t *item = s->pixels + target * S * S;
    int tx = (int)below(&st, W - S + 1), ty = (int)below(&st, W - S + 1);
    for (int r = 0; r < S; r++) memcpy(canvas + (size_t)(ty + r) * W + tx, item + r * S, S);
    *box = item_box(item, tx, ty);
    int placed = 0;
    for (int tries = 0; placed < p->n_clutter && tries < 50 * p->n_clutter; tries++) {
        int64_t other = below(&st, s->n);
        int fx = (int)below(&st, W - F + 1), fy = (int)below(&st, W - F + 1);
        int sx = 4 + (int)below(&st, S - F - 7), sy = 4 + (int)below(&st, S - F - 7); /* inside the item */
        if (s->labels[other] == s->labels[target]) continue;
        /* a gap of 2 pixels from the target's box */
        if (fx + F + 2 > box->x0 && fx < box->x1 + 3 && fy + F + 2 > box->y0 && fy < box->y1 + 3) continue;
        const uint8_t *o = s->pixels + other * S * S;
        int ink = 0;
        for (int r = 0; r < F; r++)
            for (int c = 0; c < F; c++) ink += o[(sy + r) * S + sx + c] > 32;
        if (ink < F * F / 3) continue; /* mostly background: not clutter */
        for (int r = 0; r < F; r++)
            for (int c = 0; c < F; c++) {
                uint8_t v = o[(sy + r) * S + sx + c], *d = canvas + (size_t)(fy + r) * W + fx + c;
                if (v > *d) *d = v;
            }
        placed++;
    }
}

/* ---- The network and its training ---------------------------------------------------------- */

static float uniform_pm(uint64_t *st, float b) {
    return ((float)(fashion_mix(st) >> 40) / 16777216.0f * 2.0f - 1.0f) * b;
}

gc_status fashion_build(int width, uint64_t seed, gc_model **out) {
    gc_model *m;
    *out = NULL;
    gc_status st = gc_model_create(&m);
    if (st) return st;
    uint64_t rs = seed * 0x2545F4914F6CDD1Dull + 1;
    const int ch[7] = {3, width, width, 2 * width, 2 * width, 4 * width, 4 * width};
    char name[32];
    int idx = 0;
    gc_pool2d_params pool = gc_pool2d_defaults(2);
    for (int l = 0; l < 6 && !st; l++) {
        gc_conv2d_params cp = gc_conv2d_defaults(ch[l], ch[l + 1], 3);
        cp.pad_h = cp.pad_w = 1;
        cp.bias = 0;
        int64_t n = (int64_t)ch[l + 1] * ch[l] * 9;
        float *w = malloc((size_t)n * sizeof(float));
        if (!w) { st = GC_ERR_OUT_OF_MEMORY; break; }
        for (int64_t i = 0; i < n; i++) w[i] = uniform_pm(&rs, sqrtf(6.0f / (float)(ch[l] * 9)));
        snprintf(name, sizeof name, "features.%d", idx++);
        st = gc_model_add_conv2d(m, name, NULL, &cp, w, NULL);
        free(w);
        snprintf(name, sizeof name, "features.%d", idx++);
        if (!st) st = gc_model_add_relu(m, name, NULL);
        if (!st && (l == 1 || l == 3)) {
            snprintf(name, sizeof name, "features.%d", idx++);
            st = gc_model_add_maxpool2d(m, name, NULL, &pool);
        }
    }
    gc_adaptive_pool2d_params ap = {1, 1};
    gc_linear_params fc = {4 * width, FASHION_CLASSES, 0};
    float *w = malloc((size_t)fc.in_features * FASHION_CLASSES * sizeof(float));
    if (!w && !st) st = GC_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; w && i < fc.in_features * FASHION_CLASSES; i++)
        w[i] = uniform_pm(&rs, 1.0f / sqrtf((float)fc.in_features));
    if (!st) st = gc_model_add_adaptive_avgpool2d(m, "avgpool", NULL, &ap);
    if (!st) st = gc_model_add_flatten(m, "flatten", NULL);
    if (!st) st = gc_model_add_linear(m, "classifier.0", NULL, &fc, w, NULL);
    free(w);
    if (!st) st = gc_model_set_labels(m, FASHION_CLASSES, fashion_class_names);
    gc_preprocess pre = {S, S, 0, GC_COLOR_RGB, 1.0f / 255.0f, {0, 0, 0}, {FASHION_STD, FASHION_STD, FASHION_STD}};
    if (!st) st = gc_model_set_preprocess(m, &pre);
    if (st) { gc_model_free(m); return st; }
    *out = m;
    return GC_OK;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int argmax10(const float *v) {
    int b = 0;
    for (int i = 1; i < FASHION_CLASSES; i++) if (v[i] > v[b]) b = i;
    return b;
}

int fashion_accuracy(const char *prog, const gc_model *m, const fashion_set *s, int64_t n, fashion_batch_hook hook,
                     void *ctx, double *acc) {
    enum { B = 100 };
    if (n <= 0 || n > s->n) n = s->n;
    gc_session *ses = NULL;
    gc_session_config cfg = {.batch = B, .channels = 3, .height = S, .width = S};
    float *x = malloc((size_t)B * 3 * S * S * sizeof(float));
    int y[B], right = 0, ok = 0;
    int64_t idx[B];
    gc_tensor out;
    if (!x) { cli_error(prog, "out of memory"); return 0; }
    if (gc_session_create(m, &cfg, &ses)) goto fail;
    for (int64_t i = 0; i < n; i += B) {
        int k = n - i < B ? (int)(n - i) : B;
        for (int j = 0; j < B; j++) idx[j] = i + (j < k ? j : 0);
        fashion_batch(s, idx, B, 0, 0, 0, 0, x, y);
        if (hook) hook(ctx, x, y, B, (uint64_t)(i / B));
        if (gc_session_forward(ses, x) || gc_session_output(ses, &out)) goto fail;
        for (int j = 0; j < k; j++) right += argmax10(out.data + j * FASHION_CLASSES) == y[j];
    }
    *acc = (double)right / (double)n;
    ok = 1;
fail:
    if (!ok) cli_error(prog, "%s", gc_last_error());
    gc_session_free(ses);
    free(x);
    return ok;
}

int fashion_train(const char *prog, const fashion_set *s, const fashion_train_opts *o, gc_model **out) {
    *out = NULL;
    const int B = o->batch;
    const int64_t n = o->subset > 0 && o->subset < s->n ? o->subset : s->n;
    const int steps = (int)(n / B), total = steps * o->epochs;
    gc_model *m = NULL;
    gc_session *ses = NULL;
    gc_sgd *opt = NULL;
    float *x = malloc((size_t)B * 3 * S * S * sizeof(float)), *g = malloc((size_t)B * FASHION_CLASSES * sizeof(float));
    int *y = malloc((size_t)B * sizeof(int));
    int64_t *perm = malloc((size_t)n * sizeof(int64_t));
    int ok = 0;
    gc_tensor logits;
    if (!x || !g || !y || !perm) { cli_error(prog, "out of memory"); goto done; }
    if (steps < 1) { cli_error(prog, "%lld training images are fewer than a batch of %d", (long long)n, B); goto done; }
    gc_session_config cfg = {.batch = B, .channels = 3, .height = S, .width = S, .param_grads = 1};
    gc_sgd_params sp = {o->lr, 0.9f, o->weight_decay, 0};
    if (fashion_build(o->width, o->seed, &m) || gc_session_create(m, &cfg, &ses) || gc_sgd_create(m, &sp, &opt)) {
        cli_error(prog, "%s", gc_last_error());
        goto done;
    }
    if (!o->quiet)
        printf("%s: %lld parameters (width %d), %lld training images, batch %d, %d epochs, lr %g, shift %d, flip %d, "
               "seed %llu\n", prog, (long long)gc_model_param_count(m), o->width, (long long)n, B, o->epochs,
               (double)o->lr, o->shift, o->flip, (unsigned long long)o->seed);
    gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 1};
    double t_all = now_s();
    for (int e = 0; e < o->epochs; e++) {
        double t0 = now_s(), loss_sum = 0;
        int right = 0;
        fashion_permutation(n, o->seed, (uint64_t)e, perm);
        for (int it = 0; it < steps; it++) {
            int step = e * steps + it;
            float lr = o->lr * 0.5f * (1.0f + cosf(3.14159265f * (float)step / (float)total));
            if (step < steps / 2) lr *= (float)(step + 1) / (float)(steps / 2);
            fashion_batch(s, perm + (int64_t)it * B, B, o->shift, o->flip, o->seed, (uint64_t)step, x, y);
            if (o->hook) o->hook(o->hook_ctx, x, y, B, (uint64_t)step);
            float loss;
            if (gc_sgd_set_lr(opt, lr > 1e-6f ? lr : 1e-6f) || gc_session_forward(ses, x) ||
                gc_session_output(ses, &logits) ||
                gc_loss_softmax_xent(logits.data, B, FASHION_CLASSES, y, &loss, g) || gc_session_backward(ses, g, &bo) ||
                gc_sgd_step(opt, ses)) {
                cli_error(prog, "step %d: %s", step, gc_last_error());
                goto done;
            }
            if (!isfinite(loss)) {
                cli_error(prog, "step %d: the loss is %g: training diverged (try a smaller --lr)", step, (double)loss);
                goto done;
            }
            for (int i = 0; i < B; i++) right += argmax10(logits.data + i * FASHION_CLASSES) == y[i];
            loss_sum += loss;
            if (!o->quiet && (it % 50 == 49 || it == steps - 1)) {
                cli_progress(prog, "epoch %d: step %d/%d, loss %.4f", e + 1, it + 1, steps, loss_sum / (it + 1));
                fflush(stderr);
            }
        }
        double t_train = now_s() - t0, acc = -1;
        if (o->test && o->eval_every > 0 && ((e + 1) % o->eval_every == 0 || e + 1 == o->epochs))
            if (!fashion_accuracy(prog, m, o->test, 0, NULL, NULL, &acc)) goto done;
        if (!o->quiet) {
            cli_progress_end();
            printf("epoch %d/%d: loss %.4f, train acc %.2f%%", e + 1, o->epochs, loss_sum / steps,
                   100.0 * right / ((double)steps * B));
            if (acc >= 0) printf(", test acc %.2f%%", 100 * acc);
            printf("  (%.1f s train, %.1f s total)\n", t_train, now_s() - t_all);
            fflush(stdout);
        }
    }
    *out = m;
    m = NULL;
    ok = 1;
done:
    gc_session_free(ses);
    gc_sgd_free(opt);
    gc_model_free(m);
    free(x); free(g); free(y); free(perm);
    return ok;
}

/* ---- Figures ------------------------------------------------------------------------------- */

gc_status fashion_input_image(const float *x, int h, int w, gc_image *out) {
    gc_status st = gc_image_alloc(out, w, h, 1, 8);
    if (st) return st;
    uint8_t *p = out->data;
    for (int i = 0; i < h * w; i++) {
        float v = x[i] * FASHION_STD * 255.0f + 0.5f;
        p[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    return GC_OK;
}

int fashion_grid(const char *prog, const gc_image *panels, const char *const *titles, int rows, int cols, int ph,
                const char *caption, const char *path) {
    const int gap = 6, ts = 1, th = GC_FONT_HEIGHT * ts + 6, ch = caption ? GC_FONT_HEIGHT * ts + 8 : 0;
    if (rows < 1 || cols < 1 || cols > 16 || rows > 256) {
        cli_error(prog, "fashion_grid: %d x %d panels (1..256 x 1..16)", rows, cols);
        return 0;
    }
    int pw[16], W = gap;
    for (int k = 0; k < cols; k++) { /* column widths from the first row */
        pw[k] = (int)((int64_t)panels[k].width * ph / panels[k].height);
        W += pw[k] + gap;
    }
    const int rh = th + ph + gap;
    gc_image fig;
    if (gc_image_alloc(&fig, W, rows * rh + ch + gap, 3, 8)) { cli_error(prog, "%s", gc_last_error()); return 0; }
    memset(fig.data, 255, (size_t)fig.width * fig.height * 3);
    uint8_t *F = fig.data;
    const uint8_t black[3] = {0, 0, 0};
    int ok = 1;
    for (int r = 0; r < rows && ok; r++) {
        int x0 = gap, y0 = r * rh;
        for (int k = 0; k < cols && ok; k++) {
            const gc_image *p = &panels[r * cols + k];
            const uint8_t *s = p->data;
            for (int y = 0; y < ph; y++)
                for (int x = 0; x < pw[k]; x++) {
                    int sy = (int)((int64_t)y * p->height / ph), sx = (int)((int64_t)x * p->width / pw[k]);
                    uint8_t *d = F + ((size_t)(y0 + th + y) * W + x0 + x) * 3;
                    const uint8_t *q = s + ((size_t)sy * p->width + sx) * (size_t)p->channels;
                    d[0] = q[0];
                    d[1] = p->channels >= 3 ? q[1] : q[0];
                    d[2] = p->channels >= 3 ? q[2] : q[0];
                }
            ok = !gc_image_draw_text(&fig, x0, y0 + 2, titles[r * cols + k], ts, black);
            x0 += pw[k] + gap;
        }
    }
    if (ok && caption) ok = !gc_image_draw_text(&fig, gap, rows * rh + 4, caption, ts, black);
    if (ok) ok = !gc_image_save_png(&fig, path);
    if (!ok) cli_error(prog, "%s", gc_last_error());
    gc_image_release(&fig);
    return ok;
}

int fashion_figure(const char *prog, const gc_image *panels, const char *const *titles, int n, int ph,
                   const char *caption, const char *path) {
    return fashion_grid(prog, panels, titles, 1, n, ph, caption, path);
}
