/* Fused per-step gate math of the `custom` backend on CPU (seqmodels/kernels/loader.py), and the fused
 * softmax cross-entropy of the training losses (cross_entropy_impl.h) and the hashed dropout (dropout_impl.h).
 *
 * One call replaces the 5-8 separate ATen ops of a recurrence step: the step's tiles stay in cache and
 * the sigmoid/tanh loops vectorise (gcc -O3 -ffast-math turns expf/expm1f/tanh into glibc's libmvec calls).
 * Plain C on raw row-major buffers; the caller (Python, ctypes) checks devices, dtypes and layouts.
 * The kernels are written once in recurrences_impl.h and instantiated here for float and double.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h> /* aligned_alloc, free */
#include <string.h>

/* Rows are split over OpenMP threads (torch's own pool: the library links libgomp.so.1, which torch has
 * already loaded) from this many elements per step on; below it a parallel region costs more than it
 * saves. Without -fopenmp the pragma is ignored and every call runs on the calling thread. */
#define PARALLEL_MIN_ELEMENTS 8192
#define PARALLEL_ROWS _Pragma("omp parallel for if (B * H >= PARALLEL_MIN_ELEMENTS) schedule(static)")
/* The time loops pack their recurrent weight for MKL from this many batch rows on (see weight_open). */
#define PACK_MIN_ROWS 32

/* float: tanh(x) = expm1(2x) / (expm1(2x) + 2) with x clamped to ±9 (tanh(9) rounds to 1 in float),
 * sigmoid(x) = 1 / (1 + exp(-x)) */
static inline float tanh_f32(float x) {
    x = x < -9.0f ? -9.0f : (x > 9.0f ? 9.0f : x);
    float e = expm1f(2.0f * x);
    return e / (e + 2.0f);
}
/* Chris Wellons' "lowbias32" 32-bit integer hash (a bijection; dropout masks in dropout_impl.h) */
static inline uint32_t lowbias32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

#define T float
#define NAME(name) name##_f32
#define TANH tanh_f32
#define SIGMOID(x) (1.0f / (1.0f + expf(-(x))))
#define EXP expf
#define LOG logf
#include "recurrences_impl.h"
#include "cross_entropy_impl.h"
#include "dropout_impl.h"
#undef T
#undef NAME
#undef TANH
#undef SIGMOID
#undef EXP
#undef LOG

#define T double
#define NAME(name) name##_f64
#define TANH tanh
#define SIGMOID(x) (0.5 * tanh(0.5 * (x)) + 0.5)
#define EXP exp
#define LOG log
#include "recurrences_impl.h"
#include "cross_entropy_impl.h"
#include "dropout_impl.h"
