/* Dropout whose mask is a hash of (seed, element index): no random-number stream to draw from and no mask
 * to store, for one element type T (NAME(x) appends the type's suffix; included by recurrences.c for float
 * and double).
 *
 * Element i of a call with key (k0, k1) is dropped when
 *
 *   h_i = mix(mix((i mod 2^32) ^ k0) + k1 ^ (i div 2^32)) < threshold,      threshold = round(p * 2^32)
 *
 * with mix Wellons' "lowbias32" integer hash (a bijection of 32-bit words with near-ideal avalanche), and
 * kept elements are scaled by 1/(1-p). The forward applies this to the input and the backward, with the same
 * key, to the incoming gradient: y_i = keep_i * x_i / (1-p), dL/dx_i = keep_i * dL/dy_i / (1-p). Both are
 * one streaming pass of a few integer operations per element, which gcc vectorises; torch's CPU dropout
 * instead draws an (N,) tensor of Bernoulli samples (~7 ns an element), divides it and multiplies twice. */

/* out[i] = keep_i ? x[i] * scale : 0 for i in [0, n); x and out contiguous (out may be x). */
void NAME(dropout_apply)(long n, const T *x, T *out, long key0, long key1, long threshold, T scale) {
    const uint32_t k0 = (uint32_t)key0, k1 = (uint32_t)key1, below = (uint32_t)threshold;
    const long block = 1L << 16;
    const long blocks = (n + block - 1) / block;
#pragma omp parallel for if (n >= 65536) schedule(static)
    for (long b = 0; b < blocks; ++b) {
        const long start = b * block, stop = start + block < n ? start + block : n;
        const uint32_t high = k1 ^ (uint32_t)((uint64_t)start >> 32); /* a block never crosses 2^32 */
        for (long i = start; i < stop; ++i) {
            uint32_t h = lowbias32((uint32_t)i ^ k0);
            h = lowbias32(h + high);
            out[i] = h >= below ? x[i] * scale : (T)0;
        }
    }
}
