/* libFuzzer harness: the .gcw reader from memory; what opens must save and
 * reopen, and plan a small session if its input size is small. */
#include "gradcam.h"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_model *m = NULL, *again = NULL;
    if (gc_model_open_memory(data, size, &m) != GC_OK) return 0;
    void *buf;
    size_t len;
    if (gc_model_save_memory(m, &buf, &len) == GC_OK) {
        if (gc_model_open_memory(buf, len, &again) != GC_OK) abort(); /* we must read what we write */
        gc_model_free(again);
        gc_model_buffer_free(buf);
    }
    const gc_preprocess *p = gc_model_preprocess(m);
    if (p->input_height <= 64 && p->input_width <= 64 && gc_model_param_count(m) < (1 << 20)) {
        gc_session *s = NULL;
        gc_session_config cfg = {.batch = 1, .channels = 3, .height = p->input_height, .width = p->input_width,
                                 .max_bytes = (size_t)256 << 20};
        if (gc_session_create(m, &cfg, &s) == GC_OK) gc_session_free(s);
    }
    gc_model_free(m);
    return 0;
}
