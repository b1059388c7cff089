// Winograd transforms F(2x2, 3x3) and F(4x4, 3x3) for 3x3 stride-1 padding-1 convolutions
// (see glimpse_winograd.h for the layouts). Lavin & Gray's matrices.
//
// The transforms run channels-last: a tile row's image rows are first copied to a strip
// [rows][W][C], so that every step of a tile's 2-D transform (two passes of a 1-D transform)
// is a loop over C (or O) contiguous floats, as long as the layer is wide, whatever the
// image size. The transformed matrices are channels-last too ([alpha²][tiles][C]), which
// suits the sgemms as well. The 1-D loops are written once and compiled three times
// (AVX-512, AVX2 + FMA, baseline), chosen once at run time.
#include "glimpse_winograd.h"
#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
// The 1-D transforms read and write distinct rows: no aliasing checks needed.
#define VECTORIZE _Pragma("clang loop vectorize(assume_safety)")
#define AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define AVX2 __attribute__((target("avx2,fma")))

// MARK: 1-D transforms over n lanes

// Bᵀ (alpha x alpha): o = Bᵀ·d, lane by lane.
INLINE void input_1d(const int m, const float *const d[6], float *const o[6], long n) {
    if (m == 4) {
        const float *d0 = d[0], *d1 = d[1], *d2 = d[2], *d3 = d[3], *d4 = d[4], *d5 = d[5];
        float *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3], *o4 = o[4], *o5 = o[5];
        VECTORIZE for (long x = 0; x < n; x++) {
            const float a0 = d0[x], a1 = d1[x], a2 = d2[x], a3 = d3[x], a4 = d4[x], a5 = d5[x];
            o0[x] = (4.0f * a0 - 5.0f * a2) + a4;
            o1[x] = (a3 + a4) - 4.0f * (a1 + a2);
            o2[x] = (a4 - a3) + 4.0f * (a1 - a2);
            o3[x] = (a4 - a2) + 2.0f * (a3 - a1);
            o4[x] = (a4 - a2) + 2.0f * (a1 - a3);
            o5[x] = (4.0f * a1 - 5.0f * a3) + a5;
        }
    } else {
        const float *d0 = d[0], *d1 = d[1], *d2 = d[2], *d3 = d[3];
        float *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3];
        VECTORIZE for (long x = 0; x < n; x++) {
            const float a0 = d0[x], a1 = d1[x], a2 = d2[x], a3 = d3[x];
            o0[x] = a0 - a2;
            o1[x] = a1 + a2;
            o2[x] = a2 - a1;
            o3[x] = a1 - a3;
        }
    }
}

// Aᵀ (m x alpha): y = Aᵀ·s.
INLINE void output_1d(const int m, const float *const s[6], float *const y[4], long n) {
    if (m == 4) {
        const float *s0 = s[0], *s1 = s[1], *s2 = s[2], *s3 = s[3], *s4 = s[4], *s5 = s[5];
        float *y0 = y[0], *y1 = y[1], *y2 = y[2], *y3 = y[3];
        VECTORIZE for (long x = 0; x < n; x++) {
            const float a1 = s1[x], a2 = s2[x], a3 = s3[x], a4 = s4[x];
            const float plus12 = a1 + a2, minus12 = a1 - a2, plus34 = a3 + a4, minus34 = a3 - a4;
            y0[x] = (s0[x] + plus12) + plus34;
            y1[x] = minus12 + 2.0f * minus34;
            y2[x] = plus12 + 4.0f * plus34;
            y3[x] = (minus12 + 8.0f * minus34) + s5[x];
        }
    } else {
        const float *s0 = s[0], *s1 = s[1], *s2 = s[2], *s3 = s[3];
        float *y0 = y[0], *y1 = y[1];
        VECTORIZE for (long x = 0; x < n; x++) {
            const float a1 = s1[x], a2 = s2[x];
            y0[x] = (s0[x] + a1) + a2;
            y1[x] = (a1 - a2) - s3[x];
        }
    }
}

// A (alpha x m), the adjoint of Aᵀ: z = A·y.
INLINE void output_adjoint_1d(const int m, const float *const y[4], float *const z[6], long n) {
    if (m == 4) {
        const float *y0 = y[0], *y1 = y[1], *y2 = y[2], *y3 = y[3];
        float *z0 = z[0], *z1 = z[1], *z2 = z[2], *z3 = z[3], *z4 = z[4], *z5 = z[5];
        VECTORIZE for (long x = 0; x < n; x++) {
            const float a0 = y0[x], a1 = y1[x], a2 = y2[x], a3 = y3[x];
            const float even = a0 + a2, odd = a1 + a3;
            const float even4 = a0 + 4.0f * a2, odd8 = 2.0f * a1 + 8.0f * a3;
            z0[x] = a0;
            z1[x] = even + odd;
            z2[x] = even - odd;
            z3[x] = even4 + odd8;
            z4[x] = even4 - odd8;
            z5[x] = a3;
        }
    } else {
        const float *y0 = y[0], *y1 = y[1];
        float *z0 = z[0], *z1 = z[1], *z2 = z[2], *z3 = z[3];
        VECTORIZE for (long x = 0; x < n; x++) {
            const float a0 = y0[x], a1 = y1[x];
            z0[x] = a0;
            z1[x] = a0 + a1;
            z2[x] = a0 - a1;
            z3[x] = -a1;
        }
    }
}

// MARK: Layout changes between NCHW rows and channels-last strips

// dst[i][j] = src[j][i] + offset[i] for an 8 x 8 block (rows srcStride and dstStride floats apart),
// then max(·, 0) when `relu` (NaN stays NaN).
static inline AVX2 void transpose8(const float *src, long srcStride, float *dst, long dstStride, const float *offset,
                                   int relu) {
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * srcStride);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        __m256 low = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20), high = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
        if (offset) {
            low = _mm256_add_ps(low, _mm256_broadcast_ss(offset + i));
            high = _mm256_add_ps(high, _mm256_broadcast_ss(offset + i + 4));
        }
        if (relu) {
            // maxps returns its second operand when either is NaN.
            low = _mm256_max_ps(_mm256_setzero_ps(), low);
            high = _mm256_max_ps(_mm256_setzero_ps(), high);
        }
        _mm256_storeu_ps(dst + i * dstStride, low);
        _mm256_storeu_ps(dst + (i + 4) * dstStride, high);
    }
}

// max(value, 0), NaN staying NaN: ReLU.
INLINE float rectified(float value) { return value < 0.0f ? 0.0f : value; }

// dst[x][c] = src[c][x] + offset[x] (offset may be null) for x < columns, c < rows, rectified
// when `relu`; 8 x 8 blocks by AVX2 when `vectors`, the rest (and everything on the baseline) one by one.

INLINE void transpose(const int vectors, const float *src, long srcStride, int rows, int columns, float *dst,
                      long dstStride, const float *offset, int relu) {
    int r0 = 0;
    if (vectors) {
        for (; r0 + 8 <= rows; r0 += 8) {
            int c0 = 0;
            for (; c0 + 8 <= columns; c0 += 8)
                transpose8(src + (long)r0 * srcStride + c0, srcStride, dst + (long)c0 * dstStride + r0, dstStride,
                           offset ? offset + c0 : 0, relu);
            for (int c = c0; c < columns; c++)
                for (int r = r0; r < r0 + 8; r++) {
                    const float value = src[(long)r * srcStride + c] + (offset ? offset[c] : 0.0f);
                    dst[(long)c * dstStride + r] = relu ? rectified(value) : value;
                }
        }
    }
    for (int r = r0; r < rows; r++)
        for (int c = 0; c < columns; c++) {
            const float value = src[(long)r * srcStride + c] + (offset ? offset[c] : 0.0f);
            dst[(long)c * dstStride + r] = relu ? rectified(value) : value;
        }
}

// MARK: 2-D transforms of runs of tile rows, vectorised over channels
//
// Per tile row, the pass that combines rows runs once over the whole channels-last strip
// (every column, all channels: one long loop), and the pass that combines columns runs per
// tile, over C (or O) lanes, with the tile's columns m·C floats after the previous tile's.

// The 1-D transforms once per tile: tile t reads in[k] + t·inStride and writes out[k] + t·outStride.
#define PER_TILE(kernel, inCount, outCount)                                                               \
    for (int t = 0; t < tiles; t++) {                                                                     \
        const float *a[6];                                                                                \
        float *b[6];                                                                                      \
        for (int k = 0; k < (inCount); k++) a[k] = in[k] + t * inStride;                                  \
        for (int k = 0; k < (outCount); k++) b[k] = out[k] + t * outStride;                               \
        kernel(m, a, b, n);                                                                               \
    }

INLINE void input_1d_tiles(const int m, const float *const in[6], long inStride, float *const out[6], long outStride,
                           int tiles, long n) {
    PER_TILE(input_1d, m + 2, m + 2)
}

INLINE void output_1d_tiles(const int m, const float *const in[6], long inStride, float *const out[4], long outStride,
                            int tiles, long n) {
    PER_TILE(output_1d, m + 2, m)
}

INLINE void output_adjoint_1d_tiles(const int m, const float *const in[4], long inStride, float *const out[6],
                                    long outStride, int tiles, long n) {
    PER_TILE(output_adjoint_1d, m, m + 2)
}

long glimpse_winograd_scratch_count(int tile, int width, int channels) {
    const int alpha = tile + 2;
    const long tilesX = (width + tile - 1) / tile;
    // Two buffers of alpha channels-last rows, tilesX·m + 2 columns each.
    return 2L * alpha * (tilesX * tile + 2) * channels + 16;
}

INLINE void transform_input(const int m, const int vectors, const float *images, int channels, int height, int width,
                            int first, int count, float *transformed, long leading, float *scratch) {
    const int alpha = m + 2;
    const int tilesY = (height + m - 1) / m, tilesX = (width + m - 1) / m;
    const long planeSize = (long)height * width;
    // Image column x at strip column x + 1; columns 0 and W + 1 ... are the zero padding.
    const long columns = (long)tilesX * m + 2, rowSize = columns * channels;
    // [alpha slots][columns][C]: image row iy sits in slot (iy + 1) % alpha, so the two rows a
    // tile row shares with the one above stay where they are and are not moved again.
    float *slots = scratch;
    float *rows = scratch + alpha * rowSize;  // [alpha i][columns][C]: Bᵀ along rows
    long slotKey[6];
    for (int slot = 0; slot < alpha; slot++) slotKey[slot] = -1;
    const long plane = leading * channels;
    float *rowOutputs[6];
    for (int i = 0; i < alpha; i++) rowOutputs[i] = rows + i * rowSize;
    for (int row = first; row < first + count; row++) {
        const int image = row / tilesY, ty = row % tilesY;
        const long tile0 = (long)(row - first) * tilesX;
        const float *rowInputs[6];
        for (int r = 0; r < alpha; r++) {
            const int iy = m * ty - 1 + r, slot = (iy + 1) % alpha;
            const long key = (long)image * (tilesY * m + 4) + iy + 1;  // iy + 1 < tilesY·m + 3
            float *target = slots + slot * rowSize;
            rowInputs[r] = target;
            if (slotKey[slot] == key) continue;
            slotKey[slot] = key;
            if (iy < 0 || iy >= height) {
                memset(target, 0, sizeof(float) * (size_t)rowSize);
                continue;
            }
            memset(target, 0, sizeof(float) * (size_t)channels);
            transpose(vectors, images + (long)image * channels * planeSize + (long)iy * width, planeSize, channels, width,
                      target + channels, channels, 0, 0);
            memset(target + (width + 1L) * channels, 0, sizeof(float) * (size_t)(columns - width - 1) * channels);
        }
        input_1d(m, rowInputs, rowOutputs, rowSize);
        for (int i = 0; i < alpha; i++) {
            const float *in[6];
            float *out[6];
            for (int s = 0; s < alpha; s++) in[s] = rows + i * rowSize + (long)s * channels;
            for (int j = 0; j < alpha; j++) out[j] = transformed + (long)(i * alpha + j) * plane + tile0 * channels;
            input_1d_tiles(m, in, (long)m * channels, out, channels, tilesX, channels);
        }
    }
}

INLINE void transform_output(const int m, const int vectors, const float *products, long leading, int outputs,
                             int height, int width, int first, int count, const float *bias, int relu,
                             float *images, float *scratch) {
    const int alpha = m + 2;
    const int tilesY = (height + m - 1) / m, tilesX = (width + m - 1) / m;
    const long planeSize = (long)height * width;
    const long columns = (long)tilesX * m, rowSize = columns * outputs;
    float *partial = scratch;                    // [alpha i][columns][O]: Aᵀ along each tile's columns
    float *strip = scratch + alpha * rowSize;    // [m rows][columns][O]
    const long plane = leading * outputs;
    const float *partialRows[6];
    float *stripRows[4];
    for (int i = 0; i < alpha; i++) partialRows[i] = partial + i * rowSize;
    for (int a = 0; a < m; a++) stripRows[a] = strip + a * rowSize;
    for (int row = first; row < first + count; row++) {
        const int image = row / tilesY, ty = row % tilesY;
        const long tile0 = (long)(row - first) * tilesX;
        const int rowCount = height - m * ty < m ? height - m * ty : m;
        for (int i = 0; i < alpha; i++) {
            const float *in[6];
            float *out[4];
            for (int j = 0; j < alpha; j++) in[j] = products + (long)(i * alpha + j) * plane + tile0 * outputs;
            for (int b = 0; b < m; b++) out[b] = partial + i * rowSize + (long)b * outputs;
            output_1d_tiles(m, in, outputs, out, (long)m * outputs, tilesX, outputs);
        }
        output_1d(m, partialRows, stripRows, rowSize);
        for (int a = 0; a < rowCount; a++)
            transpose(vectors, strip + a * rowSize, outputs, width, outputs,
                      images + (long)image * outputs * planeSize + (long)(m * ty + a) * width, planeSize, bias, relu);
    }
}

INLINE void transform_output_gradient(const int m, const int vectors, const float *gradient, int outputs, int height,
                                      int width, int first, int count, float *transformed, long leading,
                                      float *scratch) {
    const int alpha = m + 2;
    const int tilesY = (height + m - 1) / m, tilesX = (width + m - 1) / m;
    const long planeSize = (long)height * width;
    const long columns = (long)tilesX * m, rowSize = columns * outputs;
    float *strip = scratch;                  // [m rows][columns][O], zero outside the image
    float *rows = scratch + alpha * rowSize; // [alpha i][columns][O]: A along rows
    const long plane = leading * outputs;
    const float *stripRows[4];
    float *rowOutputs[6];
    for (int a = 0; a < m; a++) stripRows[a] = strip + a * rowSize;
    for (int i = 0; i < alpha; i++) rowOutputs[i] = rows + i * rowSize;
    for (int row = first; row < first + count; row++) {
        const int image = row / tilesY, ty = row % tilesY;
        const long tile0 = (long)(row - first) * tilesX;
        for (int a = 0; a < m; a++) {
            float *target = strip + a * rowSize;
            if (m * ty + a < height) {
                transpose(vectors, gradient + (long)image * outputs * planeSize + (long)(m * ty + a) * width, planeSize,
                          outputs, width, target, outputs, 0, 0);
                memset(target + (long)width * outputs, 0, sizeof(float) * (size_t)(columns - width) * outputs);
            } else {
                memset(target, 0, sizeof(float) * (size_t)rowSize);
            }
        }
        output_adjoint_1d(m, stripRows, rowOutputs, rowSize);
        for (int i = 0; i < alpha; i++) {
            const float *in[4];
            float *out[6];
            for (int b = 0; b < m; b++) in[b] = rows + i * rowSize + (long)b * outputs;
            for (int j = 0; j < alpha; j++) out[j] = transformed + (long)(i * alpha + j) * plane + tile0 * outputs;
            output_adjoint_1d_tiles(m, in, (long)m * outputs, out, outputs, tilesX, outputs);
        }
    }
}

// MARK: Run-time choice of the vector code

static int vector_bits_cached, vector_bits_limit;

static int cpu_vector_bits(void) {
    int bits = __atomic_load_n(&vector_bits_cached, __ATOMIC_RELAXED);
    if (bits == 0) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
            bits = 512;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            bits = 256;
        else
            bits = 128;
        __atomic_store_n(&vector_bits_cached, bits, __ATOMIC_RELAXED);
    }
    return bits;
}

int glimpse_winograd_vector_bits(void) {
    const int bits = cpu_vector_bits(), limit = __atomic_load_n(&vector_bits_limit, __ATOMIC_RELAXED);
    return limit > 0 && limit < bits ? limit : bits;
}

int glimpse_winograd_limit_vector_bits(int bits) {
    __atomic_store_n(&vector_bits_limit, bits, __ATOMIC_RELAXED);
    return glimpse_winograd_vector_bits();
}

// One entry point over three compiled copies of body, each specialised for m = 2 and m = 4.
#define DISPATCH(name, body, PARAMETERS, ARGUMENTS)                                               \
    static AVX512 void name##_512 PARAMETERS {                                                    \
        if (tile == 4) body(4, 1, ARGUMENTS); else body(2, 1, ARGUMENTS);                         \
    }                                                                                             \
    static AVX2 void name##_256 PARAMETERS {                                                      \
        if (tile == 4) body(4, 1, ARGUMENTS); else body(2, 1, ARGUMENTS);                         \
    }                                                                                             \
    static void name##_128 PARAMETERS {                                                           \
        if (tile == 4) body(4, 0, ARGUMENTS); else body(2, 0, ARGUMENTS);                         \
    }                                                                                             \
    void name PARAMETERS {                                                                        \
        switch (glimpse_winograd_vector_bits()) {                                                 \
        case 512: name##_512(tile, ARGUMENTS); break;                                             \
        case 256: name##_256(tile, ARGUMENTS); break;                                             \
        default: name##_128(tile, ARGUMENTS); break;                                              \
        }                                                                                         \
    }

#define INPUT_PARAMETERS (int tile, const float *images, int channels, int height, int width, int first, int count, \
                          float *transformed, long leading, float *scratch)
#define INPUT_ARGUMENTS images, channels, height, width, first, count, transformed, leading, scratch
DISPATCH(glimpse_winograd_transform_input, transform_input, INPUT_PARAMETERS, INPUT_ARGUMENTS)

#define OUTPUT_PARAMETERS (int tile, const float *products, long leading, int outputs, int height, int width, \
                           int first, int count, const float *bias, int relu, float *images, float *scratch)
#define OUTPUT_ARGUMENTS products, leading, outputs, height, width, first, count, bias, relu, images, scratch
DISPATCH(glimpse_winograd_transform_output, transform_output, OUTPUT_PARAMETERS, OUTPUT_ARGUMENTS)

#define GRADIENT_PARAMETERS (int tile, const float *gradient, int outputs, int height, int width, int first, \
                             int count, float *transformed, long leading, float *scratch)
#define GRADIENT_ARGUMENTS gradient, outputs, height, width, first, count, transformed, leading, scratch
DISPATCH(glimpse_winograd_transform_output_gradient, transform_output_gradient, GRADIENT_PARAMETERS,
         GRADIENT_ARGUMENTS)

// MARK: Weights (once per call), vectorised over output channels (forward) or input channels (gradient)

// G (alpha x 3) along one axis: out[i] = Σ_k G[i][k]·in[k], lane by lane.
INLINE void weight_1d(const int m, const float *const in[3], float *const out[6], long n) {
    const float *g0 = in[0], *g1 = in[1], *g2 = in[2];
    if (m == 4) {
        float *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3], *o4 = out[4], *o5 = out[5];
        VECTORIZE for (long x = 0; x < n; x++) {
            const float a0 = g0[x], a1 = g1[x], a2 = g2[x];
            const float even = -(a0 + a2) * (1.0f / 6), odd = a1 * (1.0f / 6);
            const float even24 = a0 * (1.0f / 24) + a2 * (1.0f / 6), odd12 = a1 * (1.0f / 12);
            o0[x] = a0 * 0.25f;
            o1[x] = even - odd;
            o2[x] = even + odd;
            o3[x] = even24 + odd12;
            o4[x] = even24 - odd12;
            o5[x] = a2;
        }
    } else {
        float *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3];
        VECTORIZE for (long x = 0; x < n; x++) {
            const float a0 = g0[x], a1 = g1[x], a2 = g2[x];
            const float even = (a0 + a2) * 0.5f, odd = a1 * 0.5f;
            o0[x] = a0;
            o1[x] = even + odd;
            o2[x] = even - odd;
            o3[x] = a2;
        }
    }
}

// Gᵀ (3 x alpha), the adjoint: out[k] = Σ_i G[i][k]·in[i].
INLINE void weight_adjoint_1d(const int m, const float *const in[6], float *const out[3], long n) {
    float *o0 = out[0], *o1 = out[1], *o2 = out[2];
    if (m == 4) {
        const float *u0 = in[0], *u1 = in[1], *u2 = in[2], *u3 = in[3], *u4 = in[4], *u5 = in[5];
        VECTORIZE for (long x = 0; x < n; x++) {
            const float a1 = u1[x], a2 = u2[x], a3 = u3[x], a4 = u4[x];
            const float plus12 = a1 + a2, plus34 = a3 + a4;
            o0[x] = u0[x] * 0.25f - plus12 * (1.0f / 6) + plus34 * (1.0f / 24);
            o1[x] = (a2 - a1) * (1.0f / 6) + (a3 - a4) * (1.0f / 12);
            o2[x] = (plus34 - plus12) * (1.0f / 6) + u5[x];
        }
    } else {
        const float *u0 = in[0], *u1 = in[1], *u2 = in[2], *u3 = in[3];
        VECTORIZE for (long x = 0; x < n; x++) {
            const float a1 = u1[x], a2 = u2[x];
            o0[x] = u0[x] + (a1 + a2) * 0.5f;
            o1[x] = (a1 - a2) * 0.5f;
            o2[x] = (a1 + a2) * 0.5f + u3[x];
        }
    }
}

// transformed[alpha²][C][O]; scratch [9][O] + [alpha][3][O].
// G·g·Gᵀ of input channel c of weight[O][C][3][3], vectorised over the O outputs: position
// (i, j) is written to out + (i·alpha + j)·stride. scratch: [9][O] taps + [alpha][3][O].
INLINE void transform_weights_channel(const int m, const float *weight, int outputs, int channels, int c, float *out0,
                                      long stride, float *scratch) {
    const int alpha = m + 2;
    float *taps = scratch;                        // [ky][kx][O] of this input channel
    float *partial = scratch + 9L * outputs;      // [alpha i][kx][O]: G along ky
    for (int o = 0; o < outputs; o++)
        for (int t = 0; t < 9; t++) taps[(long)t * outputs + o] = weight[((long)o * channels + c) * 9 + t];
    for (int kx = 0; kx < 3; kx++) {
        const float *in[3];
        float *out[6];
        for (int ky = 0; ky < 3; ky++) in[ky] = taps + (long)(ky * 3 + kx) * outputs;
        for (int i = 0; i < alpha; i++) out[i] = partial + (long)(i * 3 + kx) * outputs;
        weight_1d(m, in, out, outputs);
    }
    for (int i = 0; i < alpha; i++) {
        const float *in[3];
        float *out[6];
        for (int kx = 0; kx < 3; kx++) in[kx] = partial + (long)(i * 3 + kx) * outputs;
        for (int j = 0; j < alpha; j++) out[j] = out0 + (long)(i * alpha + j) * stride;
        weight_1d(m, in, out, outputs);
    }
}

// transformed[alpha²][C][O]; scratch [9][O] + [alpha][3][O].
INLINE void transform_weights(const int m, const int vectors, const float *weight, int outputs, int channels, float *transformed,
                              float *scratch) {
    (void)vectors;
    const long plane = (long)outputs * channels;
    for (int c = 0; c < channels; c++)
        transform_weights_channel(m, weight, outputs, channels, c, transformed + (long)c * outputs, plane, scratch);
}

// dweight[O][C][3][3] += Gᵀ·dU·G for transformed[alpha²][O][C]; scratch [alpha][3][C] + [9][C].
INLINE void weight_gradient(const int m, const int vectors, const float *transformed, int outputs, int channels, float *dweight,
                            float *scratch) {
    (void)vectors;
    const int alpha = m + 2;
    const long plane = (long)outputs * channels;
    float *partial = scratch;                           // [alpha i][kx][C]: Gᵀ along j
    float *taps = scratch + (long)alpha * 3 * channels; // [ky][kx][C]
    for (int o = 0; o < outputs; o++) {
        for (int i = 0; i < alpha; i++) {
            const float *in[6];
            float *out[3];
            for (int j = 0; j < alpha; j++) in[j] = transformed + (long)(i * alpha + j) * plane + (long)o * channels;
            for (int kx = 0; kx < 3; kx++) out[kx] = partial + (long)(i * 3 + kx) * channels;
            weight_adjoint_1d(m, in, out, channels);
        }
        for (int kx = 0; kx < 3; kx++) {
            const float *in[6];
            float *out[3];
            for (int i = 0; i < alpha; i++) in[i] = partial + (long)(i * 3 + kx) * channels;
            for (int ky = 0; ky < 3; ky++) out[ky] = taps + (long)(ky * 3 + kx) * channels;
            weight_adjoint_1d(m, in, out, channels);
        }
        for (int c = 0; c < channels; c++)
            for (int t = 0; t < 9; t++) dweight[((long)o * channels + c) * 9 + t] += taps[(long)t * channels + c];
    }
}

long glimpse_winograd_weight_scratch_count(int tile, int outputs, int channels) {
    const int larger = outputs > channels ? outputs : channels;
    return (9L + 3L * (tile + 2)) * larger + 16;
}

#define WEIGHT_PARAMETERS (int tile, const float *weight, int outputs, int channels, float *transformed, float *scratch)
#define WEIGHT_ARGUMENTS weight, outputs, channels, transformed, scratch
DISPATCH(glimpse_winograd_transform_weights, transform_weights, WEIGHT_PARAMETERS, WEIGHT_ARGUMENTS)

#define WEIGHT_GRADIENT_PARAMETERS (int tile, const float *transformed, int outputs, int channels, float *dweight, \
                                    float *scratch)
#define WEIGHT_GRADIENT_ARGUMENTS transformed, outputs, channels, dweight, scratch
DISPATCH(glimpse_winograd_weight_gradient, weight_gradient, WEIGHT_GRADIENT_PARAMETERS, WEIGHT_GRADIENT_ARGUMENTS)

// MARK: The products, on weights packed once (inference) or per call

// Output channels per packed panel: two 8-lane vectors.
#define PANEL 16

long glimpse_winograd_packed_weights_count(int tile, int outputs, int channels) {
    const long panels = (outputs + PANEL - 1) / PANEL;
    return (long)(tile + 2) * (tile + 2) * panels * channels * PANEL;
}

void glimpse_winograd_pack_weights(int tile, const float *transformed, int outputs, int channels, float *packed) {
    const int positions = (tile + 2) * (tile + 2), panels = (outputs + PANEL - 1) / PANEL;
    for (int k = 0; k < positions; k++) {
        const float *source = transformed + (long)k * channels * outputs;
        float *target = packed + (long)k * panels * channels * PANEL;
        for (int p = 0; p < panels; p++)
            for (int c = 0; c < channels; c++)
                for (int j = 0; j < PANEL; j++) {
                    const int o = p * PANEL + j;
                    target[((long)p * channels + c) * PANEL + j] = o < outputs ? source[(long)c * outputs + o] : 0.0f;
                }
    }
}

// rows (1–6) x 16 outputs of M = A·B over `channels`, B one packed panel [C][16]; each sum runs
// over c in order, one fused multiply-add per term, whatever the row's place in the block.
INLINE AVX2 void product_block(const int rows, const float *a, long lda, const float *b, int channels, float *m,
                               long ldm, int columns) {
    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00;
    __m256 s30 = s00, s31 = s00, s40 = s00, s41 = s00, s50 = s00, s51 = s00;
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda, *a4 = a + 4 * lda, *a5 = a + 5 * lda;
    for (int c = 0; c < channels; c++) {
        const __m256 b0 = _mm256_load_ps(b + (long)c * PANEL), b1 = _mm256_load_ps(b + (long)c * PANEL + 8);
        __m256 x = _mm256_broadcast_ss(a0 + c);
        s00 = _mm256_fmadd_ps(x, b0, s00); s01 = _mm256_fmadd_ps(x, b1, s01);
        if (rows > 1) { x = _mm256_broadcast_ss(a1 + c); s10 = _mm256_fmadd_ps(x, b0, s10); s11 = _mm256_fmadd_ps(x, b1, s11); }
        if (rows > 2) { x = _mm256_broadcast_ss(a2 + c); s20 = _mm256_fmadd_ps(x, b0, s20); s21 = _mm256_fmadd_ps(x, b1, s21); }
        if (rows > 3) { x = _mm256_broadcast_ss(a3 + c); s30 = _mm256_fmadd_ps(x, b0, s30); s31 = _mm256_fmadd_ps(x, b1, s31); }
        if (rows > 4) { x = _mm256_broadcast_ss(a4 + c); s40 = _mm256_fmadd_ps(x, b0, s40); s41 = _mm256_fmadd_ps(x, b1, s41); }
        if (rows > 5) { x = _mm256_broadcast_ss(a5 + c); s50 = _mm256_fmadd_ps(x, b0, s50); s51 = _mm256_fmadd_ps(x, b1, s51); }
    }
    const __m256 sums[12] = {s00, s01, s10, s11, s20, s21, s30, s31, s40, s41, s50, s51};
    for (int r = 0; r < rows; r++) {
        if (columns == PANEL) {
            _mm256_storeu_ps(m + r * ldm, sums[2 * r]);
            _mm256_storeu_ps(m + r * ldm + 8, sums[2 * r + 1]);
        } else {
            float row[PANEL] __attribute__((aligned(32)));
            _mm256_store_ps(row, sums[2 * r]);
            _mm256_store_ps(row + 8, sums[2 * r + 1]);
            memcpy(m + r * ldm, row, sizeof(float) * (size_t)columns);
        }
    }
}

static AVX2 void multiply_256(int positions, const float *transformed, long leading, int tiles, int channels,
                              const float *packed, int outputs, float *products) {
    const int panels = (outputs + PANEL - 1) / PANEL;
    for (int k = 0; k < positions; k++) {
        const float *a = transformed + (long)k * leading * channels;
        float *m = products + (long)k * leading * outputs;
        for (int p = 0; p < panels; p++) {
            const float *b = packed + ((long)k * panels + p) * channels * PANEL;
            const int columns = outputs - p * PANEL < PANEL ? outputs - p * PANEL : PANEL;
            float *mp = m + p * PANEL;
            int t = 0;
            for (; t + 6 <= tiles; t += 6) product_block(6, a + (long)t * channels, channels, b, channels, mp + (long)t * outputs, outputs, columns);
            const float *at = a + (long)t * channels;
            float *mt = mp + (long)t * outputs;
            switch (tiles - t) {
            case 1: product_block(1, at, channels, b, channels, mt, outputs, columns); break;
            case 2: product_block(2, at, channels, b, channels, mt, outputs, columns); break;
            case 3: product_block(3, at, channels, b, channels, mt, outputs, columns); break;
            case 4: product_block(4, at, channels, b, channels, mt, outputs, columns); break;
            case 5: product_block(5, at, channels, b, channels, mt, outputs, columns); break;
            default: break;
            }
        }
    }
}

// The same sums in plain C, for CPUs without AVX2 + FMA (where Swift uses sgemm instead).
static void multiply_plain(int positions, const float *transformed, long leading, int tiles, int channels,
                           const float *packed, int outputs, float *products) {
    const int panels = (outputs + PANEL - 1) / PANEL;
    for (int k = 0; k < positions; k++)
        for (int t = 0; t < tiles; t++)
            for (int o = 0; o < outputs; o++) {
                const float *a = transformed + ((long)k * leading + t) * channels;
                const float *b = packed + ((long)k * panels + o / PANEL) * channels * PANEL + o % PANEL;
                float sum = 0;
                for (int c = 0; c < channels; c++) sum += a[c] * b[(long)c * PANEL];
                products[((long)k * leading + t) * outputs + o] = sum;
            }
}

long glimpse_winograd_packed_weights_scratch_count(int tile, int outputs, int channels) {
    (void)channels;
    const long alpha = tile + 2;
    return (9L + 3L * alpha + alpha * alpha) * outputs + 16;
}

// One input channel at a time: its taps gathered to [9][O], G along ky to [alpha][3][O], G along
// kx to [alpha²][O] (the same operations, in the same order, as transform_weights), then scaled
// and cut into the 16-wide panels. No [alpha²][C][O] intermediate.
INLINE void transform_weights_packed(const int m, const int vectors, const float *weight, int outputs, int channels,
                                     int first, int count, const float *scale, float *packed, float *scratch) {
    (void)vectors;
    const int alpha = m + 2, positions = alpha * alpha, panels = (outputs + PANEL - 1) / PANEL;
    float *rows = scratch + (9L + 3L * alpha) * outputs; // [alpha i][alpha j][O]
    for (int c = first; c < first + count; c++) {
        transform_weights_channel(m, weight, outputs, channels, c, rows, outputs, scratch);
        if (scale)
            for (int k = 0; k < positions; k++) {
                float *row = rows + (long)k * outputs;
                VECTORIZE for (int o = 0; o < outputs; o++) row[o] *= scale[o];
            }
        for (int k = 0; k < positions; k++)
            for (int p = 0; p < panels; p++) {
                float *target = packed + (((long)k * panels + p) * channels + c) * PANEL;
                const int width = outputs - p * PANEL < PANEL ? outputs - p * PANEL : PANEL;
                memcpy(target, rows + (long)k * outputs + p * PANEL, sizeof(float) * (size_t)width);
                if (width < PANEL) memset(target + width, 0, sizeof(float) * (size_t)(PANEL - width));
            }
    }
}

#define PACKED_WEIGHT_PARAMETERS (int tile, const float *weight, int outputs, int channels, int first, int count, \
                                  const float *scale, float *packed, float *scratch)
#define PACKED_WEIGHT_ARGUMENTS weight, outputs, channels, first, count, scale, packed, scratch
DISPATCH(glimpse_winograd_transform_weights_packed, transform_weights_packed, PACKED_WEIGHT_PARAMETERS,
         PACKED_WEIGHT_ARGUMENTS)

int glimpse_winograd_multiply_vectorized(void) { return glimpse_winograd_vector_bits() >= 256; }

void glimpse_winograd_multiply(int tile, const float *transformed, long leading, int tiles, int channels,
                               const float *packed, int outputs, float *products) {
    const int positions = (tile + 2) * (tile + 2);
    if (glimpse_winograd_multiply_vectorized())
        multiply_256(positions, transformed, leading, tiles, channels, packed, outputs, products);
    else
        multiply_plain(positions, transformed, leading, tiles, channels, packed, outputs, products);
}
