/* activation.c - the activation kernels of activation_tx.h built for any x86-64 (or other) CPU. */
#define ACT_SFX portable
#include "kernels/activation_tx.h"
