// libFuzzer harness for the image decoder shim (Sources/CGlimpseCodec).
//
// Every input goes to both decoders, the way ImageDecoder calls them: header first,
// the pixel cap checked from the header, an output buffer of exactly the declared
// size, then the full decode. Each decoder refuses the other's format at its first
// bytes, so feeding both costs little and lets a mutation cross formats. Beyond
// "no crash, no leak, no hang", it checks the shim's contract: a known status, a
// terminated message, the same header from both calls, and every output byte
// written when a decode reports success.
//
// Almost every mutation of a PNG breaks a chunk's CRC, which libpng checks before it
// looks at the chunk; so a PNG input is also decoded once more with its CRCs
// recomputed, to let mutations reach the chunk contents and the image data.
#include "glimpse_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

// Small enough that a declared 65535 x 65535 image is refused before it is allocated
// (the app's default cap is 100 megapixels; the mechanism is the same) and that one
// input decodes well inside the fuzzer's timeout.
enum { MAX_PIXELS = 1 << 22 };
// The app's default (ImageDecodingOptions.maxJPEGScans).
enum { MAX_JPEG_SCANS = 500 };

static void fail(const char *what, int status, const char *message) {
    fprintf(stderr, "codec_fuzzer: %s (status %d, message \"%s\")\n", what, status, message);
    abort();
}

static void check_status(int status, const char *message) {
    if (status < GLIMPSE_CODEC_OK || status > GLIMPSE_CODEC_NO_MEMORY) fail("unknown status", status, "");
    if (memchr(message, '\0', GLIMPSE_CODEC_MESSAGE_CAPACITY) == NULL) fail("message not terminated", status, "");
    // A caller's bug is the only way to get BAD_BUFFER; the harness sizes buffers as the app does.
    if (status == GLIMPSE_CODEC_BAD_BUFFER) fail("buffer refused although sized from the header", status, message);
}

// One decoder's full decode with the app's limits, behind a common signature.
typedef int (*decode_function)(const uint8_t *data, size_t size, uint8_t *pixels, size_t capacity,
                               void *header, char *message);

static int jpeg_decode(const uint8_t *data, size_t size, uint8_t *pixels, size_t capacity,
                       void *header, char *message) {
    return glimpse_jpeg_decode_rgb(data, size, MAX_PIXELS, MAX_JPEG_SCANS, pixels, capacity,
                                   (glimpse_jpeg_header *)header, message, GLIMPSE_CODEC_MESSAGE_CAPACITY);
}

static int png_decode(const uint8_t *data, size_t size, uint8_t *pixels, size_t capacity,
                      void *header, char *message) {
    return glimpse_png_decode(data, size, MAX_PIXELS, pixels, capacity, (glimpse_png_header *)header,
                              message, GLIMPSE_CODEC_MESSAGE_CAPACITY);
}

// Decodes once over a buffer of 0x00 and, if that succeeds, again over 0xFF: a byte
// that differs was never written, though the shim promised a complete image.
static void decode_twice(decode_function decode, const uint8_t *data, size_t size, size_t capacity,
                         void *header, const void *expected_header, size_t header_size) {
    char message[GLIMPSE_CODEC_MESSAGE_CAPACITY];
    uint8_t *first = malloc(capacity);
    if (first == NULL) return;
    memset(first, 0x00, capacity);
    int status = decode(data, size, first, capacity, header, message);
    check_status(status, message);
    if (status == GLIMPSE_CODEC_OK) {
        if (memcmp(header, expected_header, header_size) != 0) fail("decode's header differs from read_header's", status, message);
        uint8_t *second = malloc(capacity);
        if (second != NULL) {
            memset(second, 0xFF, capacity);
            int again = decode(data, size, second, capacity, header, message);
            check_status(again, message);
            if (again != GLIMPSE_CODEC_OK) fail("second decode of the same bytes failed", again, message);
            if (memcmp(first, second, capacity) != 0) fail("success reported with pixels left unwritten", again, message);
            free(second);
        }
    }
    free(first);
}

static void fuzz_jpeg(const uint8_t *data, size_t size) {
    char message[GLIMPSE_CODEC_MESSAGE_CAPACITY];
    glimpse_jpeg_header header, decoded_header;
    memset(&header, 0, sizeof header);
    int status = glimpse_jpeg_read_header(data, size, &header, message, sizeof message);
    check_status(status, message);
    if (status != GLIMPSE_CODEC_OK) return;
    // ImageDecoder.checkPixelCount: refused from the header, before any allocation.
    uint64_t pixels = (uint64_t)(header.width > 0 ? header.width : 0) * (uint64_t)(header.height > 0 ? header.height : 0);
    if (header.width <= 0 || header.height <= 0 || pixels > MAX_PIXELS) return;
    memset(&decoded_header, 0, sizeof decoded_header);
    decode_twice(jpeg_decode, data, size, (size_t)pixels * 3, &decoded_header, &header, sizeof header);
}

static void fuzz_png(const uint8_t *data, size_t size) {
    char message[GLIMPSE_CODEC_MESSAGE_CAPACITY];
    glimpse_png_header header, decoded_header;
    memset(&header, 0, sizeof header);
    int status = glimpse_png_read_header(data, size, &header, message, sizeof message);
    check_status(status, message);
    if (status != GLIMPSE_CODEC_OK) return;
    if (header.output_channels != 3 && header.output_channels != 4) fail("output channels not 3 or 4", status, message);
    uint64_t pixels = (uint64_t)header.width * (uint64_t)header.height;
    if (pixels == 0 || pixels > MAX_PIXELS) return;
    memset(&decoded_header, 0, sizeof decoded_header);
    decode_twice(png_decode, data, size, (size_t)pixels * (size_t)header.output_channels,
                 &decoded_header, &header, sizeof header);
}

static uint32_t read_be32(const uint8_t *bytes) {
    return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 | bytes[3];
}

// A copy of a PNG with every complete chunk's CRC recomputed; NULL when the input is
// not a PNG or its CRCs were all right already.
static uint8_t *with_fixed_crcs(const uint8_t *data, size_t size) {
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size < 8 || memcmp(data, signature, 8) != 0) return NULL;
    uint8_t *copy = NULL;
    size_t offset = 8;
    while (size - offset >= 12) {
        uint32_t length = read_be32(data + offset);
        if (length > size - offset - 12) break;
        uint32_t crc = (uint32_t)crc32(0, data + offset + 4, length + 4);
        if (read_be32(data + offset + 8 + length) != crc) {
            if (copy == NULL) {
                copy = malloc(size);
                if (copy == NULL) return NULL;
                memcpy(copy, data, size);
            }
            uint8_t *stored = copy + offset + 8 + length;
            stored[0] = (uint8_t)(crc >> 24);
            stored[1] = (uint8_t)(crc >> 16);
            stored[2] = (uint8_t)(crc >> 8);
            stored[3] = (uint8_t)crc;
        }
        offset += (size_t)length + 12;
    }
    return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_jpeg(data, size);
    fuzz_png(data, size);
    uint8_t *fixed = with_fixed_crcs(data, size);
    if (fixed != NULL) {
        fuzz_png(fixed, size);
        free(fixed);
    }
    return 0;
}
