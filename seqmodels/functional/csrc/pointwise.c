/* Fused per-step gate math of the `custom` backend on CPU (seqmodels/functional/native.py).
 *
 * One call replaces the 5-8 separate ATen ops of a recurrence step: the step's tiles stay in cache and
 * the sigmoid/tanh loops vectorise (gcc -O3 -ffast-math turns tanhf into glibc's libmvec calls).
 * Plain C on raw row-major buffers; the caller (Python, ctypes) checks devices, dtypes and layouts.
 * Built with -fopenmp where the compiler has it, else the pragmas are ignored and it runs on one thread.
 *
 * Shapes: B rows (batch), H hidden units. "gates" rows hold G*H values (LSTM [i f g o], GRU [r z n]);
 * every other (B, H) buffer is contiguous unless a row stride is passed.
 * sigmoid(x) = 0.5 tanh(x/2) + 0.5: one transcendental, no overflow for large |x|.
 */
#include <math.h>
#include <stddef.h>

/* Rows are split over OpenMP threads (torch's own pool: the library links libgomp.so.1, which torch has
 * already loaded) from this many elements per step on; below it a parallel region costs more than it saves. */
#define PARALLEL_MIN_ELEMENTS 8192

#define DEFINE_KERNELS(T, SUFFIX, TANH)                                                                    \
                                                                                                           \
/* LSTM forward: gates (B, 4H) pre-activations X̂_t + W_hh h_{t-1}, activated in place to [i f g o];      \
 * c = f c_prev + i g,  tc = tanh c,  h = o tc. c_prev rows are cps apart. */                              \
void lstm_fwd_##SUFFIX(long B, long H, T *restrict gates, const T *restrict c_prev, long cps,              \
                       T *restrict c, T *restrict tc, T *restrict h) {                                     \
    _Pragma("omp parallel for if (B * H >= PARALLEL_MIN_ELEMENTS) schedule(static)")                       \
    for (long b = 0; b < B; ++b) {                                                                         \
        T *gi = gates + b * 4 * H, *gf = gi + H, *gg = gf + H, *go = gg + H;                               \
        const T *cp = c_prev + b * cps;                                                                    \
        T *cb = c + b * H, *tb = tc + b * H, *hb = h + b * H;                                              \
        for (long j = 0; j < H; ++j) {                                                                     \
            T i = (T)0.5 * TANH((T)0.5 * gi[j]) + (T)0.5;                                                  \
            T f = (T)0.5 * TANH((T)0.5 * gf[j]) + (T)0.5;                                                  \
            T g = TANH(gg[j]);                                                                             \
            T o = (T)0.5 * TANH((T)0.5 * go[j]) + (T)0.5;                                                  \
            T cv = f * cp[j] + i * g;                                                                      \
            T t = TANH(cv);                                                                                \
            gi[j] = i; gf[j] = f; gg[j] = g; go[j] = o;                                                    \
            cb[j] = cv; tb[j] = t; hb[j] = o * t;                                                          \
        }                                                                                                  \
    }                                                                                                      \
}                                                                                                          \
                                                                                                           \
/* LSTM backward of one step. In: activated gates [i f g o] (B, 4H), tc = tanh c_t, c_prev (rows cps      \
 * apart), dh = dL/dh_t; dc holds dL/dc_t from later steps and leaves as dL/dc_{t-1} = dc_t f.             \
 * Out: D (B, 4H), the gradients of the gate pre-activations:                                             \
 *   dc_t = dc + dh o (1 - tc²);  D = [dc_t g i(1-i), dc_t c_prev f(1-f), dc_t i (1-g²), dh tc o(1-o)]. */ \
void lstm_bwd_##SUFFIX(long B, long H, const T *restrict gates, const T *restrict tc,                      \
                       const T *restrict c_prev, long cps, const T *restrict dh, T *restrict dc,           \
                       T *restrict D) {                                                                    \
    _Pragma("omp parallel for if (B * H >= PARALLEL_MIN_ELEMENTS) schedule(static)")                       \
    for (long b = 0; b < B; ++b) {                                                                         \
        const T *gi = gates + b * 4 * H, *gf = gi + H, *gg = gf + H, *go = gg + H;                         \
        const T *tb = tc + b * H, *cp = c_prev + b * cps, *dhb = dh + b * H;                               \
        T *dcb = dc + b * H, *Di = D + b * 4 * H, *Df = Di + H, *Dg = Df + H, *Do = Dg + H;                \
        for (long j = 0; j < H; ++j) {                                                                     \
            T i = gi[j], f = gf[j], g = gg[j], o = go[j], t = tb[j], d = dhb[j];                           \
            T dcv = dcb[j] + d * o * ((T)1 - t * t);                                                       \
            Di[j] = dcv * g * i * ((T)1 - i);                                                              \
            Df[j] = dcv * cp[j] * f * ((T)1 - f);                                                          \
            Dg[j] = dcv * i * ((T)1 - g * g);                                                              \
            Do[j] = d * t * o * ((T)1 - o);                                                                \
            dcb[j] = dcv * f;                                                                              \
        }                                                                                                  \
    }                                                                                                      \
}                                                                                                          \
                                                                                                           \
/* GRU forward (torch form, reset after the matmul). gates (B, 3H) = W_hh h_{t-1} (no bias) in, out        \
 * [r z ĥ_n] with ĥ = W_hh h_{t-1} + b_hh (b_hh: 3H values);    x_hat = X̂_t = [x̂_r x̂_z x̂_n] (rows xs  \
 * apart, b_ih included); h_prev rows hps apart.                                                           \
 * r = σ(x̂_r + ĥ_r),  z = σ(x̂_z + ĥ_z),  n = tanh(x̂_n + r ĥ_n),  h = n + z (h_prev - n). */                \
void gru_fwd_##SUFFIX(long B, long H, T *restrict gates, const T *restrict b_hh, const T *restrict x_hat,  \
                      long xs, const T *restrict h_prev, long hps, T *restrict n, T *restrict h) {         \
    _Pragma("omp parallel for if (B * H >= PARALLEL_MIN_ELEMENTS) schedule(static)")                       \
    for (long b = 0; b < B; ++b) {                                                                         \
        T *gr = gates + b * 3 * H, *gz = gr + H, *gn = gz + H;                                             \
        const T *xr = x_hat + b * xs, *xz = xr + H, *xn = xz + H, *hp = h_prev + b * hps;                  \
        T *nb = n + b * H, *hb = h + b * H;                                                                \
        for (long j = 0; j < H; ++j) {                                                                     \
            T hr = gr[j] + b_hh[j], hz = gz[j] + b_hh[H + j], hn = gn[j] + b_hh[2 * H + j];                \
            T r = (T)0.5 * TANH((T)0.5 * (xr[j] + hr)) + (T)0.5;                                           \
            T z = (T)0.5 * TANH((T)0.5 * (xz[j] + hz)) + (T)0.5;                                           \
            T nv = TANH(xn[j] + r * hn);                                                                   \
            gr[j] = r; gz[j] = z; gn[j] = hn;                                                              \
            nb[j] = nv; hb[j] = nv + z * (hp[j] - nv);                                                     \
        }                                                                                                  \
    }                                                                                                      \
}                                                                                                          \
                                                                                                           \
/* GRU backward of one step. In: [r z ĥ_n] (B, 3H), n, h_prev (rows hps apart), dh = dL/dh_t, dy = the    \
 * previous step's output gradient (zeros: none). Out: E (B, 4H) = [dn̂ r, dr̂, dẑ, dn̂] with                 \
 *   dn̂ = dh (1-z)(1-n²),  dẑ = dh (h_prev - n) z(1-z),  dr̂ = dn̂ ĥ_n r(1-r);                           \
 * carry = dh z + dy, to which the caller adds E[:, :3H] W_hh (rows n, r, z) to get dL/dh_{t-1}. */         \
void gru_bwd_##SUFFIX(long B, long H, const T *restrict gates, const T *restrict n,                        \
                      const T *restrict h_prev, long hps, const T *restrict dh, const T *restrict dy,      \
                      T *restrict E, T *restrict carry) {                                                  \
    _Pragma("omp parallel for if (B * H >= PARALLEL_MIN_ELEMENTS) schedule(static)")                       \
    for (long b = 0; b < B; ++b) {                                                                         \
        const T *gr = gates + b * 3 * H, *gz = gr + H, *ghn = gz + H;                                      \
        const T *nb = n + b * H, *hp = h_prev + b * hps, *dhb = dh + b * H;                                \
        const T *dyb = dy + b * H;                                                                         \
        T *Enr = E + b * 4 * H, *Er = Enr + H, *Ez = Er + H, *En = Ez + H, *cb = carry + b * H;            \
        for (long j = 0; j < H; ++j) {                                                                     \
            T r = gr[j], z = gz[j], nv = nb[j], d = dhb[j];                                                \
            T dn = d * ((T)1 - z) * ((T)1 - nv * nv);                                                      \
            En[j] = dn;                                                                                    \
            Ez[j] = d * (hp[j] - nv) * z * ((T)1 - z);                                                     \
            Er[j] = dn * ghn[j] * r * ((T)1 - r);                                                          \
            Enr[j] = dn * r;                                                                               \
            cb[j] = d * z + dyb[j];                                                                        \
        }                                                                                                  \
    }                                                                                                      \
}

/* The same steps for batches with sequences shorter than T (mask[b] = 0 after row b's end): a padded
 * row keeps its state (h_out = h_in, c_out = c_in), outputs zero, and passes its state gradient through.
 * States live in their own (T+1, B, H) buffers: h_in/c_in = entering step t, h_out/c_out = leaving it. */
#define DEFINE_MASKED_KERNELS(T, SUFFIX, TANH)                                                             \
                                                                                                           \
void lstm_fwd_masked_##SUFFIX(long B, long H, T *restrict gates, const T *restrict c_in,                   \
                              const T *restrict h_in, T *restrict c_out, T *restrict h_out, T *restrict tc, \
                              T *restrict out, const unsigned char *restrict mask) {                       \
    _Pragma("omp parallel for if (B * H >= PARALLEL_MIN_ELEMENTS) schedule(static)")                       \
    for (long b = 0; b < B; ++b) {                                                                         \
        T *gi = gates + b * 4 * H, *gf = gi + H, *gg = gf + H, *go = gg + H;                               \
        const T *cp = c_in + b * H, *hp = h_in + b * H;                                                    \
        T *cb = c_out + b * H, *hb = h_out + b * H, *tb = tc + b * H, *ob = out + b * H;                   \
        if (!mask[b]) {                                                                                    \
            for (long j = 0; j < H; ++j) {                                                                 \
                cb[j] = cp[j]; hb[j] = hp[j]; ob[j] = 0; tb[j] = 0;                                        \
                gi[j] = 0; gf[j] = 0; gg[j] = 0; go[j] = 0;                                                \
            }                                                                                              \
            continue;                                                                                      \
        }                                                                                                  \
        for (long j = 0; j < H; ++j) {                                                                     \
            T i = (T)0.5 * TANH((T)0.5 * gi[j]) + (T)0.5;                                                  \
            T f = (T)0.5 * TANH((T)0.5 * gf[j]) + (T)0.5;                                                  \
            T g = TANH(gg[j]);                                                                             \
            T o = (T)0.5 * TANH((T)0.5 * go[j]) + (T)0.5;                                                  \
            T cv = f * cp[j] + i * g;                                                                      \
            T t = TANH(cv);                                                                                \
            gi[j] = i; gf[j] = f; gg[j] = g; go[j] = o;                                                    \
            cb[j] = cv; tb[j] = t; hb[j] = o * t; ob[j] = o * t;                                           \
        }                                                                                                  \
    }                                                                                                      \
}                                                                                                          \
                                                                                                           \
/* dh = dL/dh leaving the step from later steps (state path), dy = dL/d out_t. Real rows: as lstm_bwd with \
 * dh + dy, carry = 0; padded rows: D = 0, dc unchanged, carry = dh. dL/dh_{t-1} = carry + D W_hh. */        \
void lstm_bwd_masked_##SUFFIX(long B, long H, const T *restrict gates, const T *restrict tc,               \
                              const T *restrict c_in, const T *restrict dh, const T *restrict dy,          \
                              T *restrict dc, T *restrict D, T *restrict carry,                            \
                              const unsigned char *restrict mask) {                                        \
    _Pragma("omp parallel for if (B * H >= PARALLEL_MIN_ELEMENTS) schedule(static)")                       \
    for (long b = 0; b < B; ++b) {                                                                         \
        const T *gi = gates + b * 4 * H, *gf = gi + H, *gg = gf + H, *go = gg + H;                         \
        const T *tb = tc + b * H, *cp = c_in + b * H, *dhb = dh + b * H, *dyb = dy + b * H;                \
        T *dcb = dc + b * H, *Di = D + b * 4 * H, *Df = Di + H, *Dg = Df + H, *Do = Dg + H;                \
        T *cab = carry + b * H;                                                                            \
        if (!mask[b]) {                                                                                    \
            for (long j = 0; j < H; ++j) {                                                                 \
                Di[j] = 0; Df[j] = 0; Dg[j] = 0; Do[j] = 0; cab[j] = dhb[j];                               \
            }                                                                                              \
            continue;                                                                                      \
        }                                                                                                  \
        for (long j = 0; j < H; ++j) {                                                                     \
            T i = gi[j], f = gf[j], g = gg[j], o = go[j], t = tb[j], d = dhb[j] + dyb[j];                  \
            T dcv = dcb[j] + d * o * ((T)1 - t * t);                                                       \
            Di[j] = dcv * g * i * ((T)1 - i);                                                              \
            Df[j] = dcv * cp[j] * f * ((T)1 - f);                                                          \
            Dg[j] = dcv * i * ((T)1 - g * g);                                                              \
            Do[j] = d * t * o * ((T)1 - o);                                                                \
            dcb[j] = dcv * f;                                                                              \
            cab[j] = 0;                                                                                    \
        }                                                                                                  \
    }                                                                                                      \
}                                                                                                          \
                                                                                                           \
void gru_fwd_masked_##SUFFIX(long B, long H, T *restrict gates, const T *restrict b_hh,                    \
                             const T *restrict x_hat, long xs, const T *restrict h_in, T *restrict h_out,  \
                             T *restrict n, T *restrict out, const unsigned char *restrict mask) {         \
    _Pragma("omp parallel for if (B * H >= PARALLEL_MIN_ELEMENTS) schedule(static)")                       \
    for (long b = 0; b < B; ++b) {                                                                         \
        T *gr = gates + b * 3 * H, *gz = gr + H, *gn = gz + H;                                             \
        const T *xr = x_hat + b * xs, *xz = xr + H, *xn = xz + H, *hp = h_in + b * H;                      \
        T *hb = h_out + b * H, *nb = n + b * H, *ob = out + b * H;                                         \
        if (!mask[b]) {                                                                                    \
            for (long j = 0; j < H; ++j) {                                                                 \
                hb[j] = hp[j]; ob[j] = 0; nb[j] = 0; gr[j] = 0; gz[j] = 0; gn[j] = 0;                      \
            }                                                                                              \
            continue;                                                                                      \
        }                                                                                                  \
        for (long j = 0; j < H; ++j) {                                                                     \
            T hr = gr[j] + b_hh[j], hz = gz[j] + b_hh[H + j], hn = gn[j] + b_hh[2 * H + j];                \
            T r = (T)0.5 * TANH((T)0.5 * (xr[j] + hr)) + (T)0.5;                                           \
            T z = (T)0.5 * TANH((T)0.5 * (xz[j] + hz)) + (T)0.5;                                           \
            T nv = TANH(xn[j] + r * hn);                                                                   \
            T hv = nv + z * (hp[j] - nv);                                                                  \
            gr[j] = r; gz[j] = z; gn[j] = hn;                                                              \
            nb[j] = nv; hb[j] = hv; ob[j] = hv;                                                            \
        }                                                                                                  \
    }                                                                                                      \
}                                                                                                          \
                                                                                                           \
/* Real rows: as gru_bwd with dh + dy and carry = (dh + dy) z; padded rows: E = 0, carry = dh. */            \
void gru_bwd_masked_##SUFFIX(long B, long H, const T *restrict gates, const T *restrict n,                 \
                             const T *restrict h_in, const T *restrict dh, const T *restrict dy,           \
                             T *restrict E, T *restrict carry, const unsigned char *restrict mask) {       \
    _Pragma("omp parallel for if (B * H >= PARALLEL_MIN_ELEMENTS) schedule(static)")                       \
    for (long b = 0; b < B; ++b) {                                                                         \
        const T *gr = gates + b * 3 * H, *gz = gr + H, *ghn = gz + H;                                      \
        const T *nb = n + b * H, *hp = h_in + b * H, *dhb = dh + b * H, *dyb = dy + b * H;                 \
        T *Enr = E + b * 4 * H, *Er = Enr + H, *Ez = Er + H, *En = Ez + H, *cb = carry + b * H;            \
        if (!mask[b]) {                                                                                    \
            for (long j = 0; j < H; ++j) {                                                                 \
                Enr[j] = 0; Er[j] = 0; Ez[j] = 0; En[j] = 0; cb[j] = dhb[j];                               \
            }                                                                                              \
            continue;                                                                                      \
        }                                                                                                  \
        for (long j = 0; j < H; ++j) {                                                                     \
            T r = gr[j], z = gz[j], nv = nb[j], d = dhb[j] + dyb[j];                                       \
            T dn = d * ((T)1 - z) * ((T)1 - nv * nv);                                                      \
            En[j] = dn;                                                                                    \
            Ez[j] = d * (hp[j] - nv) * z * ((T)1 - z);                                                     \
            Er[j] = dn * ghn[j] * r * ((T)1 - r);                                                          \
            Enr[j] = dn * r;                                                                               \
            cb[j] = d * z;                                                                                 \
        }                                                                                                  \
    }                                                                                                      \
}

DEFINE_KERNELS(float, f32, tanhf)
DEFINE_KERNELS(double, f64, tanh)
DEFINE_MASKED_KERNELS(float, f32, tanhf)
DEFINE_MASKED_KERNELS(double, f64, tanh)
