#ifndef GLIMPSE_KERNELS_H
#define GLIMPSE_KERNELS_H

/// 1 when this CPU runs the AVX2 + FMA kernels below (checked at run time; the rest of
/// the program keeps the baseline x86-64 target).
int glimpse_conv3x3_available(void);

/// Floats of scratch one call of either function needs.
long glimpse_conv3x3_scratch_count(int channels, int height, int width, int padding, int outputs);

/// One image: output[O][Ho][Wo] = sum over (c, ky, kx) of weight[O][C][3][3] times the
/// input shifted, stride 1, zero padding `padding`; Ho = H + 2p − 2, Wo = W + 2p − 2.
/// Every output is summed over c, ky, kx in that order (FMA), whatever the thread.
void glimpse_conv3x3_forward(const float *image, int channels, int height, int width, int padding,
                             const float *weight, int outputs, float *output, float *scratch);

/// One image: dweight[O][C][3][3] += sum over output pixels of dY[o] times the shifted
/// input, in a fixed order (8 lanes over columns, strips of rows, lanes added in order).
void glimpse_conv3x3_weight_gradient(const float *image, int channels, int height, int width, int padding,
                                     const float *output_gradient, int outputs, float *dweight, float *scratch);

#endif
