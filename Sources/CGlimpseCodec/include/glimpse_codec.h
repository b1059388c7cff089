// The C side of Glimpse's image I/O: the only code that touches libjpeg and libpng.
//
// libjpeg and libpng report errors by longjmp. Swift cannot call setjmp, so every
// function here sets its jump in the same frame as the library calls that may jump,
// and hands Swift a status code plus the library's own message. No libjpeg or libpng
// type appears in this header.
#ifndef GLIMPSE_CODEC_H
#define GLIMPSE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes returned by every function here.
typedef enum {
    GLIMPSE_CODEC_OK = 0,
    /// The library rejected the data; `message` holds its words.
    GLIMPSE_CODEC_CORRUPT = 1,
    /// The data ended before the image did.
    GLIMPSE_CODEC_TRUNCATED = 2,
    /// width x height is above the caller's pixel cap; nothing large was allocated.
    GLIMPSE_CODEC_TOO_LARGE = 3,
    /// A valid file using a feature this build cannot decode (e.g. 12-bit JPEG).
    GLIMPSE_CODEC_UNSUPPORTED = 4,
    /// The caller's output buffer does not match the image (a programming error).
    GLIMPSE_CODEC_BAD_BUFFER = 5,
    /// An allocation failed.
    GLIMPSE_CODEC_NO_MEMORY = 6,
} glimpse_codec_status;

/// Capacity the callers give for `message` buffers.
#define GLIMPSE_CODEC_MESSAGE_CAPACITY 256

// MARK: JPEG

typedef enum {
    GLIMPSE_JPEG_GRAY = 1,
    GLIMPSE_JPEG_YCBCR = 2,
    GLIMPSE_JPEG_RGB = 3,
    GLIMPSE_JPEG_CMYK = 4,
    GLIMPSE_JPEG_YCCK = 5,
    GLIMPSE_JPEG_OTHER = 6,
} glimpse_jpeg_color;

typedef struct {
    int32_t width;               // as stored, before any EXIF orientation
    int32_t height;
    int32_t components;          // 1, 3 or 4
    int32_t color;               // glimpse_jpeg_color
    int32_t bits_per_sample;     // 8 for everything decodable here
    int32_t progressive;         // 0 or 1
    int32_t arithmetic;          // 0 or 1
    int32_t adobe_marker;        // an Adobe APP14 marker was present
    int32_t restart_interval;    // in MCUs, 0 when there are no restart markers
    int32_t luma_h_sampling;     // sampling factors of the first two components
    int32_t luma_v_sampling;
    int32_t chroma_h_sampling;
    int32_t chroma_v_sampling;
} glimpse_jpeg_header;

/// Reads the JPEG header only (cheap: no pixel data is decoded).
int glimpse_jpeg_read_header(const uint8_t *data, size_t size,
                             glimpse_jpeg_header *header,
                             char *message, size_t message_capacity);

/// Decodes a whole JPEG to 8-bit interleaved RGB rows (width * 3 bytes each).
/// Grayscale is replicated to RGB; CMYK and YCCK follow the Adobe (inverted)
/// convention and are converted as Pillow does. Every libjpeg warning that signals
/// damaged data (premature end, bad Huffman code, ...) is an error here.
/// `pixels` must hold exactly width * height * 3 bytes, else GLIMPSE_CODEC_BAD_BUFFER.
/// Files with more than `max_pixels` pixels or more than `max_scans` scans are refused.
int glimpse_jpeg_decode_rgb(const uint8_t *data, size_t size,
                            uint64_t max_pixels, int32_t max_scans,
                            uint8_t *pixels, size_t capacity,
                            glimpse_jpeg_header *header,
                            char *message, size_t message_capacity);

/// Encodes 8-bit interleaved RGB rows as a baseline JPEG (4:2:0, `quality` 1-100)
/// held in memory. On success `*output` is a malloc'd buffer of `*output_size` bytes:
/// free it with glimpse_codec_free.
int glimpse_jpeg_encode_rgb(const uint8_t *pixels, uint32_t width, uint32_t height, int32_t quality,
                            uint8_t **output, size_t *output_size,
                            char *message, size_t message_capacity);

// MARK: PNG

typedef struct {
    uint32_t width;
    uint32_t height;
    int32_t bit_depth;           // 1, 2, 4, 8 or 16
    int32_t color_type;          // PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
    int32_t interlaced;          // Adam7
    int32_t has_transparency;    // a tRNS chunk is present
    int32_t output_channels;     // 3 (RGB) or 4 (RGBA) after decoding
} glimpse_png_header;

/// Reads the PNG header chunks up to the first IDAT.
int glimpse_png_read_header(const uint8_t *data, size_t size,
                            glimpse_png_header *header,
                            char *message, size_t message_capacity);

/// Decodes a whole PNG to 8-bit interleaved rows of `output_channels` channels:
/// palette expanded, low bit depths scaled to 8 bits (bit replication), 16 bits
/// reduced to their high byte (as Pillow does), gray replicated to RGB, tRNS turned
/// into alpha. No gamma or colour-management transform is applied.
/// `pixels` must hold exactly width * height * output_channels bytes.
int glimpse_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                       uint8_t *pixels, size_t capacity,
                       glimpse_png_header *header,
                       char *message, size_t message_capacity);

/// Encodes 8-bit RGB (channels 3) or RGBA (channels 4) rows into a PNG held in memory.
/// On success `*output` is a malloc'd buffer of `*output_size` bytes: free it with
/// glimpse_codec_free.
int glimpse_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height,
                       int32_t channels, uint8_t **output, size_t *output_size,
                       char *message, size_t message_capacity);

void glimpse_codec_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
