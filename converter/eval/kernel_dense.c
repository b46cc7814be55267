/* Gemm and MatMul: plain loops (the reference), or the same products through BLAS. */
#include <string.h>

#include "kernels.h"

#if SNN_HAVE_BLAS
#include <cblas.h>
#endif

bool snn_blas_available(void)
{
    return SNN_HAVE_BLAS != 0;
}

#if SNN_HAVE_BLAS && defined(__GNUC__)
/* OpenBLAS's pthread build starts its thread pool when it is loaded, and an idle pool thread
 * spins (sched_yield) for about 0.1 s before it sleeps: measured, that took 0.10-0.14 s of
 * system time, on the core a second worker needs, in runs of 0.1 s (the MLP's test set). This
 * function stops the pool; it is not in cblas.h, and builds without it (serial, OpenMP) leave
 * the weak reference NULL. */
extern int blas_thread_shutdown_(void) __attribute__((weak));
#endif

void snn_blas_single_thread(void)
{
#if SNN_HAVE_BLAS
    static int done; /* once per process: the evaluators of several threads call this */
    if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
        return;
    openblas_set_num_threads(1);
#if defined(__GNUC__)
    if (blas_thread_shutdown_)
        blas_thread_shutdown_();
#endif
#endif
}

/* y (M, N) = a (M, K) * b (K, N), all row-major with rows of K, N and N floats. */
static void matmul_blas(const float *a, const float *b, float *y, int64_t M, int64_t K, int64_t N)
{
#if SNN_HAVE_BLAS
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, a, (int)K, b,
                (int)N, 0.0f, y, (int)N);
#else
    (void)a, (void)b, (void)y, (void)M, (void)K, (void)N;
#endif
}

static void gemm_f32(const snn_graph *g, const snn_node *n, const float *const *in, float *out,
                     bool blas)
{
    const snn_tensor *A = &g->tensors[n->inputs[0]], *Y = &g->tensors[n->outputs[0]];
    const snn_attrs *at = &n->attr;
    int64_t M = Y->dims[0], N = Y->dims[1];
    int64_t K = at->trans_a ? A->dims[0] : A->dims[1];
    const float *a = in[0], *b = in[1];
    const float *c = n->n_inputs > 2 ? in[2] : NULL;
    /* a: (M, K) or (K, M) if trans_a; b: (K, N) or (N, K) if trans_b. */
    int64_t a_sm = at->trans_a ? 1 : K, a_sk = at->trans_a ? M : 1;
#if SNN_HAVE_BLAS
    if (blas)
        cblas_sgemm(CblasRowMajor, at->trans_a ? CblasTrans : CblasNoTrans,
                    at->trans_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, at->alpha, a,
                    at->trans_a ? (int)M : (int)K, b, at->trans_b ? (int)K : (int)N, 0.0f, out, (int)N);
#endif
    for (int64_t m = 0; m < M && !blas; m++) {
        float *y = out + m * N;
        if (at->trans_b) {
            /* Row of B per output: a contiguous dot product. */
            for (int64_t j = 0; j < N; j++) {
                float acc = 0.0f;
                const float *bj = b + j * K;
                for (int64_t k = 0; k < K; k++)
                    acc += a[m * a_sm + k * a_sk] * bj[k];
                y[j] = acc;
            }
        } else {
            memset(y, 0, (size_t)N * sizeof *y);
            for (int64_t k = 0; k < K; k++) {
                float av = a[m * a_sm + k * a_sk];
                const float *bk = b + k * N;
                for (int64_t j = 0; j < N; j++)
                    y[j] += av * bk[j];
            }
        }
        for (int64_t j = 0; j < N; j++)
            y[j] *= at->alpha;
    }
    if (!c)
        return;
    /* C broadcasts unidirectionally to (M, N): scalar, (N), (1, N), (M, 1) or (M, N). */
    const snn_tensor *C = &g->tensors[n->inputs[2]];
    int64_t cm = 0, cn = 0;
    if (C->rank == 1) {
        cn = C->dims[0] == 1 ? 0 : 1;
    } else if (C->rank == 2) {
        cm = C->dims[0] == 1 ? 0 : C->dims[1];
        cn = C->dims[1] == 1 ? 0 : 1;
    }
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < N; j++)
            out[m * N + j] += at->beta * c[m * cm + j * cn];
}

SNN_KERNEL(gemm)
{
    gemm_f32(g, n, (const float *const *)in, out, false);
    return SNN_OK;
}

snn_status snn_kernel_gemm_blas(const snn_graph *g, const snn_node *n, const void *const *in,
                                void *out, snn_diag *diag)
{
    (void)diag;
    gemm_f32(g, n, (const float *const *)in, out, snn_blas_available());
    return SNN_OK;
}

static void matmul_f32(const snn_graph *g, const snn_node *n, const float *const *in, float *out,
                       bool blas)
{
    const snn_tensor *A = &g->tensors[n->inputs[0]], *B = &g->tensors[n->inputs[1]];
    const snn_tensor *Y = &g->tensors[n->outputs[0]];
    /* Promote 1-D operands as numpy does, then broadcast the batch dimensions. */
    int64_t ad[SNN_MAX_RANK + 1], bd[SNN_MAX_RANK + 1];
    int ra = A->rank, rb = B->rank;
    memcpy(ad, A->dims, (size_t)ra * sizeof *ad);
    memcpy(bd, B->dims, (size_t)rb * sizeof *bd);
    if (ra == 1) { ad[1] = ad[0]; ad[0] = 1; ra = 2; }
    if (rb == 1) { bd[1] = 1; rb = 2; }
    int64_t M = ad[ra - 2], K = ad[ra - 1], N = bd[rb - 1];
    int rbatch = (ra > rb ? ra : rb) - 2;
    int64_t bdims[SNN_MAX_RANK], sa[SNN_MAX_RANK], sb[SNN_MAX_RANK], idx[SNN_MAX_RANK] = {0};
    int64_t stride_a = M * K, stride_b = K * N, nbatch = 1;
    for (int i = rbatch - 1; i >= 0; i--) {
        int ja = i - (rbatch - (ra - 2)), jb = i - (rbatch - (rb - 2));
        int64_t da = ja >= 0 ? ad[ja] : 1, db = jb >= 0 ? bd[jb] : 1;
        bdims[i] = da > db ? da : db;
        sa[i] = da == 1 ? 0 : stride_a;
        sb[i] = db == 1 ? 0 : stride_b;
        if (ja >= 0)
            stride_a *= da;
        if (jb >= 0)
            stride_b *= db;
        nbatch *= bdims[i];
    }
    (void)Y;
    int64_t oa = 0, ob = 0;
    for (int64_t bt = 0; bt < nbatch; bt++) {
        const float *a = in[0] + oa, *b = in[1] + ob;
        float *y = out + bt * M * N;
        if (blas)
            matmul_blas(a, b, y, M, K, N);
        for (int64_t m = 0; m < M && !blas; m++) {
            memset(y + m * N, 0, (size_t)N * sizeof *y);
            for (int64_t k = 0; k < K; k++) {
                float av = a[m * K + k];
                for (int64_t j = 0; j < N; j++)
                    y[m * N + j] += av * b[k * N + j];
            }
        }
        for (int d = rbatch - 1; d >= 0; d--) {
            oa += sa[d];
            ob += sb[d];
            if (++idx[d] < bdims[d])
                break;
            oa -= sa[d] * bdims[d];
            ob -= sb[d] * bdims[d];
            idx[d] = 0;
        }
    }
}

SNN_KERNEL(matmul)
{
    matmul_f32(g, n, (const float *const *)in, out, false);
    return SNN_OK;
}

snn_status snn_kernel_matmul_blas(const snn_graph *g, const snn_node *n, const void *const *in,
                                  void *out, snn_diag *diag)
{
    (void)diag;
    matmul_f32(g, n, (const float *const *)in, out, snn_blas_available());
    return SNN_OK;
}
