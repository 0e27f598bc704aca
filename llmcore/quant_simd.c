/*
 * quant_simd.c - compiles quant_simd.inc once per SIMD level, each under its
 * own target pragma, so the binary runs on any x86-64 and llm_quant_init()
 * picks the level the CPU supports.  No -march flags: the only place SIMD
 * instructions are enabled is here.  Stateless; any thread.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "llmcore/quant.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#define SFX avx2
#define SIMD_VNNI 0
#define TILE_R 2
#define TILE_C 4
#define DEC_R 4
#include "llmcore/quant_simd.inc"
#undef SFX
#undef SIMD_VNNI
#undef TILE_R
#undef TILE_C
#undef DEC_R
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512dq,avx512vnni")
#define SFX avx512
#define SIMD_VNNI 1
#define TILE_R 4
#define TILE_C 4
#define DEC_R 4
#include "llmcore/quant_simd.inc"
#undef SFX
#undef SIMD_VNNI
#undef TILE_R
#undef TILE_C
#undef DEC_R
#pragma GCC pop_options
