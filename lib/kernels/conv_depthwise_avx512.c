/* conv_depthwise_avx512.c - the depthwise plane kernel built with AVX-512 flags (conv_depthwise_tx.h). */
#define DW_TX_NAME gc_dw_plane_avx512
#define DW_TX_FLAT_NAME gc_dw_flat_avx512
#include "kernels/conv_depthwise_tx.h"
