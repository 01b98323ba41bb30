/* winograd_avx512.c - the Winograd transforms built with AVX512 flags (see winograd_tx.h). */
#define WG_TX_NAME gc_wg_tx_avx512
#include "kernels/winograd_tx.h"
