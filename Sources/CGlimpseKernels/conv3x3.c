// Direct 3x3 stride-1 convolution kernels for few input channels (the first layer, C = 3),
// where im2col + sgemm has an inner dimension of only C·9 = 27. AVX2 + FMA through a
// target attribute, so only these functions need such a CPU; callers check
// glimpse_conv3x3_available() first.
#include "glimpse_kernels.h"
#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target("avx2,fma")))

int glimpse_conv3x3_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static inline int round_up8(int n) { return (n + 7) & ~7; }

// Padded plane: Ho + 2 rows of round_up8(Wo) + 2 + 8 columns, zero outside the image, so
// every 8-wide load at column x + kx (x < round_up8(Wo)) stays inside its row.
static inline int padded_width(int height, int width, int padding) {
    (void)height;
    return round_up8(width + 2 * padding - 2) + 10;
}

long glimpse_conv3x3_scratch_count(int channels, int height, int width, int padding, int outputs) {
    // Padded planes, then (weight gradient) one 8-float partial sum per weight, 32-byte aligned.
    return (long)channels * (height + 2 * padding) * padded_width(height, width, padding)
        + (long)outputs * channels * 9 * 8 + 16;
}

static void pad_planes(const float *image, int channels, int height, int width, int padding, float *scratch) {
    const int pw = padded_width(height, width, padding), ph = height + 2 * padding;
    memset(scratch, 0, sizeof(float) * (size_t)channels * ph * pw);
    for (int c = 0; c < channels; c++)
        for (int y = 0; y < height; y++)
            memcpy(scratch + ((size_t)c * ph + y + padding) * pw + padding,
                   image + ((size_t)c * height + y) * width, sizeof(float) * width);
}

static inline __m256i TARGET tail_mask(int remaining) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(remaining), lanes);
}

// NB output channels (from o0) of output row oy, 8·NV columns from x.
static inline __attribute__((always_inline)) TARGET void
forward_block(const float *padded, int channels, int ph, int pw, const float *weight, int o0, int NB, int NV,
              int oy, int x, float *output, int ho, int wo) {
    __m256 acc[4][3];
    for (int j = 0; j < NB; j++)
        for (int v = 0; v < NV; v++) acc[j][v] = _mm256_setzero_ps();
    for (int c = 0; c < channels; c++) {
        for (int ky = 0; ky < 3; ky++) {
            const float *row = padded + ((size_t)c * ph + oy + ky) * pw + x;
            for (int kx = 0; kx < 3; kx++) {
                __m256 in[3];
                for (int v = 0; v < NV; v++) in[v] = _mm256_loadu_ps(row + kx + 8 * v);
                for (int j = 0; j < NB; j++) {
                    const __m256 w = _mm256_broadcast_ss(weight + (((size_t)(o0 + j) * channels + c) * 3 + ky) * 3 + kx);
                    for (int v = 0; v < NV; v++) acc[j][v] = _mm256_fmadd_ps(w, in[v], acc[j][v]);
                }
            }
        }
    }
    for (int j = 0; j < NB; j++) {
        float *target = output + ((size_t)(o0 + j) * ho + oy) * wo + x;
        for (int v = 0; v < NV; v++) {
            const int remaining = wo - x - 8 * v;
            if (remaining >= 8) _mm256_storeu_ps(target + 8 * v, acc[j][v]);
            else if (remaining > 0) _mm256_maskstore_ps(target + 8 * v, tail_mask(remaining), acc[j][v]);
        }
    }
}

TARGET void glimpse_conv3x3_forward(const float *image, int channels, int height, int width, int padding,
                                    const float *weight, int outputs, float *output, float *scratch) {
    const int ph = height + 2 * padding, pw = padded_width(height, width, padding);
    const int ho = height + 2 * padding - 2, wo = width + 2 * padding - 2;
    pad_planes(image, channels, height, width, padding, scratch);
    for (int oy = 0; oy < ho; oy++) {
        int o = 0;
        for (; o + 4 <= outputs; o += 4) {
            int x = 0;
            for (; x + 16 <= wo; x += 16) forward_block(scratch, channels, ph, pw, weight, o, 4, 2, oy, x, output, ho, wo);
            for (; x < wo; x += 8) forward_block(scratch, channels, ph, pw, weight, o, 4, 1, oy, x, output, ho, wo);
        }
        for (; o < outputs; o++) {
            int x = 0;
            for (; x + 16 <= wo; x += 16) forward_block(scratch, channels, ph, pw, weight, o, 1, 2, oy, x, output, ho, wo);
            for (; x < wo; x += 8) forward_block(scratch, channels, ph, pw, weight, o, 1, 1, oy, x, output, ho, wo);
        }
    }
}

// Rows per strip in the weight gradient: the strip's dY rows (4 channels) and input rows stay in L1.
#define STRIP_ROWS 4
// Output channels per register block of the weight gradient: GB × 3 accumulators, GB dY vectors
// and one input vector within AVX2's 16 registers (4 would spill one accumulator).
#define GB 3

// NB channels from o0, input channel c, kernel row ky: acc[j][kx] += dY[o0+j][oy][x..] * P[c][oy+ky][x+kx..]
// over rows oy in [top, bottom) and all columns (dY masked past wo).
static inline __attribute__((always_inline)) TARGET void
gradient_block(const float *padded, int ph, int pw, const float *dy, int ho, int wo, int o0, int NB, int c, int ky,
               int top, int bottom, __m256 *stored /* [NB][3] */) {
    __m256 acc[4][3];
    for (int j = 0; j < NB; j++)
        for (int kx = 0; kx < 3; kx++) acc[j][kx] = stored[j * 3 + kx];
    for (int oy = top; oy < bottom; oy++) {
        const float *row = padded + ((size_t)c * ph + oy + ky) * pw;
        int x = 0;
        for (; x + 8 <= wo; x += 8) {
            __m256 g[4];
            for (int j = 0; j < NB; j++) g[j] = _mm256_loadu_ps(dy + ((size_t)(o0 + j) * ho + oy) * wo + x);
            for (int kx = 0; kx < 3; kx++) {
                const __m256 in = _mm256_loadu_ps(row + x + kx);
                for (int j = 0; j < NB; j++) acc[j][kx] = _mm256_fmadd_ps(g[j], in, acc[j][kx]);
            }
        }
        if (x < wo) {
            const __m256i mask = tail_mask(wo - x);
            __m256 g[4];
            for (int j = 0; j < NB; j++) g[j] = _mm256_maskload_ps(dy + ((size_t)(o0 + j) * ho + oy) * wo + x, mask);
            for (int kx = 0; kx < 3; kx++) {
                const __m256 in = _mm256_loadu_ps(row + x + kx);
                for (int j = 0; j < NB; j++) acc[j][kx] = _mm256_fmadd_ps(g[j], in, acc[j][kx]);
            }
        }
    }
    for (int j = 0; j < NB; j++)
        for (int kx = 0; kx < 3; kx++) stored[j * 3 + kx] = acc[j][kx];
}

TARGET void glimpse_conv3x3_weight_gradient(const float *image, int channels, int height, int width, int padding,
                                            const float *output_gradient, int outputs, float *dweight,
                                            float *scratch) {
    const int ph = height + 2 * padding, pw = padded_width(height, width, padding);
    const int ho = height + 2 * padding - 2, wo = width + 2 * padding - 2;
    pad_planes(image, channels, height, width, padding, scratch);
    // Vector partial sums, one per weight, in the scratch after the planes (32-byte aligned).
    const size_t planes = (size_t)channels * ph * pw;
    float *base = scratch + planes;
    __m256 *sums = (__m256 *)(void *)(((unsigned long)base + 31) & ~31UL);
    const size_t weights = (size_t)outputs * channels * 9;
    for (size_t i = 0; i < weights; i++) sums[i] = _mm256_setzero_ps();
    // Block of output channels outermost: their dY planes stream from memory once, in order
    // (prefetcher-friendly); the padded input planes stay in L2, and each strip's rows in L1.
    int o = 0;
    for (; o + GB <= outputs; o += GB)
        for (int top = 0; top < ho; top += STRIP_ROWS) {
            const int bottom = top + STRIP_ROWS < ho ? top + STRIP_ROWS : ho;
            for (int c = 0; c < channels; c++)
                for (int ky = 0; ky < 3; ky++) {
                    __m256 stored[12];
                    for (int j = 0; j < GB; j++)
                        for (int kx = 0; kx < 3; kx++) stored[j * 3 + kx] = sums[(((size_t)(o + j) * channels + c) * 3 + ky) * 3 + kx];
                    gradient_block(scratch, ph, pw, output_gradient, ho, wo, o, GB, c, ky, top, bottom, stored);
                    for (int j = 0; j < GB; j++)
                        for (int kx = 0; kx < 3; kx++) sums[(((size_t)(o + j) * channels + c) * 3 + ky) * 3 + kx] = stored[j * 3 + kx];
                }
        }
    for (; o < outputs; o++)
        for (int top = 0; top < ho; top += STRIP_ROWS) {
            const int bottom = top + STRIP_ROWS < ho ? top + STRIP_ROWS : ho;
            for (int c = 0; c < channels; c++)
                for (int ky = 0; ky < 3; ky++)
                    gradient_block(scratch, ph, pw, output_gradient, ho, wo, o, 1, c, ky, top, bottom,
                                   sums + (((size_t)o * channels + c) * 3 + ky) * 3);
        }
    for (size_t i = 0; i < weights; i++) {
        float lanes[8];
        _mm256_storeu_ps(lanes, sums[i]);
        dweight[i] += ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    }
}
