/* winograd_avx2.c - the Winograd transforms built with AVX2 flags (see winograd_tx.h). */
#define WG_TX_NAME gc_wg_tx_avx2
#include "kernels/winograd_tx.h"
