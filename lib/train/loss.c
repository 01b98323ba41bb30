/* loss.c - softmax cross-entropy over a batch of logits. */
#include "core/core.h"
#include <math.h>

/* loss = mean_n [logsumexp(z_n) - z_n[y_n]];  dz = (softmax(z_n) - onehot(y_n)) / N */
gc_status gc_loss_softmax_xent(const float *logits, int64_t batch, int64_t classes,
                               const int *labels, float *loss, float *grad) {
    if (!logits || !labels)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_loss_softmax_xent: logits or labels is NULL");
    if (batch < 1 || classes < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_loss_softmax_xent: batch %lld and classes %lld must be >= 1",
                        (long long)batch, (long long)classes);
    int64_t total;
    if (gc_mul_i64(batch, classes, &total))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_loss_softmax_xent: batch x classes overflows");
    for (int64_t n = 0; n < batch; n++)
        if (labels[n] < 0 || labels[n] >= classes)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_loss_softmax_xent: label %d of row %lld outside 0..%lld",
                            labels[n], (long long)n, (long long)classes - 1);
    double sum = 0;
    for (int64_t n = 0; n < batch; n++) {
        const float *z = logits + n * classes;  /* (classes) */
        double mx = z[0], se = 0;
        for (int64_t k = 1; k < classes; k++) if (z[k] > mx) mx = z[k];
        for (int64_t k = 0; k < classes; k++) se += exp((double)z[k] - mx);
        double lse = mx + log(se);
        sum += lse - (double)z[labels[n]];
        if (grad) {
            float *g = grad + n * classes;      /* (classes), may alias z */
            for (int64_t k = 0; k < classes; k++) {
                double p = exp((double)z[k] - lse);
                g[k] = (float)((p - (k == labels[n])) / (double)batch);
            }
        }
    }
    if (loss) *loss = (float)(sum / (double)batch);
    return GC_OK;
}
