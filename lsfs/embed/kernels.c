/*
 * kernels.c - the compute kernels of the encoder and the vector index, as a
 * table of implementations picked at run time: "scalar" (the plain C
 * reference every other row is tested against), "avx2" (AVX2 + FMA) and
 * "avx512" (AVX-512F matmul and dot products), each compiled with a target
 * attribute and used only when the CPU has the features.
 *
 * Owns nothing mutable: every kernel is a pure function of its arguments,
 * so any thread may call any of them at once.  Also packs linear-layer
 * weights into the panel layout the SIMD matmul reads (done once at load).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>

#include "lsfs/embed/embed_int.h"

void *lsfs__alloc(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? (bytes + 63) & ~(size_t)63 : 64) != 0)
        return NULL;
    return p;
}

void lsfs__free(void *p)
{
    free(p);
}

/*
 * Pack W [out][in] into panels of LSFS_PANEL output columns:
 * packed[p][k][j] = W[p*LSFS_PANEL + j][k].  The SIMD kernel then reads one
 * panel row (16 consecutive floats) per k for 16 outputs at once.
 */
int lsfs__linear_pack(lsfs__linear *l)
{
    if (l->out % LSFS_PANEL != 0)
        return AIOS_EINVAL;
    l->packed = lsfs__alloc((size_t)l->out * (size_t)l->in * sizeof(float));
    if (!l->packed)
        return AIOS_ENOMEM;
    for (int p = 0; p < l->out / LSFS_PANEL; p++)
        for (int k = 0; k < l->in; k++)
            for (int j = 0; j < LSFS_PANEL; j++)
                l->packed[((size_t)p * l->in + k) * LSFS_PANEL + j] =
                    l->w[(size_t)(p * LSFS_PANEL + j) * l->in + k];
    return 0;
}

void lsfs__linear_unpack(lsfs__linear *l)
{
    lsfs__free(l->packed);
    l->packed = NULL;
}

/* ---- scalar reference ------------------------------------------------------- */

static bool scalar_supported(void)
{
    return true;
}

static void scalar_linear(const lsfs__linear *l, const float *x, int T, float *y)
{
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * l->in;
        for (int o = 0; o < l->out; o++) {
            const float *wr = l->w + (size_t)o * l->in;
            float acc = 0.0f;
            for (int k = 0; k < l->in; k++)
                acc += xr[k] * wr[k];
            y[(size_t)t * l->out + o] = acc + l->b[o];
        }
    }
}

static void scalar_gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

static void scalar_layernorm(float *x, const float *r, const float *g, const float *b, int D,
                             float eps)
{
    if (r)
        for (int i = 0; i < D; i++)
            x[i] += r[i];
    float mean = 0.0f, var = 0.0f;
    for (int i = 0; i < D; i++)
        mean += x[i];
    mean /= (float)D;
    for (int i = 0; i < D; i++)
        var += (x[i] - mean) * (x[i] - mean);
    float inv = 1.0f / sqrtf(var / (float)D + eps);
    for (int i = 0; i < D; i++)
        x[i] = (x[i] - mean) * inv * g[i] + b[i];
}

static void scalar_softmax(float *x, int n)
{
    float mx = -INFINITY, sum = 0.0f;
    for (int i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    for (int i = 0; i < n; i++)
        x[i] /= sum;
}

static void scalar_qk(const float *q, const float *kt, int hd, int ld, int n, float *scores)
{
    for (int j = 0; j < n; j++) {
        float acc = 0.0f;
        for (int d = 0; d < hd; d++)
            acc += q[d] * kt[(size_t)d * ld + j];
        scores[j] = acc;
    }
}

static void scalar_pv(const float *p, const float *v, int ldv, int n, int hd, float *out)
{
    for (int d = 0; d < hd; d++)
        out[d] = 0.0f;
    for (int j = 0; j < n; j++)
        for (int d = 0; d < hd; d++)
            out[d] += p[j] * v[(size_t)j * ldv + d];
}

static void scalar_qk4(const float *q, int ldq, const float *kt, int hd, int ld, int n,
                       float *scores, int lds)
{
    for (int r = 0; r < 4; r++)
        scalar_qk(q + (size_t)r * ldq, kt, hd, ld, n, scores + (size_t)r * lds);
}

static void scalar_pv4(const float *p, int ldp, const float *v, int ldv, int n, int hd,
                       float *out, int ldo)
{
    for (int r = 0; r < 4; r++)
        scalar_pv(p + (size_t)r * ldp, v, ldv, n, hd, out + (size_t)r * ldo);
}

static float scalar_dot(const float *a, const float *b, int n)
{
    float acc = 0.0f;
    for (int i = 0; i < n; i++)
        acc += a[i] * b[i];
    return acc;
}

static void scalar_dot_many(const float *q, const float *base, int dim, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = scalar_dot(q, base + i * (size_t)dim, dim);
}

/* ---- AVX2 + FMA ------------------------------------------------------------- */

#define AVX2 __attribute__((target("avx2,fma")))

static bool avx2_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

AVX2 static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/*
 * e^x for 8 floats: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two parts
 * for an exact product), e^r by its degree-6 Taylor polynomial (relative error
 * below 2e-7 on that interval), 2^n built in the exponent bits.  Inputs are
 * clamped to the range where the result is a normal float.
 */
AVX2 static inline __m256 exp256(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
                                  23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/*
 * erf for 8 floats by Abramowitz & Stegun 7.1.26: for z >= 0,
 * erf(z) = 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) e^{-z^2},
 * t = 1 / (1 + p z), absolute error below 1.5e-7; odd symmetry for z < 0.
 */
AVX2 static inline __m256 erf256(__m256 z)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 s = _mm256_and_ps(z, sign);
    __m256 a = _mm256_andnot_ps(sign, z);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                             _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), a, _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    __m256 e = exp256(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), a), a));
    __m256 r = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0f));
    return _mm256_or_ps(r, s);
}

AVX2 static void avx2_gelu(float *x, size_t n)
{
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256 rs2 = _mm256_set1_ps((float)M_SQRT1_2);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 g = _mm256_mul_ps(_mm256_mul_ps(half, v),
                                 _mm256_add_ps(one, erf256(_mm256_mul_ps(v, rs2))));
        _mm256_storeu_ps(x + i, g);
    }
    for (; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

/* Two passes as the scalar one (mean, then centred variance), 8 lanes wide. */
AVX2 static void avx2_layernorm(float *x, const float *r, const float *g, const float *b, int D,
                                float eps)
{
    if (D % 8 != 0) {
        scalar_layernorm(x, r, g, b, D, eps);
        return;
    }
    __m256 s = _mm256_setzero_ps();
    for (int i = 0; i < D; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        if (r) {
            v = _mm256_add_ps(v, _mm256_loadu_ps(r + i));
            _mm256_storeu_ps(x + i, v);
        }
        s = _mm256_add_ps(s, v);
    }
    __m256 mean = _mm256_set1_ps(hsum256(s) / (float)D), q = _mm256_setzero_ps();
    for (int i = 0; i < D; i += 8) {
        __m256 c = _mm256_sub_ps(_mm256_loadu_ps(x + i), mean);
        q = _mm256_fmadd_ps(c, c, q);
    }
    __m256 inv = _mm256_set1_ps(1.0f / sqrtf(hsum256(q) / (float)D + eps));
    for (int i = 0; i < D; i += 8) {
        __m256 c = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mean), inv);
        _mm256_storeu_ps(x + i, _mm256_fmadd_ps(c, _mm256_loadu_ps(g + i), _mm256_loadu_ps(b + i)));
    }
}

AVX2 static void avx2_softmax(float *x, int n)
{
    int i = 0;
    __m256 vmx = _mm256_set1_ps(-INFINITY);
    for (; i + 8 <= n; i += 8)
        vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(x + i));
    float mx = -INFINITY;
    float lanes[8];
    _mm256_storeu_ps(lanes, vmx);
    for (int j = 0; j < 8; j++)
        mx = lanes[j] > mx ? lanes[j] : mx;
    for (; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    __m256 vm = _mm256_set1_ps(mx), vs = _mm256_setzero_ps();
    float sum = 0.0f;
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        vs = _mm256_add_ps(vs, e);
    }
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    sum += hsum256(vs);
    __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++)
        x[i] *= 1.0f / sum;
}

AVX2 static void avx2_qk(const float *q, const float *kt, int hd, int ld, int n, float *scores)
{
    int j = 0;
    /* 64 keys at a time: eight independent FMA chains hide the latency. */
    for (; j + 64 <= n; j += 64) {
        __m256 a[8];
#pragma GCC unroll 8
        for (int u = 0; u < 8; u++)
            a[u] = _mm256_setzero_ps();
        for (int d = 0; d < hd; d++) {
            __m256 qd = _mm256_broadcast_ss(q + d);
            const float *row = kt + (size_t)d * ld + j;
#pragma GCC unroll 8
            for (int u = 0; u < 8; u++)
                a[u] = _mm256_fmadd_ps(qd, _mm256_loadu_ps(row + 8 * u), a[u]);
        }
#pragma GCC unroll 8
        for (int u = 0; u < 8; u++)
            _mm256_storeu_ps(scores + j + 8 * u, a[u]);
    }
    for (; j + 16 <= n; j += 16) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        for (int d = 0; d < hd; d++) {
            __m256 qd = _mm256_broadcast_ss(q + d);
            a0 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kt + (size_t)d * ld + j), a0);
            a1 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kt + (size_t)d * ld + j + 8), a1);
        }
        _mm256_storeu_ps(scores + j, a0);
        _mm256_storeu_ps(scores + j + 8, a1);
    }
    for (; j + 8 <= n; j += 8) {
        __m256 a0 = _mm256_setzero_ps();
        for (int d = 0; d < hd; d++)
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(q + d),
                                 _mm256_loadu_ps(kt + (size_t)d * ld + j), a0);
        _mm256_storeu_ps(scores + j, a0);
    }
    for (; j < n; j++) {
        float acc = 0.0f;
        for (int d = 0; d < hd; d++)
            acc += q[d] * kt[(size_t)d * ld + j];
        scores[j] = acc;
    }
}

AVX2 static void avx2_pv(const float *p, const float *v, int ldv, int n, int hd, float *out)
{
    if (hd != 32) {
        scalar_pv(p, v, ldv, n, hd, out);
        return;
    }
    /* Two rows of V per step into separate accumulators: eight chains. */
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
    __m256 b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
    int j = 0;
    for (; j + 2 <= n; j += 2) {
        const float *vr = v + (size_t)j * ldv, *vs = vr + ldv;
        __m256 pj = _mm256_broadcast_ss(p + j), pk = _mm256_broadcast_ss(p + j + 1);
        a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr), a0);
        a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 8), a1);
        a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 16), a2);
        a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 24), a3);
        b0 = _mm256_fmadd_ps(pk, _mm256_loadu_ps(vs), b0);
        b1 = _mm256_fmadd_ps(pk, _mm256_loadu_ps(vs + 8), b1);
        b2 = _mm256_fmadd_ps(pk, _mm256_loadu_ps(vs + 16), b2);
        b3 = _mm256_fmadd_ps(pk, _mm256_loadu_ps(vs + 24), b3);
    }
    if (j < n) {
        const float *vr = v + (size_t)j * ldv;
        __m256 pj = _mm256_broadcast_ss(p + j);
        a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr), a0);
        a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 8), a1);
        a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 16), a2);
        a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 24), a3);
    }
    _mm256_storeu_ps(out, _mm256_add_ps(a0, b0));
    _mm256_storeu_ps(out + 8, _mm256_add_ps(a1, b1));
    _mm256_storeu_ps(out + 16, _mm256_add_ps(a2, b2));
    _mm256_storeu_ps(out + 24, _mm256_add_ps(a3, b3));
}

/* Scores of 4 queries against 16 keys per step: 8 independent FMA chains,
 * each key load shared by the 4 queries. */
AVX2 static void avx2_qk4(const float *q, int ldq, const float *kt, int hd, int ld, int n,
                          float *scores, int lds)
{
    for (int j = 0; j < n; j += 16) {
        __m256 a[4][2];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            a[r][0] = a[r][1] = _mm256_setzero_ps();
        for (int d = 0; d < hd; d++) {
            const float *row = kt + (size_t)d * ld + j;
            __m256 k0 = _mm256_loadu_ps(row), k1 = _mm256_loadu_ps(row + 8);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                __m256 qd = _mm256_broadcast_ss(q + (size_t)r * ldq + d);
                a[r][0] = _mm256_fmadd_ps(qd, k0, a[r][0]);
                a[r][1] = _mm256_fmadd_ps(qd, k1, a[r][1]);
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            _mm256_storeu_ps(scores + (size_t)r * lds + j, a[r][0]);
            _mm256_storeu_ps(scores + (size_t)r * lds + j + 8, a[r][1]);
        }
    }
}

/* Weighted sums of V rows for 4 queries, 16 output columns per pass: each V
 * load is shared by the 4 queries, 8 independent FMA chains. */
AVX2 static void avx2_pv4(const float *p, int ldp, const float *v, int ldv, int n, int hd,
                          float *out, int ldo)
{
    if (hd % 16 != 0) {
        scalar_pv4(p, ldp, v, ldv, n, hd, out, ldo);
        return;
    }
    for (int c = 0; c < hd; c += 16) {
        __m256 a[4][2];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            a[r][0] = a[r][1] = _mm256_setzero_ps();
        for (int j = 0; j < n; j++) {
            const float *vr = v + (size_t)j * ldv + c;
            __m256 v0 = _mm256_loadu_ps(vr), v1 = _mm256_loadu_ps(vr + 8);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                __m256 pj = _mm256_broadcast_ss(p + (size_t)r * ldp + j);
                a[r][0] = _mm256_fmadd_ps(pj, v0, a[r][0]);
                a[r][1] = _mm256_fmadd_ps(pj, v1, a[r][1]);
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            _mm256_storeu_ps(out + (size_t)r * ldo + c, a[r][0]);
            _mm256_storeu_ps(out + (size_t)r * ldo + c + 8, a[r][1]);
        }
    }
}

AVX2 static float avx2_dot(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float acc = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++)
        acc += a[i] * b[i];
    return acc;
}

/* Dot products of q with 4 rows at a time: q is loaded once per 4 rows. */
AVX2 static void avx2_dot_many(const float *q, const float *base, int dim, size_t n, float *out)
{
    size_t i = 0;
    if (dim % 8 == 0) {
        for (; i + 4 <= n; i += 4) {
            const float *r0 = base + i * (size_t)dim, *r1 = r0 + dim, *r2 = r1 + dim, *r3 = r2 + dim;
            __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
            __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
            for (int d = 0; d < dim; d += 8) {
                __m256 qv = _mm256_loadu_ps(q + d);
                s0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r0 + d), s0);
                s1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r1 + d), s1);
                s2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r2 + d), s2);
                s3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r3 + d), s3);
            }
            out[i] = hsum256(s0);
            out[i + 1] = hsum256(s1);
            out[i + 2] = hsum256(s2);
            out[i + 3] = hsum256(s3);
        }
    }
    for (; i < n; i++)
        out[i] = avx2_dot(q, base + i * (size_t)dim, dim);
}

/*
 * Micro-kernel: R (1..6) rows of x times one 16-column panel, plus bias.
 * acc[r] holds y[r][0..15] in two registers; per k one panel row is loaded
 * and each x[r][k] broadcast: 2R FMAs per 2 + R loads.
 */
AVX2 static inline __attribute__((always_inline)) void
mk_rows(const float *x, int ldx, const float *panel, int K, const float *bias, float *y, int ldy,
        const int R)
{
    __m256 acc[6][2];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        acc[r][0] = _mm256_loadu_ps(bias);
        acc[r][1] = _mm256_loadu_ps(bias + 8);
    }
    for (int k = 0; k < K; k++) {
        __m256 w0 = _mm256_load_ps(panel + (size_t)k * LSFS_PANEL);
        __m256 w1 = _mm256_load_ps(panel + (size_t)k * LSFS_PANEL + 8);
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            __m256 xb = _mm256_broadcast_ss(x + (size_t)r * ldx + k);
            acc[r][0] = _mm256_fmadd_ps(xb, w0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(xb, w1, acc[r][1]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        _mm256_storeu_ps(y + (size_t)r * ldy, acc[r][0]);
        _mm256_storeu_ps(y + (size_t)r * ldy + 8, acc[r][1]);
    }
}

/* Rows of x are taken in blocks that stay in L2 while every panel (which
 * fits L1 for in = 384) streams past them 6 rows at a time. */
#define ROW_BLOCK 96

AVX2 static void avx2_linear(const lsfs__linear *l, const float *x, int T, float *y)
{
    const int K = l->in, N = l->out, np = N / LSFS_PANEL;
    for (int t0 = 0; t0 < T; t0 += ROW_BLOCK) {
        int t1 = t0 + ROW_BLOCK < T ? t0 + ROW_BLOCK : T;
        for (int p = 0; p < np; p++) {
            const float *panel = l->packed + (size_t)p * K * LSFS_PANEL;
            const float *bias = l->b + p * LSFS_PANEL;
            int t = t0;
            for (; t + 6 <= t1; t += 6)
                mk_rows(x + (size_t)t * K, K, panel, K, bias, y + (size_t)t * N + p * LSFS_PANEL,
                        N, 6);
            const float *xr = x + (size_t)t * K;
            float *yr = y + (size_t)t * N + p * LSFS_PANEL;
            switch (t1 - t) {
            case 5: mk_rows(xr, K, panel, K, bias, yr, N, 5); break;
            case 4: mk_rows(xr, K, panel, K, bias, yr, N, 4); break;
            case 3: mk_rows(xr, K, panel, K, bias, yr, N, 3); break;
            case 2: mk_rows(xr, K, panel, K, bias, yr, N, 2); break;
            case 1: mk_rows(xr, K, panel, K, bias, yr, N, 1); break;
            default: break;
            }
        }
    }
}

/* ---- AVX-512 (F) ------------------------------------------------------------- */

#define AVX512 __attribute__((target("avx512f,avx2,fma")))

static bool avx512_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && avx2_supported();
}

AVX512 static float avx512_dot(const float *a, const float *b, int n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    float acc = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < n; i++)
        acc += a[i] * b[i];
    return acc;
}

AVX512 static void avx512_dot_many(const float *q, const float *base, int dim, size_t n,
                                   float *out)
{
    size_t i = 0;
    if (dim % 16 == 0) {
        for (; i + 4 <= n; i += 4) {
            const float *r0 = base + i * (size_t)dim, *r1 = r0 + dim, *r2 = r1 + dim, *r3 = r2 + dim;
            __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
            __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
            for (int d = 0; d < dim; d += 16) {
                __m512 qv = _mm512_loadu_ps(q + d);
                s0 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r0 + d), s0);
                s1 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r1 + d), s1);
                s2 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r2 + d), s2);
                s3 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r3 + d), s3);
            }
            out[i] = _mm512_reduce_add_ps(s0);
            out[i + 1] = _mm512_reduce_add_ps(s1);
            out[i + 2] = _mm512_reduce_add_ps(s2);
            out[i + 3] = _mm512_reduce_add_ps(s3);
        }
    }
    for (; i < n; i++)
        out[i] = avx512_dot(q, base + i * (size_t)dim, dim);
}

/* e^x for 16 floats: the same reduction and polynomial as exp256. */
AVX512 static inline __m512 exp512(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)),
                                  23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

AVX512 static void avx512_softmax(float *x, int n)
{
    int i = 0;
    __m512 vmx = _mm512_set1_ps(-INFINITY);
    for (; i + 16 <= n; i += 16)
        vmx = _mm512_max_ps(vmx, _mm512_loadu_ps(x + i));
    float mx = _mm512_reduce_max_ps(vmx);
    for (; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    __m512 vm = _mm512_set1_ps(mx), vs = _mm512_setzero_ps();
    float sum = 0.0f;
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
        _mm512_storeu_ps(x + i, e);
        vs = _mm512_add_ps(vs, e);
    }
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    sum += _mm512_reduce_add_ps(vs);
    __m512 inv = _mm512_set1_ps(1.0f / sum);
    for (i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
    for (; i < n; i++)
        x[i] *= 1.0f / sum;
}

/* qk4 16 lanes wide: 4 queries x 32 keys per step, 8 FMA chains. */
AVX512 static void avx512_qk4(const float *q, int ldq, const float *kt, int hd, int ld, int n,
                              float *scores, int lds)
{
    int j = 0;
    for (; j + 32 <= n; j += 32) {
        __m512 a[4][2];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            a[r][0] = a[r][1] = _mm512_setzero_ps();
        for (int d = 0; d < hd; d++) {
            const float *row = kt + (size_t)d * ld + j;
            __m512 k0 = _mm512_loadu_ps(row), k1 = _mm512_loadu_ps(row + 16);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                __m512 qd = _mm512_set1_ps(q[(size_t)r * ldq + d]);
                a[r][0] = _mm512_fmadd_ps(qd, k0, a[r][0]);
                a[r][1] = _mm512_fmadd_ps(qd, k1, a[r][1]);
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            _mm512_storeu_ps(scores + (size_t)r * lds + j, a[r][0]);
            _mm512_storeu_ps(scores + (size_t)r * lds + j + 16, a[r][1]);
        }
    }
    if (j < n)   /* the last 16 (kt rows and score rows are padded to 16) */
        avx2_qk4(q, ldq, kt + j, hd, ld, n - j, scores + j, lds);
}

/* pv4 16 lanes wide for head size 32: 4 queries x 2 registers, 2 rows of V
 * per step so 16 FMA chains are in flight. */
AVX512 static void avx512_pv4(const float *p, int ldp, const float *v, int ldv, int n, int hd,
                              float *out, int ldo)
{
    if (hd != 32) {
        avx2_pv4(p, ldp, v, ldv, n, hd, out, ldo);
        return;
    }
    __m512 a[4][2], b[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
        a[r][0] = a[r][1] = b[r][0] = b[r][1] = _mm512_setzero_ps();
    int j = 0;
    for (; j + 2 <= n; j += 2) {
        const float *vr = v + (size_t)j * ldv, *vs = vr + ldv;
        __m512 v0 = _mm512_loadu_ps(vr), v1 = _mm512_loadu_ps(vr + 16);
        __m512 w0 = _mm512_loadu_ps(vs), w1 = _mm512_loadu_ps(vs + 16);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m512 pj = _mm512_set1_ps(p[(size_t)r * ldp + j]);
            __m512 pk = _mm512_set1_ps(p[(size_t)r * ldp + j + 1]);
            a[r][0] = _mm512_fmadd_ps(pj, v0, a[r][0]);
            a[r][1] = _mm512_fmadd_ps(pj, v1, a[r][1]);
            b[r][0] = _mm512_fmadd_ps(pk, w0, b[r][0]);
            b[r][1] = _mm512_fmadd_ps(pk, w1, b[r][1]);
        }
    }
    if (j < n) {
        const float *vr = v + (size_t)j * ldv;
        __m512 v0 = _mm512_loadu_ps(vr), v1 = _mm512_loadu_ps(vr + 16);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m512 pj = _mm512_set1_ps(p[(size_t)r * ldp + j]);
            a[r][0] = _mm512_fmadd_ps(pj, v0, a[r][0]);
            a[r][1] = _mm512_fmadd_ps(pj, v1, a[r][1]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        _mm512_storeu_ps(out + (size_t)r * ldo, _mm512_add_ps(a[r][0], b[r][0]));
        _mm512_storeu_ps(out + (size_t)r * ldo + 16, _mm512_add_ps(a[r][1], b[r][1]));
    }
}

/*
 * Micro-kernel: R (1..12) rows of x times P (1 or 2) adjacent 16-column
 * panels, plus bias: per k, P panel rows are loaded and each x[r][k]
 * broadcast, R*P FMAs (24 accumulators of 32 registers at R=12, P=2).
 */
AVX512 static inline __attribute__((always_inline)) void
mk512(const float *x, int ldx, const float *panel, size_t pstride, int K, const float *bias,
      float *y, int ldy, const int R, const int P)
{
    __m512 acc[12][2];
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int p = 0; p < P; p++)
            acc[r][p] = _mm512_loadu_ps(bias + 16 * p);
    for (int k = 0; k < K; k++) {
        __m512 w[2];
#pragma GCC unroll 2
        for (int p = 0; p < P; p++)
            w[p] = _mm512_load_ps(panel + p * pstride + (size_t)k * LSFS_PANEL);
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
            __m512 xb = _mm512_set1_ps(x[(size_t)r * ldx + k]);
#pragma GCC unroll 2
            for (int p = 0; p < P; p++)
                acc[r][p] = _mm512_fmadd_ps(xb, w[p], acc[r][p]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int p = 0; p < P; p++)
            _mm512_storeu_ps(y + (size_t)r * ldy + 16 * p, acc[r][p]);
}

/* The rows left over after blocks of 12, for P panels. */
AVX512 static inline __attribute__((always_inline)) void
mk512_tail(const float *x, int ldx, const float *panel, size_t pstride, int K, const float *bias,
           float *y, int ldy, int rows, const int P)
{
    switch (rows) {
    case 11: mk512(x, ldx, panel, pstride, K, bias, y, ldy, 11, P); break;
    case 10: mk512(x, ldx, panel, pstride, K, bias, y, ldy, 10, P); break;
    case 9: mk512(x, ldx, panel, pstride, K, bias, y, ldy, 9, P); break;
    case 8: mk512(x, ldx, panel, pstride, K, bias, y, ldy, 8, P); break;
    case 7: mk512(x, ldx, panel, pstride, K, bias, y, ldy, 7, P); break;
    case 6: mk512(x, ldx, panel, pstride, K, bias, y, ldy, 6, P); break;
    case 5: mk512(x, ldx, panel, pstride, K, bias, y, ldy, 5, P); break;
    case 4: mk512(x, ldx, panel, pstride, K, bias, y, ldy, 4, P); break;
    case 3: mk512(x, ldx, panel, pstride, K, bias, y, ldy, 3, P); break;
    case 2: mk512(x, ldx, panel, pstride, K, bias, y, ldy, 2, P); break;
    case 1: mk512(x, ldx, panel, pstride, K, bias, y, ldy, 1, P); break;
    default: break;
    }
}

AVX512 static void avx512_linear(const lsfs__linear *l, const float *x, int T, float *y)
{
    const int K = l->in, N = l->out, np = N / LSFS_PANEL;
    const size_t pstride = (size_t)K * LSFS_PANEL;
    for (int t0 = 0; t0 < T; t0 += ROW_BLOCK) {
        int t1 = t0 + ROW_BLOCK < T ? t0 + ROW_BLOCK : T;
        int p = 0;
        for (; p + 2 <= np; p += 2) {
            const float *panel = l->packed + (size_t)p * pstride;
            const float *bias = l->b + p * LSFS_PANEL;
            int t = t0;
            for (; t + 12 <= t1; t += 12)
                mk512(x + (size_t)t * K, K, panel, pstride, K, bias,
                      y + (size_t)t * N + p * LSFS_PANEL, N, 12, 2);
            mk512_tail(x + (size_t)t * K, K, panel, pstride, K, bias,
                       y + (size_t)t * N + p * LSFS_PANEL, N, t1 - t, 2);
        }
        for (; p < np; p++) {
            const float *panel = l->packed + (size_t)p * pstride;
            const float *bias = l->b + p * LSFS_PANEL;
            int t = t0;
            for (; t + 12 <= t1; t += 12)
                mk512(x + (size_t)t * K, K, panel, pstride, K, bias,
                      y + (size_t)t * N + p * LSFS_PANEL, N, 12, 1);
            mk512_tail(x + (size_t)t * K, K, panel, pstride, K, bias,
                       y + (size_t)t * N + p * LSFS_PANEL, N, t1 - t, 1);
        }
    }
}

/* ---- the table -------------------------------------------------------------- */

/* Best first: "auto" takes the first row the CPU supports.  The AVX-512 row
 * reuses the AVX2 GELU, LayerNorm and single-query kernels (small shares). */
static const lsfs__kernels kernel_table[] = {
    {"avx512", avx512_supported, avx512_linear, avx2_gelu, avx2_layernorm, avx512_softmax,
     avx2_qk, avx2_pv, avx512_qk4, avx512_pv4, avx512_dot, avx512_dot_many},
    {"avx2", avx2_supported, avx2_linear, avx2_gelu, avx2_layernorm, avx2_softmax, avx2_qk,
     avx2_pv, avx2_qk4, avx2_pv4, avx2_dot, avx2_dot_many},
    {"scalar", scalar_supported, scalar_linear, scalar_gelu, scalar_layernorm, scalar_softmax,
     scalar_qk, scalar_pv, scalar_qk4, scalar_pv4, scalar_dot, scalar_dot_many},
};

const lsfs__kernels *lsfs__kernels_pick(const char *name)
{
    for (size_t i = 0; i < sizeof kernel_table / sizeof kernel_table[0]; i++) {
        const lsfs__kernels *k = &kernel_table[i];
        if ((!name || !*name || strcmp(name, "auto") == 0 || strcmp(name, k->name) == 0) &&
            k->supported())
            return k;
    }
    return NULL;
}
