/* conv_depthwise_avx2.c - the depthwise plane kernel built with AVX2 flags (conv_depthwise_tx.h),
 * and the 8-channel kernel for small planes (gc_dw_chan8_avx2). */
#define DW_TX_NAME gc_dw_plane_avx2
#define DW_TX_CHAN8_NAME gc_dw_chan8_avx2
#include "kernels/conv_depthwise_tx.h"
