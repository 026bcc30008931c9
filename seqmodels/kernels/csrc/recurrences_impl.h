/* The kernels of recurrences.c for one element type T (NAME(x) appends the type's suffix; TANH and SIGMOID
 * are the type's tanh and logistic sigmoid, defined in recurrences.c).
 *
 * Shapes: B rows (batch), H hidden units. "gates" rows hold G*H values (LSTM [i f g o], GRU [r z n]);
 * every other (B, H) buffer is contiguous unless a row stride is passed.
 *
 * Each step function splits its rows over threads and hands every row to a *_row function whose
 * pointers are `restrict` parameters: that is what lets the compiler vectorise the inner loop (inside an
 * OpenMP region, pointers shared from the enclosing function lose their `restrict`).
 */

static inline T NAME(sigmoid)(T x) { return SIGMOID(x); }

/* Fortran-interface BLAS functions (sizes passed by address; see gemm_rows): ?gemm_, and MKL's packed GEMM
 * ?GEMM_PACK_GET_SIZE / ?GEMM_PACK / ?GEMM_COMPUTE. */
typedef void (*NAME(gemm_fn))(const char *transa, const char *transb, const void *m, const void *n, const void *k,
                              const T *alpha, const T *a, const void *lda, const T *b, const void *ldb,
                              const T *beta, T *c, const void *ldc);
typedef size_t (*NAME(pack_size_fn))(const char *identifier, const void *m, const void *n, const void *k);
typedef void (*NAME(pack_fn))(const char *identifier, const char *trans, const void *m, const void *n, const void *k,
                              const T *alpha, const T *src, const void *ld, T *dest);
typedef void (*NAME(compute_fn))(const char *transa, const char *transb, const void *m, const void *n,
                                 const void *k, const T *a, const void *lda, const T *b, const void *ldb,
                                 const T *beta, T *c, const void *ldc);

/* ------------------------------------------------------------------------------------------- LSTM */

/* Forward of one row: [i f g o] pre-activations (X W_ihᵀ + W_hh h_{t-1}, plus bias = b_ih + b_hh here)
 * activated in place; c = f c_prev + i g,  tc = tanh c,  h = o tc. */
static inline void NAME(lstm_fwd_row)(long H, T *restrict gi, T *restrict gf, T *restrict gg, T *restrict go,
                                      const T *restrict bias, const T *restrict c_prev, T *restrict c,
                                      T *restrict tc, T *restrict h) {
    for (long j = 0; j < H; ++j) {
        T i = NAME(sigmoid)(gi[j] + bias[j]), f = NAME(sigmoid)(gf[j] + bias[H + j]);
        T g = TANH(gg[j] + bias[2 * H + j]), o = NAME(sigmoid)(go[j] + bias[3 * H + j]);
        T cv = f * c_prev[j] + i * g;
        T t = TANH(cv);
        gi[j] = i; gf[j] = f; gg[j] = g; go[j] = o;
        c[j] = cv; tc[j] = t; h[j] = o * t;
    }
}

/* Backward of one row. In: activated [i f g o], tc = tanh c_t, c_prev, d = dL/dh_t; dc holds dL/dc_t from
 * later steps and leaves as dL/dc_{t-1} = dc_t f. Out: the gate pre-activation gradients
 *   dc_t = dc + d o (1 - tc²);  [Di Df Dg Do] = [dc_t g i(1-i), dc_t c_prev f(1-f), dc_t i (1-g²), d tc o(1-o)]. */
static inline void NAME(lstm_bwd_row)(long H, const T *restrict gi, const T *restrict gf, const T *restrict gg,
                                      const T *restrict go, const T *restrict tc, const T *restrict c_prev,
                                      const T *restrict dh, const T *restrict dy, T *restrict dc,
                                      T *restrict Di, T *restrict Df, T *restrict Dg, T *restrict Do) {
    for (long j = 0; j < H; ++j) {
        T i = gi[j], f = gf[j], g = gg[j], o = go[j], t = tc[j], d = dh[j] + dy[j];
        T dcv = dc[j] + d * o * ((T)1 - t * t);
        Di[j] = dcv * g * i * ((T)1 - i);
        Df[j] = dcv * c_prev[j] * f * ((T)1 - f);
        Dg[j] = dcv * i * ((T)1 - g * g);
        Do[j] = d * t * o * ((T)1 - o);
        dc[j] = dcv * f;
    }
}

/* gates (B, 4H): pre-activations without bias in, [i f g o] out; bias (4H); c_prev rows cps apart;
 * c, tc, h (B, H). */
void NAME(lstm_fwd)(long B, long H, T *gates, const T *bias, const T *c_prev, long cps, T *c, T *tc, T *h) {
    PARALLEL_ROWS
    for (long b = 0; b < B; ++b) {
        T *g = gates + b * 4 * H;
        NAME(lstm_fwd_row)(H, g, g + H, g + 2 * H, g + 3 * H, bias, c_prev + b * cps, c + b * H, tc + b * H,
                           h + b * H);
    }
}

/* dh = W_hhᵀ-part of dL/dh_t (B, H) and dy = dL/d out_t, rows dys apart (0: one row of zeros for every b),
 * summed here so that the caller's per-step GEMM needs no addend; dc in/out; D (B, 4H) out. c_prev rows
 * cps apart. */
void NAME(lstm_bwd)(long B, long H, const T *gates, const T *tc, const T *c_prev, long cps, const T *dh,
                    const T *dy, long dys, T *dc, T *D) {
    PARALLEL_ROWS
    for (long b = 0; b < B; ++b) {
        const T *g = gates + b * 4 * H;
        T *d = D + b * 4 * H;
        NAME(lstm_bwd_row)(H, g, g + H, g + 2 * H, g + 3 * H, tc + b * H, c_prev + b * cps, dh + b * H,
                           dy + b * dys, dc + b * H, d, d + H, d + 2 * H, d + 3 * H);
    }
}

/* Unequal lengths (mask[b] = 0 once row b's sequence has ended): a padded row keeps its state
 * (h_out = h_in, c_out = c_in), outputs zero and has zero gate values. States live in their own
 * (T+1, B, H) buffers: *_in enter step t, *_out leave it. */
void NAME(lstm_fwd_masked)(long B, long H, T *gates, const T *bias, const T *c_in, const T *h_in, T *c_out,
                           T *h_out, T *tc, T *out, const unsigned char *mask) {
    PARALLEL_ROWS
    for (long b = 0; b < B; ++b) {
        T *g = gates + b * 4 * H, *ob = out + b * H, *hb = h_out + b * H, *cb = c_out + b * H, *tb = tc + b * H;
        const T *hp = h_in + b * H, *cp = c_in + b * H;
        if (mask[b]) {
            NAME(lstm_fwd_row)(H, g, g + H, g + 2 * H, g + 3 * H, bias, cp, cb, tb, ob);
            for (long j = 0; j < H; ++j) hb[j] = ob[j];
        } else {
            for (long j = 0; j < 4 * H; ++j) g[j] = 0;
            for (long j = 0; j < H; ++j) { cb[j] = cp[j]; hb[j] = hp[j]; ob[j] = 0; tb[j] = 0; }
        }
    }
}

/* dh = dL/dh leaving step t through the state, dy = dL/d out_t. Real rows: the step's backward with dh + dy,
 * carry = 0; padded rows: D = 0, dc unchanged, carry = dh. Then dL/dh_{t-1} = carry + D W_hh. */
void NAME(lstm_bwd_masked)(long B, long H, const T *gates, const T *tc, const T *c_in, const T *dh, const T *dy,
                           T *dc, T *D, T *carry, const unsigned char *mask) {
    PARALLEL_ROWS
    for (long b = 0; b < B; ++b) {
        const T *g = gates + b * 4 * H, *dhb = dh + b * H;
        T *d = D + b * 4 * H, *cab = carry + b * H;
        if (mask[b]) {
            NAME(lstm_bwd_row)(H, g, g + H, g + 2 * H, g + 3 * H, tc + b * H, c_in + b * H, dhb, dy + b * H,
                               dc + b * H, d, d + H, d + 2 * H, d + 3 * H);
            for (long j = 0; j < H; ++j) cab[j] = 0;
        } else {
            for (long j = 0; j < 4 * H; ++j) d[j] = 0;
            for (long j = 0; j < H; ++j) cab[j] = dhb[j];
        }
    }
}

/* -------------------------------------------------------------------------------------------- GRU */

/* Forward of one row (torch form, reset after the matmul). In: ĥ = W_hh h_{t-1} and x̂ = [x̂_r x̂_z x̂_n] =
 * W_ih x_t, both without bias, b_ih, b_hh, h_prev. r = σ(x̂_r + b_ir + ĥ_r + b_hr), z likewise,
 * n = tanh(x̂_n + b_in + r (ĥ_n + b_hn)), h = n + z (h_prev - n); gr, gz leave as r, z and gn as ĥ_n + b_hn. */
static inline void NAME(gru_fwd_row)(long H, T *restrict gr, T *restrict gz, T *restrict gn,
                                     const T *restrict b_ih, const T *restrict b_hh, const T *restrict xr,
                                     const T *restrict xz, const T *restrict xn, const T *restrict h_prev,
                                     T *restrict n, T *restrict h) {
    for (long j = 0; j < H; ++j) {
        T hn = gn[j] + b_hh[2 * H + j];
        T r = NAME(sigmoid)(xr[j] + b_ih[j] + gr[j] + b_hh[j]);
        T z = NAME(sigmoid)(xz[j] + b_ih[H + j] + gz[j] + b_hh[H + j]);
        T nv = TANH(xn[j] + b_ih[2 * H + j] + r * hn);
        gr[j] = r; gz[j] = z; gn[j] = hn;
        n[j] = nv; h[j] = nv + z * (h_prev[j] - nv);
    }
}

/* Backward of one row. In: [r z ĥ_n], n, h_prev, d = dh + dy = dL/dh_t. Out: E = [dn̂ r, dr̂, dẑ, dn̂] with
 *   dn̂ = d (1-z)(1-n²),  dẑ = d (h_prev - n) z(1-z),  dr̂ = dn̂ ĥ_n r(1-r);  carry = d z + carry_add
 * (what else reaches h_{t-1}), to which the caller adds E[:, :3H] W_hh (rows n, r, z). */
static inline void NAME(gru_bwd_row)(long H, const T *restrict gr, const T *restrict gz, const T *restrict gn,
                                     const T *restrict n, const T *restrict h_prev, const T *restrict dh,
                                     const T *restrict dy, const T *restrict carry_add, T *restrict Enr,
                                     T *restrict Er, T *restrict Ez, T *restrict En, T *restrict carry) {
    for (long j = 0; j < H; ++j) {
        T r = gr[j], z = gz[j], nv = n[j], d = dh[j] + dy[j];
        T dn = d * ((T)1 - z) * ((T)1 - nv * nv);
        En[j] = dn;
        Ez[j] = d * (h_prev[j] - nv) * z * ((T)1 - z);
        Er[j] = dn * gn[j] * r * ((T)1 - r);
        Enr[j] = dn * r;
        carry[j] = d * z + carry_add[j];
    }
}

/* gates (B, 3H): W_hh h_{t-1} in, [r z ĥ_n] out; b_ih, b_hh (3H); x_hat rows xs apart; h_prev rows hps apart;
 * n, h (B, H). */
void NAME(gru_fwd)(long B, long H, T *gates, const T *b_ih, const T *b_hh, const T *x_hat, long xs,
                   const T *h_prev, long hps, T *n, T *h) {
    PARALLEL_ROWS
    for (long b = 0; b < B; ++b) {
        T *g = gates + b * 3 * H;
        const T *x = x_hat + b * xs;
        NAME(gru_fwd_row)(H, g, g + H, g + 2 * H, b_ih, b_hh, x, x + H, x + 2 * H, h_prev + b * hps, n + b * H,
                          h + b * H);
    }
}

/* dh = dL/dh_t, dy_prev = the previous step's output gradient (zeros: none), folded into carry; zeros: H
 * zeros. E (B, 4H) and carry (B, H) out. */
void NAME(gru_bwd)(long B, long H, const T *gates, const T *n, const T *h_prev, long hps, const T *dh,
                   const T *dy_prev, T *E, T *carry, const T *zeros) {
    PARALLEL_ROWS
    for (long b = 0; b < B; ++b) {
        const T *g = gates + b * 3 * H;
        T *e = E + b * 4 * H;
        NAME(gru_bwd_row)(H, g, g + H, g + 2 * H, n + b * H, h_prev + b * hps, dh + b * H, zeros, dy_prev + b * H,
                          e, e + H, e + 2 * H, e + 3 * H, carry + b * H);
    }
}

/* Unequal lengths, as lstm_fwd_masked: states in (T+1, B, H) buffers; a padded row keeps h, outputs zero. */
void NAME(gru_fwd_masked)(long B, long H, T *gates, const T *b_ih, const T *b_hh, const T *x_hat, long xs,
                          const T *h_in, T *h_out, T *n, T *out, const unsigned char *mask) {
    PARALLEL_ROWS
    for (long b = 0; b < B; ++b) {
        T *g = gates + b * 3 * H, *ob = out + b * H, *hb = h_out + b * H, *nb = n + b * H;
        const T *x = x_hat + b * xs, *hp = h_in + b * H;
        if (mask[b]) {
            NAME(gru_fwd_row)(H, g, g + H, g + 2 * H, b_ih, b_hh, x, x + H, x + 2 * H, hp, nb, ob);
            for (long j = 0; j < H; ++j) hb[j] = ob[j];
        } else {
            for (long j = 0; j < 3 * H; ++j) g[j] = 0;
            for (long j = 0; j < H; ++j) { hb[j] = hp[j]; ob[j] = 0; nb[j] = 0; }
        }
    }
}

/* Real rows: the step's backward with d = dh + dy and carry = d z; padded rows: E = 0, carry = dh. */
void NAME(gru_bwd_masked)(long B, long H, const T *gates, const T *n, const T *h_in, const T *dh, const T *dy,
                          T *E, T *carry, const unsigned char *mask, const T *zeros) {
    PARALLEL_ROWS
    for (long b = 0; b < B; ++b) {
        const T *g = gates + b * 3 * H, *dhb = dh + b * H;
        T *e = E + b * 4 * H, *cab = carry + b * H;
        if (mask[b]) {
            NAME(gru_bwd_row)(H, g, g + H, g + 2 * H, n + b * H, h_in + b * H, dhb, dy + b * H, zeros, e, e + H,
                              e + 2 * H, e + 3 * H, cab);
        } else {
            for (long j = 0; j < 4 * H; ++j) e[j] = 0;
            for (long j = 0; j < H; ++j) cab[j] = dhb[j];
        }
    }
}

/* ------------------------------------------------------------------------------- whole time loops
 * The Python-driven step loops of kernels/lstm.py and kernels/gru.py moved into C: per step one GEMM through
 * the process's BLAS (torch's own sgemm_/dgemm_) and one step kernel, with no Python or ATen dispatch in
 * between (what that saved: docs/PERFORMANCE.md). `blas` holds four function addresses: ?gemm_, then MKL's
 * ?GEMM_PACK_GET_SIZE, ?GEMM_PACK and ?GEMM_COMPUTE, or three NULLs where that packed API is absent. */

/* Row-major C (M, N) = A (M, K) B (K, N) + beta C with a column-major (Fortran) ?gemm_: Cᵀ = Bᵀ Aᵀ. */
static void NAME(gemm_rows)(NAME(gemm_fn) gemm, long M, long N, long K, const T *A, long lda, const T *Bm,
                            long ldb, T beta, T *C, long ldc) {
    /* The BLAS reads its sizes as 32-bit (LP64) or 64-bit (ILP64) integers: stored as 64-bit little-endian
     * values below 2^31, both read the same number. */
    long long m = N, n = M, k = K, la = ldb, lb = lda, lc = ldc;
    T one = 1;
    gemm("N", "N", (const void *)&m, (const void *)&n, (const void *)&k, &one, Bm, (const void *)&la, A,
         (const void *)&lb, &beta, C, (const void *)&lc);
}

/* The recurrent weight of a loop: the right operand W (K, N), row-major and contiguous, of every step's
 * C (M, N) = A (M, K) W + beta C. With MKL's packed API and at least PACK_MIN_ROWS rows, W is packed once per
 * loop into the layout MKL's kernels read, and every step's product skips that work; with fewer rows the
 * packing costs what the steps save (the measurements: docs/PERFORMANCE.md). */
typedef struct {
    const void *const *blas;
    long M, N, K;
    const T *w;
    T *packed; /* NULL: every step calls ?gemm_ on w */
} NAME(weight);

static void NAME(weight_open)(NAME(weight) *wt, const void *const *blas, long M, long N, long K, const T *w) {
    wt->blas = blas; wt->M = M; wt->N = N; wt->K = K; wt->w = w; wt->packed = NULL;
    if (M >= PACK_MIN_ROWS && blas[1] && blas[2] && blas[3]) {
        long long m = N, n = M, k = K, ld = N; /* column-major: W is the product's left operand, "A" */
        T one = 1;
        size_t bytes = ((NAME(pack_size_fn))blas[1])("A", &m, &n, &k);
        wt->packed = aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (wt->packed) ((NAME(pack_fn))blas[2])("A", "N", &m, &n, &k, &one, w, &ld, wt->packed);
    }
}

/* C (M, N) = A (M, K) W + beta C, rows of A lda apart and of C ldc apart. */
static void NAME(weight_product)(const NAME(weight) *wt, const T *A, long lda, T beta, T *C, long ldc) {
    if (!wt->packed) {
        NAME(gemm_rows)((NAME(gemm_fn))wt->blas[0], wt->M, wt->N, wt->K, A, lda, wt->w, wt->N, beta, C, ldc);
        return;
    }
    long long m = wt->N, n = wt->M, k = wt->K, ld_w = wt->N, ld_a = lda, ld_c = ldc;
    ((NAME(compute_fn))wt->blas[3])("P", "N", &m, &n, &k, wt->packed, &ld_w, A, &ld_a, &beta, C, &ld_c);
}

static void NAME(weight_close)(NAME(weight) *wt) { free(wt->packed); }

/* gates (T, B, 4H): X W_ihᵀ in, activated [i f g o] out; w_t = W_hhᵀ (H, 4H); h0, c0 (B, H);
 * cells, tc, out (T, B, H). Step t: gates_t += h_{t-1} W_hhᵀ, then lstm_fwd. */
void NAME(lstm_fwd_loop)(long steps, long B, long H, const void *const *blas, T *gates, const T *bias, const T *w_t,
                         const T *h0, const T *c0, T *cells, T *tc, T *out) {
    const long G = 4 * H, step = B * H;
    NAME(weight) wt;
    NAME(weight_open)(&wt, blas, B, G, H, w_t);
    for (long t = 0; t < steps; ++t) {
        const T *h_prev = t ? out + (t - 1) * step : h0, *c_prev = t ? cells + (t - 1) * step : c0;
        T *g = gates + t * B * G;
        NAME(weight_product)(&wt, h_prev, H, (T)1, g, G);
        NAME(lstm_fwd)(B, H, g, bias, c_prev, H, cells + t * step, tc + t * step, out + t * step);
    }
    NAME(weight_close)(&wt);
}

/* BPTT through lstm_fwd_loop. dy: the outputs' gradient, steps dy_step and rows dys apart (0 and 0: one
 * row of zeros for all); dh: dL/dh_T in, overwritten; dc: dL/dc_T in, dL/dc_0 out; D (T, B, 4H) out;
 * dh0 (B, H) out, dL/dh_0. Step t: lstm_bwd, then dh_{t-1} = D_t W_hh (W_hh (4H, H)). */
void NAME(lstm_bwd_loop)(long steps, long B, long H, const void *const *blas, const T *gates, const T *cells,
                         const T *tc, const T *c0, const T *w_hh, const T *dy, long dy_step, long dys, T *dh,
                         T *dc, T *D, T *dh0) {
    const long G = 4 * H, step = B * H;
    NAME(weight) wt;
    NAME(weight_open)(&wt, blas, B, H, G, w_hh);
    for (long t = steps - 1; t >= 0; --t) {
        const T *c_prev = t ? cells + (t - 1) * step : c0;
        T *D_t = D + t * B * G;
        NAME(lstm_bwd)(B, H, gates + t * B * G, tc + t * step, c_prev, H, dh, dy + t * dy_step, dys, dc, D_t);
        /* dh is read by lstm_bwd only: the product may overwrite it (dh0 at the last step) */
        NAME(weight_product)(&wt, D_t, G, (T)0, t ? dh : dh0, H);
    }
    NAME(weight_close)(&wt);
}

/* Masked LSTM (unequal lengths): states_h, states_c (T+1, B, H), row 0 the initial state, row t+1 what
 * leaves step t; mask (T, B). Step t: gates_t += h_t W_hhᵀ, then lstm_fwd_masked. */
void NAME(lstm_fwd_masked_loop)(long steps, long B, long H, const void *const *blas, T *gates, const T *bias,
                                const T *w_t, T *states_h, T *states_c, T *tc, T *out, const unsigned char *mask) {
    const long G = 4 * H, step = B * H;
    NAME(weight) wt;
    NAME(weight_open)(&wt, blas, B, G, H, w_t);
    for (long t = 0; t < steps; ++t) {
        T *g = gates + t * B * G, *h_in = states_h + t * step, *c_in = states_c + t * step;
        NAME(weight_product)(&wt, h_in, H, (T)1, g, G);
        NAME(lstm_fwd_masked)(B, H, g, bias, c_in, h_in, c_in + step, h_in + step, tc + t * step, out + t * step,
                              mask + t * B);
    }
    NAME(weight_close)(&wt);
}

/* BPTT through lstm_fwd_masked_loop. dy (T, B, H) dy_step apart (0: one (B, H) block of zeros); dh, carry:
 * (B, H) work buffers, dh holding dL/dh_T on entry; dc: dL/dc_T in, dL/dc_0 out; D (T, B, 4H) and dh0 out.
 * Step t: lstm_bwd_masked, then dh_{t-1} = carry + D_t W_hh (the product added onto carry, which becomes dh). */
void NAME(lstm_bwd_masked_loop)(long steps, long B, long H, const void *const *blas, const T *gates, const T *tc,
                                const T *states_c, const T *w_hh, const T *dy, long dy_step,
                                const unsigned char *mask, T *dh, T *dc, T *carry, T *D, T *dh0) {
    const long G = 4 * H, step = B * H;
    NAME(weight) wt;
    NAME(weight_open)(&wt, blas, B, H, G, w_hh);
    for (long t = steps - 1; t >= 0; --t) {
        T *D_t = D + t * B * G, *swap;
        NAME(lstm_bwd_masked)(B, H, gates + t * B * G, tc + t * step, states_c + t * step, dh, dy + t * dy_step, dc,
                              D_t, carry, mask + t * B);
        NAME(weight_product)(&wt, D_t, G, (T)1, carry, H);
        swap = dh; dh = carry; carry = swap;
    }
    NAME(weight_close)(&wt);
    memcpy(dh0, dh, sizeof(T) * step);
}

/* GRU: gates (T, B, 3H) out ([r z ĥ_n]); x_hat (T, B, 3H) = X W_ihᵀ; w_t = W_hhᵀ (H, 3H); n, out (T, B, H).
 * Step t: gates_t = h_{t-1} W_hhᵀ, then gru_fwd. */
void NAME(gru_fwd_loop)(long steps, long B, long H, const void *const *blas, T *gates, const T *b_ih, const T *b_hh,
                        const T *x_hat, const T *w_t, const T *h0, T *n, T *out) {
    const long G = 3 * H, step = B * H;
    NAME(weight) wt;
    NAME(weight_open)(&wt, blas, B, G, H, w_t);
    for (long t = 0; t < steps; ++t) {
        const T *h_prev = t ? out + (t - 1) * step : h0;
        T *g = gates + t * B * G;
        NAME(weight_product)(&wt, h_prev, H, (T)0, g, G);
        NAME(gru_fwd)(B, H, g, b_ih, b_hh, x_hat + t * B * G, G, h_prev, H, n + t * step, out + t * step);
    }
    NAME(weight_close)(&wt);
}

/* BPTT through gru_fwd_loop. w_nrz: W_hh with its row blocks in E's order (n, r, z), (3H, H); dy (T, B, H)
 * dy_step apart (0: zeros); dh: dL/dh_{T-1} including the last output's gradient on entry; dh, carry: work
 * buffers; E (T, B, 4H) and dh0 out. Step t: gru_bwd (which folds in dy_{t-1}), then
 * dh_{t-1} = carry + E_t[:, :3H] w_nrz. */
void NAME(gru_bwd_loop)(long steps, long B, long H, const void *const *blas, const T *gates, const T *n, const T *out,
                        const T *h0, const T *w_nrz, const T *dy, long dy_step, T *dh, T *carry, T *E,
                        const T *zeros, T *dh0) {
    const long G = 3 * H, step = B * H;
    NAME(weight) wt;
    NAME(weight_open)(&wt, blas, B, H, G, w_nrz);
    for (long t = steps - 1; t >= 0; --t) {
        const T *h_prev = t ? out + (t - 1) * step : h0, *dy_prev = t ? dy + (t - 1) * dy_step : zeros;
        T *E_t = E + t * B * 4 * H, *swap;
        NAME(gru_bwd)(B, H, gates + t * B * G, n + t * step, h_prev, H, dh, dy_prev, E_t, carry, zeros);
        NAME(weight_product)(&wt, E_t, 4 * H, (T)1, carry, H);
        swap = dh; dh = carry; carry = swap;
    }
    NAME(weight_close)(&wt);
    memcpy(dh0, dh, sizeof(T) * step);
}

/* Masked GRU: states (T+1, B, H) as in lstm_fwd_masked_loop. */
void NAME(gru_fwd_masked_loop)(long steps, long B, long H, const void *const *blas, T *gates, const T *b_ih,
                               const T *b_hh, const T *x_hat, const T *w_t, T *states, T *n, T *out,
                               const unsigned char *mask) {
    const long G = 3 * H, step = B * H;
    NAME(weight) wt;
    NAME(weight_open)(&wt, blas, B, G, H, w_t);
    for (long t = 0; t < steps; ++t) {
        T *g = gates + t * B * G, *h_in = states + t * step;
        NAME(weight_product)(&wt, h_in, H, (T)0, g, G);
        NAME(gru_fwd_masked)(B, H, g, b_ih, b_hh, x_hat + t * B * G, G, h_in, h_in + step, n + t * step,
                             out + t * step, mask + t * B);
    }
    NAME(weight_close)(&wt);
}

/* BPTT through gru_fwd_masked_loop; dy (T, B, H) dy_step apart, zeros (B, H). */
void NAME(gru_bwd_masked_loop)(long steps, long B, long H, const void *const *blas, const T *gates, const T *n,
                               const T *states, const T *w_nrz, const T *dy, long dy_step,
                               const unsigned char *mask, T *dh, T *carry, T *E, const T *zeros, T *dh0) {
    const long G = 3 * H, step = B * H;
    NAME(weight) wt;
    NAME(weight_open)(&wt, blas, B, H, G, w_nrz);
    for (long t = steps - 1; t >= 0; --t) {
        T *E_t = E + t * B * 4 * H, *swap;
        NAME(gru_bwd_masked)(B, H, gates + t * B * G, n + t * step, states + t * step, dh, dy + t * dy_step, E_t,
                             carry, mask + t * B, zeros);
        NAME(weight_product)(&wt, E_t, 4 * H, (T)1, carry, H);
        swap = dh; dh = carry; carry = swap;
    }
    NAME(weight_close)(&wt);
    memcpy(dh0, dh, sizeof(T) * step);
}

/* Vanilla RNN (no mask): act (T, B, H) holds X W_ihᵀ + b on entry and a_t = φ(z_t) on return, φ = tanh or
 * (relu != 0) max(0, ·); w_t = W_hhᵀ (H, H). Step t: z_t = act_t + h_{t-1} W_hhᵀ, then φ in place. */
void NAME(rnn_fwd_loop)(long steps, long B, long H, const void *const *blas, T *act, const T *w_t, const T *h0,
                        long relu) {
    const long step = B * H;
    NAME(weight) wt;
    NAME(weight_open)(&wt, blas, B, H, H, w_t);
    for (long t = 0; t < steps; ++t) {
        T *a = act + t * step;
        NAME(weight_product)(&wt, t ? a - step : h0, H, (T)1, a, H);
        PARALLEL_ROWS
        for (long b = 0; b < B; ++b) {
            T *restrict row = a + b * H;
            if (relu) {
                for (long j = 0; j < H; ++j) row[j] = row[j] > 0 ? row[j] : (T)0;
            } else {
                for (long j = 0; j < H; ++j) row[j] = TANH(row[j]);
            }
        }
    }
    NAME(weight_close)(&wt);
}

/* BPTT through rnn_fwd_loop. dy (T, B, H) dy_step apart (0: one (B, H) block of zeros); dh: dL/dh_{T-1}
 * (the last output's gradient included) in, overwritten; D (T, B, H) the pre-activation gradients and dh0 out.
 * Step t: D_t = dh ⊙ φ'(a_t) (1 - a² or [a > 0]), then dh_{t-1} = dy_{t-1} + D_t W_hh. */
void NAME(rnn_bwd_loop)(long steps, long B, long H, const void *const *blas, const T *act, const T *w_hh,
                        const T *dy, long dy_step, T *dh, T *D, T *dh0, long relu) {
    const long step = B * H;
    NAME(weight) wt;
    NAME(weight_open)(&wt, blas, B, H, H, w_hh);
    for (long t = steps - 1; t >= 0; --t) {
        const T *a = act + t * step;
        T *D_t = D + t * step;
        PARALLEL_ROWS
        for (long b = 0; b < B; ++b) {
            const T *restrict ab = a + b * H, *restrict db = dh + b * H;
            T *restrict out = D_t + b * H;
            if (relu) {
                for (long j = 0; j < H; ++j) out[j] = ab[j] > 0 ? db[j] : (T)0;
            } else {
                for (long j = 0; j < H; ++j) out[j] = db[j] * ((T)1 - ab[j] * ab[j]);
            }
        }
        if (t) {
            memcpy(dh, dy + (t - 1) * dy_step, sizeof(T) * step);
            NAME(weight_product)(&wt, D_t, H, (T)1, dh, H);
        } else {
            NAME(weight_product)(&wt, D_t, H, (T)0, dh0, H);
        }
    }
    NAME(weight_close)(&wt);
}

/* C (M, N) = A (M, K) B (K, N), all row-major and contiguous: the check that a BLAS found at run time is
 * called correctly (loader.py compares it with torch.mm before using the loops above). */
void NAME(gemm_check)(long M, long N, long K, const void *const *blas, const T *A, const T *Bm, T *C) {
    NAME(weight) wt;
    NAME(weight_open)(&wt, blas, M, N, K, Bm);
    NAME(weight_product)(&wt, A, K, (T)0, C, N);
    NAME(weight_close)(&wt);
}
