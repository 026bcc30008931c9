/* Fused per-step gate math of the `custom` backend on CPU (seqmodels/functional/native.py).
 *
 * One call replaces the 5-8 separate ATen ops of a recurrence step: the step's tiles stay in cache and
 * the sigmoid/tanh loops vectorise (gcc -O3 -ffast-math turns tanhf into glibc's libmvec calls).
 * Plain C on raw row-major buffers; the caller (Python, ctypes) checks devices, dtypes and layouts.
 * The kernels are written once in pointwise_impl.h and instantiated here for float and double.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

/* Rows are split over OpenMP threads (torch's own pool: the library links libgomp.so.1, which torch has
 * already loaded) from this many elements per step on; below it a parallel region costs more than it
 * saves. Without -fopenmp the pragma is ignored and every call runs on the calling thread. */
#define PARALLEL_MIN_ELEMENTS 8192
#define PARALLEL_ROWS _Pragma("omp parallel for if (B * H >= PARALLEL_MIN_ELEMENTS) schedule(static)")

#define T float
#define NAME(name) name##_f32
#define TANH tanhf
#include "pointwise_impl.h"
#undef T
#undef NAME
#undef TANH

#define T double
#define NAME(name) name##_f64
#define TANH tanh
#include "pointwise_impl.h"
