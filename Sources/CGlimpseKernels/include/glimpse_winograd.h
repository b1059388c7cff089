#ifndef GLIMPSE_WINOGRAD_H
#define GLIMPSE_WINOGRAD_H

// Winograd transforms for 3x3, stride-1, padding-1 convolutions, F(m x m, 3 x 3) with
// m = 2 (alpha = 4) or m = 4 (alpha = 6); the products between them are sgemms.
//
// Tiles: output tile (ty, tx) covers output rows m·ty ..< m·ty + m and columns likewise;
// its input tile is alpha x alpha, from row m·ty − 1 and column m·tx − 1 (zero outside).
// Tile rows are numbered over the whole batch: tile row r is image r / tilesY, row r % tilesY,
// with tilesY = ceil(H / m), tilesX = ceil(W / m). A run of tile rows holds
// count · tilesX tiles, numbered row-major from 0.
//
// Every value is computed by the same sequence of operations whichever run of tile rows
// (hence whichever thread) it falls in. The transforms pick AVX-512, AVX2 + FMA or
// baseline code once, from the CPU.

/// Floats of scratch one transform call needs for images `width` wide (any height) and
/// `channels` = the larger of C and O.
long glimpse_winograd_scratch_count(int tile, int width, int channels);

/// Floats of scratch the two weight functions below need.
long glimpse_winograd_weight_scratch_count(int tile, int outputs, int channels);

/// transformed[alpha²][C][O] = G·g·Gᵀ for each weight[O][C][3][3].
void glimpse_winograd_transform_weights(int tile, const float *weight, int outputs, int channels,
                                        float *transformed, float *scratch);

/// transformed[alpha²][leading][C] (rows 0 ..< count·tilesX) = Bᵀ·d·B for each input
/// tile of tile rows first ..< first + count of images[B][C][H][W].
void glimpse_winograd_transform_input(int tile, const float *images, int channels, int height, int width,
                                      int first, int count, float *transformed, long leading, float *scratch);

/// images[B][O][H][W] = Aᵀ·M·A (+ bias[o] when bias is not null; then max(·, 0) when relu is
/// not 0, NaN staying NaN) for the output tiles of tile rows first ..< first + count, from
/// products[alpha²][leading][O]; parts of edge tiles outside the image are dropped.
void glimpse_winograd_transform_output(int tile, const float *products, long leading, int outputs, int height,
                                       int width, int first, int count, const float *bias, int relu,
                                       float *images, float *scratch);

/// The adjoint of the output transform, for the weight gradient: transformed[alpha²][leading][O]
/// = A·dY·Aᵀ for each m x m tile (zero outside the image) of output_gradient[B][O][H][W].
void glimpse_winograd_transform_output_gradient(int tile, const float *output_gradient, int outputs, int height,
                                                int width, int first, int count, float *transformed, long leading,
                                                float *scratch);

/// The adjoint of the weight transform: dweight[O][C][3][3] += Gᵀ·dU·G for dU = transformed[alpha²][O][C]
/// (this one is O-major: the sgemm that sums dU writes it so).
void glimpse_winograd_weight_gradient(int tile, const float *transformed, int outputs, int channels,
                                      float *dweight, float *scratch);

/// Which code the transforms run: 512 (AVX-512), 256 (AVX2 + FMA) or 128 (baseline SSE2).
int glimpse_winograd_vector_bits(void);

/// For tests: run the narrower code (256 or 128) on a wider CPU; 0, or more than the CPU has,
/// restores the CPU's choice. Returns the choice now in force.
int glimpse_winograd_limit_vector_bits(int bits);

/// Floats of the packed weights below: alpha² · C · (O rounded up to a multiple of 16).
long glimpse_winograd_packed_weights_count(int tile, int outputs, int channels);

/// packed = transformed[alpha²][C][O] (from glimpse_winograd_transform_weights) laid out for
/// glimpse_winograd_multiply: per position, panels of 16 output channels, [panel][C][16],
/// the last panel zero-padded. Done once per weight: for inference, once per model.
void glimpse_winograd_pack_weights(int tile, const float *transformed, int outputs, int channels, float *packed);

/// Floats of scratch glimpse_winograd_transform_weights_packed needs.
long glimpse_winograd_packed_weights_scratch_count(int tile, int outputs, int channels);

/// The two steps above in one, with no [alpha²][C][O] intermediate: packed = the transformed
/// weight[O][C][3][3] in glimpse_winograd_multiply's layout, the same values bit for bit; then,
/// when scale is not null, each output channel's values times scale[o] (a BatchNorm folded in).
/// Writes input channels first ..< first + count only (disjoint ranges may run in parallel).
void glimpse_winograd_transform_weights_packed(int tile, const float *weight, int outputs, int channels, int first,
                                               int count, const float *scale, float *packed, float *scratch);

/// Whether glimpse_winograd_multiply runs vector code here (AVX2 + FMA; the AVX-512 machines
/// run it too). Without it the sums are plain C: callers use sgemm instead.
int glimpse_winograd_multiply_vectorized(void);

/// The products of one run of tiles, for every position k:
/// products[k][t][o] = Σ_c transformed[k][t][c] · U[k][c][o] for t < tiles, U as packed above;
/// transformed is [alpha²][leading][C] and products [alpha²][leading][O], as the transforms
/// read and write them. Each sum runs over c in order, so the result does not depend on how
/// the tiles are split into runs.
void glimpse_winograd_multiply(int tile, const float *transformed, long leading, int tiles, int channels,
                               const float *packed, int outputs, float *products);

#endif
