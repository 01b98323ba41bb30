/* conv_accurate_avx512.c - the accurate convolution's tile kernels and Winograd transforms built with AVX-512 flags
 * (see conv_accurate_tx.h); called only after dispatch. */
#include "kernels/conv_accurate_internal.h"
/* The products of two floats are exact in double, so a fused multiply-add rounds exactly as the
 * multiply-then-add of the portable build: contracting changes no bit and halves the operations. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif
#define ACC_TILE gc_aconv_tile_avx512
#define ACC_SUMS gc_aconv_sums_avx512
#define ACC_VL 8
#define ACC_MR 8
#define ACC_VEC acc_vec_avx512
#include "kernels/conv_accurate_tx.h"
#define AW_TX_NAME gc_aw_tx_avx512
#include "kernels/conv_accurate_wino_tx.h"
