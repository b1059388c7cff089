// Winograd transforms F(2x2, 3x3) and F(4x4, 3x3) for 3x3 stride-1 padding-1 convolutions
// (see glimpse_winograd.h for the layouts). Lavin & Gray's matrices.
//
// Each 2-D transform is two passes of a 1-D transform, both over contiguous runs of floats:
// a tile row's input rows are first split by column phase (column m·tx + p goes to
// phase p, index tx), so the pass along rows runs over whole rows and the pass along
// columns finds the columns of tile tx at index tx (phases 0 ..< m) and tx + 1 (the
// alpha − m columns it shares with the next tile). The 1-D loops are written once and
// compiled three times (AVX-512, AVX2 + FMA, baseline), chosen once at run time.
#include "glimpse_winograd.h"
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
// The 1-D transforms read and write distinct rows: no aliasing checks needed.
#define VECTORIZE _Pragma("clang loop vectorize(assume_safety)")
#define AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define AVX2 __attribute__((target("avx2,fma")))

static inline long round_up16(long n) { return (n + 15) & ~15L; }

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

// MARK: 2-D transforms of runs of tile rows

long glimpse_winograd_scratch_count(int tile, int width) {
    const long tilesX = (width + tile - 1) / tile;
    return 2L * (tile + 2) * tile * round_up16(tilesX + 1) + 16;
}

INLINE void transform_input(const int m, const float *images, int channels, int height, int width, int first,
                            int count, float *transformed, long leading, float *scratch) {
    const int alpha = m + 2;
    const int tilesY = (height + m - 1) / m, tilesX = (width + m - 1) / m;
    const long stride = round_up16(tilesX + 1);  // per phase
    float *split = scratch;                          // [alpha rows][m phases][stride]
    float *rows = scratch + (long)alpha * m * stride; // [alpha][m][stride]: Bᵀ along rows
    const long plane = (long)channels * leading;
    const float *splitRows[6];
    float *rowOutputs[6];
    for (int r = 0; r < alpha; r++) {
        splitRows[r] = split + (long)r * m * stride;
        rowOutputs[r] = rows + (long)r * m * stride;
    }
    for (int row = first; row < first + count; row++) {
        const int image = row / tilesY, ty = row % tilesY;
        const long column0 = (long)(row - first) * tilesX;
        for (int c = 0; c < channels; c++) {
            const float *source = images + ((long)image * channels + c) * height * width;
            for (int r = 0; r < alpha; r++) {
                const int iy = m * ty - 1 + r;
                float *target = split + (long)r * m * stride;
                if (iy < 0 || iy >= height) {
                    memset(target, 0, sizeof(float) * m * stride);
                    continue;
                }
                const float *line = source + (long)iy * width;
                // Column m·tx + p − 1 of the image goes to phase p, index tx.
                for (int p = 0; p < m; p++) {
                    float *phase = target + (long)p * stride;
                    int tx = 0;
                    for (; tx <= tilesX && m * tx + p - 1 < 0; tx++) phase[tx] = 0.0f;
                    for (; tx <= tilesX && m * tx + p - 1 < width; tx++) phase[tx] = line[m * tx + p - 1];
                    for (; tx <= tilesX; tx++) phase[tx] = 0.0f;
                }
            }
            input_1d(m, splitRows, rowOutputs, (long)m * stride);
            for (int i = 0; i < alpha; i++) {
                const float *columns[6];
                float *outputs[6];
                for (int s = 0; s < alpha; s++) columns[s] = rows + ((long)i * m + s % m) * stride + s / m;
                for (int j = 0; j < alpha; j++)
                    outputs[j] = transformed + (long)(i * alpha + j) * plane + (long)c * leading + column0;
                input_1d(m, columns, outputs, tilesX);
            }
        }
    }
}

INLINE void transform_output(const int m, const float *products, long leading, int outputs, int height, int width,
                             int first, int count, const float *bias, float *images, float *scratch) {
    const int alpha = m + 2;
    const int tilesY = (height + m - 1) / m, tilesX = (width + m - 1) / m;
    const long stride = round_up16(tilesX + 1);
    float *columns = scratch;                              // [alpha][m][stride]: Aᵀ along columns
    float *result = scratch + (long)alpha * m * stride;    // [m rows][m phases][stride]
    // The lanes past tilesX stay zero (pass 2 runs over them).
    memset(scratch, 0, sizeof(float) * (size_t)(alpha + m) * m * stride);
    const long plane = (long)outputs * leading;
    const float *columnRows[6];
    float *resultRows[4];
    for (int i = 0; i < alpha; i++) columnRows[i] = columns + (long)i * m * stride;
    for (int a = 0; a < m; a++) resultRows[a] = result + (long)a * m * stride;
    for (int row = first; row < first + count; row++) {
        const int image = row / tilesY, ty = row % tilesY;
        const long column0 = (long)(row - first) * tilesX;
        const int rowCount = height - m * ty < m ? height - m * ty : m;
        for (int o = 0; o < outputs; o++) {
            for (int i = 0; i < alpha; i++) {
                const float *inputs[6];
                float *phases[4];
                for (int j = 0; j < alpha; j++)
                    inputs[j] = products + (long)(i * alpha + j) * plane + (long)o * leading + column0;
                for (int b = 0; b < m; b++) phases[b] = columns + ((long)i * m + b) * stride;
                output_1d(m, inputs, phases, tilesX);
            }
            output_1d(m, columnRows, resultRows, (long)m * stride);
            const float offset = bias ? bias[o] : 0.0f;
            float *target = images + ((long)image * outputs + o) * height * width + (long)m * ty * width;
            for (int a = 0; a < rowCount; a++) {
                const float *phase = result + (long)a * m * stride;
                float *line = target + (long)a * width;
                for (int b = 0; b < m; b++)
                    for (int tx = 0; m * tx + b < width; tx++) line[m * tx + b] = phase[(long)b * stride + tx] + offset;
            }
        }
    }
}

INLINE void transform_output_gradient(const int m, const float *gradient, int outputs, int height, int width,
                                      int first, int count, float *transformed, long leading, float *scratch) {
    const int alpha = m + 2;
    const int tilesY = (height + m - 1) / m, tilesX = (width + m - 1) / m;
    const long stride = round_up16(tilesX + 1);
    float *split = scratch;                               // [m rows][m phases][stride]
    float *rows = scratch + (long)alpha * m * stride;     // [alpha][m][stride]: A along rows
    memset(split, 0, sizeof(float) * (size_t)m * m * stride);
    const long plane = (long)outputs * leading;
    const float *splitRows[4];
    float *rowOutputs[6];
    for (int a = 0; a < m; a++) splitRows[a] = split + (long)a * m * stride;
    for (int i = 0; i < alpha; i++) rowOutputs[i] = rows + (long)i * m * stride;
    for (int row = first; row < first + count; row++) {
        const int image = row / tilesY, ty = row % tilesY;
        const long column0 = (long)(row - first) * tilesX;
        const int rowCount = height - m * ty < m ? height - m * ty : m;
        for (int o = 0; o < outputs; o++) {
            const float *source = gradient + ((long)image * outputs + o) * height * width + (long)m * ty * width;
            for (int a = 0; a < m; a++) {
                float *target = split + (long)a * m * stride;
                for (int b = 0; b < m; b++) {
                    float *phase = target + (long)b * stride;
                    if (a >= rowCount) {
                        for (int tx = 0; tx < tilesX; tx++) phase[tx] = 0.0f;
                        continue;
                    }
                    const float *line = source + (long)a * width;
                    int tx = 0;
                    for (; m * tx + b < width; tx++) phase[tx] = line[m * tx + b];
                    for (; tx < tilesX; tx++) phase[tx] = 0.0f;
                }
            }
            output_adjoint_1d(m, splitRows, rowOutputs, (long)m * stride);
            for (int i = 0; i < alpha; i++) {
                const float *phases[4];
                float *targets[6];
                for (int b = 0; b < m; b++) phases[b] = rows + ((long)i * m + b) * stride;
                for (int j = 0; j < alpha; j++)
                    targets[j] = transformed + (long)(i * alpha + j) * plane + (long)o * leading + column0;
                output_adjoint_1d(m, phases, targets, tilesX);
            }
        }
    }
}

// MARK: Run-time choice of the vector code

static int vector_bits_cached;

int glimpse_winograd_vector_bits(void) {
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

// One entry point over three compiled copies of body, each specialised for m = 2 and m = 4.
#define DISPATCH(name, body, PARAMETERS, ARGUMENTS)                                               \
    static AVX512 void name##_512 PARAMETERS {                                                    \
        if (tile == 4) body(4, ARGUMENTS); else body(2, ARGUMENTS);                               \
    }                                                                                             \
    static AVX2 void name##_256 PARAMETERS {                                                      \
        if (tile == 4) body(4, ARGUMENTS); else body(2, ARGUMENTS);                               \
    }                                                                                             \
    static void name##_128 PARAMETERS {                                                           \
        if (tile == 4) body(4, ARGUMENTS); else body(2, ARGUMENTS);                               \
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
                           int first, int count, const float *bias, float *images, float *scratch)
#define OUTPUT_ARGUMENTS products, leading, outputs, height, width, first, count, bias, images, scratch
DISPATCH(glimpse_winograd_transform_output, transform_output, OUTPUT_PARAMETERS, OUTPUT_ARGUMENTS)

#define GRADIENT_PARAMETERS (int tile, const float *gradient, int outputs, int height, int width, int first, \
                             int count, float *transformed, long leading, float *scratch)
#define GRADIENT_ARGUMENTS gradient, outputs, height, width, first, count, transformed, leading, scratch
DISPATCH(glimpse_winograd_transform_output_gradient, transform_output_gradient, GRADIENT_PARAMETERS,
         GRADIENT_ARGUMENTS)

// MARK: Weights (once per call, in double: O·C·9 values)

static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double G4[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

static double g_entry(int tile, int i, int k) { return tile == 4 ? G4[i][k] : G2[i][k]; }

void glimpse_winograd_transform_weights(int tile, const float *weight, int outputs, int channels,
                                        float *transformed) {
    const int alpha = tile + 2;
    const long plane = (long)outputs * channels;
    for (int o = 0; o < outputs; o++) {
        for (int c = 0; c < channels; c++) {
            const float *g = weight + ((long)o * channels + c) * 9;
            double left[6][3];  // G·g
            for (int i = 0; i < alpha; i++)
                for (int k = 0; k < 3; k++)
                    left[i][k] = g_entry(tile, i, 0) * g[k] + g_entry(tile, i, 1) * g[3 + k]
                        + g_entry(tile, i, 2) * g[6 + k];
            for (int i = 0; i < alpha; i++)
                for (int j = 0; j < alpha; j++)
                    transformed[(long)(i * alpha + j) * plane + (long)o * channels + c] =
                        (float)(left[i][0] * g_entry(tile, j, 0) + left[i][1] * g_entry(tile, j, 1)
                                + left[i][2] * g_entry(tile, j, 2));
        }
    }
}

void glimpse_winograd_weight_gradient(int tile, const float *transformed, int outputs, int channels,
                                      float *dweight) {
    const int alpha = tile + 2;
    const long plane = (long)outputs * channels;
    for (int o = 0; o < outputs; o++) {
        for (int c = 0; c < channels; c++) {
            double u[6][6];
            for (int i = 0; i < alpha; i++)
                for (int j = 0; j < alpha; j++) u[i][j] = transformed[(long)(i * alpha + j) * plane + (long)o * channels + c];
            double right[6][3];  // dU·G
            for (int i = 0; i < alpha; i++)
                for (int k = 0; k < 3; k++) {
                    double total = 0;
                    for (int j = 0; j < alpha; j++) total += u[i][j] * g_entry(tile, j, k);
                    right[i][k] = total;
                }
            float *target = dweight + ((long)o * channels + c) * 9;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    double total = 0;
                    for (int i = 0; i < alpha; i++) total += g_entry(tile, i, ky) * right[i][kx];
                    target[ky * 3 + kx] += (float)total;
                }
        }
    }
}
