/* Softmax cross-entropy with its gradient in one pass over the logits, for one element type T (NAME(x)
 * appends the type's suffix; EXP and LOG are the type's exp and log; included by recurrences.c for float
 * and double).
 *
 * For N rows of V logits x and targets t (rows whose target is ignore_index do not count), M the number of
 * rows that count:
 *
 *   loss = (1/M) Σ_n [log Σ_j exp(x_nj - m_n) + m_n - x_{n,t_n}],        m_n = max_j x_nj
 *   dloss/dx_nj = (softmax(x_n)_j - [j = t_n]) / M,                        zero on ignored rows
 *
 * torch's log_softmax + nll_loss read and write the (N, V) logits several times over (the log-probabilities,
 * nll_loss's zero-filled gradient, the softmax backward); here each row is read once from memory (its max,
 * then its exponentials while it is in cache) and its gradient written once, so the backward only hands
 * the gradient on. Rows are split over OpenMP threads. */

/* One row's loss; with grad, also its gradient (scale = 1/M). grad may be x itself (the gradient written over
 * the logits): each element is read before it is written, and the target's logit is read first. */
static inline double NAME(xent_row)(long V, const T *x, long target, T scale, T *grad) {
    const T x_target = x[target];
    T m = x[0];
    for (long j = 1; j < V; ++j) m = x[j] > m ? x[j] : m;
    T sum = 0;
    if (grad == NULL) {
        for (long j = 0; j < V; ++j) sum += EXP(x[j] - m);
    } else {
        for (long j = 0; j < V; ++j) {
            T e = EXP(x[j] - m);
            grad[j] = e;
            sum += e;
        }
        T r = scale / sum;
        for (long j = 0; j < V; ++j) grad[j] *= r;
        grad[target] -= scale;
    }
    return (double)LOG(sum) + (double)m - (double)x_target;
}

/* logits: N rows of V, row stride ld; targets: N int64; grad: NULL (the loss only), a contiguous (N, V)
 * buffer, every element written, or the logits themselves (ld = V) to be overwritten by their gradient.
 * Writes the mean loss to *loss (NaN when no row counts, as torch) and returns -1, or returns the first row
 * whose target is neither ignore_index nor in [0, V) and writes nothing. */
long NAME(xent_fwd)(long N, long V, const T *logits, long ld, const long *targets, long ignore_index, T *grad,
                    double *loss) {
    long counted = 0;
    for (long n = 0; n < N; ++n) {
        long t = targets[n];
        if (t == ignore_index) continue;
        if (t < 0 || t >= V) return n;
        ++counted;
    }
    T scale = counted > 0 ? (T)1 / (T)counted : (T)0;
    double total = 0;
#pragma omp parallel for if ((double)N * V >= 65536) schedule(static) reduction(+ : total)
    for (long n = 0; n < N; ++n) {
        T *row_grad = grad == NULL ? NULL : grad + n * V;
        if (targets[n] == ignore_index) {
            if (row_grad != NULL) memset(row_grad, 0, (size_t)V * sizeof(T));
        } else {
            total += NAME(xent_row)(V, logits + n * ld, targets[n], scale, row_grad);
        }
    }
    *loss = counted > 0 ? total / (double)counted : NAN;
    return -1;
}
