/* activation_avx2.c - the activation kernels of activation_tx.h built with avx2 flags. */
#define ACT_SFX avx2
#include "kernels/activation_tx.h"
