/* activation_avx512.c - the activation kernels of activation_tx.h built with avx512 flags. */
#define ACT_SFX avx512
#include "kernels/activation_tx.h"
