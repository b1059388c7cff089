// PNG decoding with libpng's full API (its simplified API treats 16-bit data as
// linear light and would gamma-encode it; we want the stored values, as Pillow
// reads them) and encoding with the simplified API, which needs no setjmp.
#include "glimpse_codec.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    int ran_out;                 // the reader hit the end of the data
    jmp_buf jump;
    char message[GLIMPSE_CODEC_MESSAGE_CAPACITY];
} glimpse_png_reader;

static void copy_message(char *destination, size_t capacity, const char *source) {
    if (destination == NULL || capacity == 0) return;
    snprintf(destination, capacity, "%s", source);
}

static void glimpse_png_error(png_structp png, png_const_charp text) {
    glimpse_png_reader *reader = (glimpse_png_reader *)png_get_error_ptr(png);
    snprintf(reader->message, sizeof reader->message, "%s", text);
    longjmp(reader->jump, 1);
}

static void glimpse_png_warning(png_structp png, png_const_charp text) {
    (void)png;   // warnings (bad ancillary chunks, sRGB profile notes) never reach stderr
    (void)text;
}

static void glimpse_png_read_data(png_structp png, png_bytep out, size_t count) {
    glimpse_png_reader *reader = (glimpse_png_reader *)png_get_io_ptr(png);
    if (count > reader->size - reader->offset) {
        reader->ran_out = 1;
        png_error(png, "unexpected end of PNG data");
    }
    memcpy(out, reader->data + reader->offset, count);
    reader->offset += count;
}

static int status_after_jump(const glimpse_png_reader *reader) {
    return reader->ran_out ? GLIMPSE_CODEC_TRUNCATED : GLIMPSE_CODEC_CORRUPT;
}

// Sets the transformations that give 8-bit RGB or RGBA and fills `header`.
static void configure_and_describe(png_structp png, png_infop info, glimpse_png_header *header) {
    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    int has_trns = png_get_valid(png, info, PNG_INFO_tRNS) ? 1 : 0;

    memset(header, 0, sizeof *header);
    header->width = width;
    header->height = height;
    header->bit_depth = bit_depth;
    header->color_type = color_type;
    header->interlaced = interlace == PNG_INTERLACE_ADAM7 ? 1 : 0;
    header->has_transparency = has_trns;
    int has_alpha = (color_type & PNG_COLOR_MASK_ALPHA) || has_trns;
    header->output_channels = has_alpha ? 4 : 3;

    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (has_trns) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) png_set_strip_16(png);
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
}

// Prepares `reader` over the data and creates libpng's read struct (NULL when out of memory).
static png_structp create_reader(glimpse_png_reader *reader, const uint8_t *data, size_t size,
                                 char *message, size_t message_capacity) {
    memset(reader, 0, sizeof *reader);
    reader->data = data;
    reader->size = size;
    copy_message(message, message_capacity, "");
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, reader,
                                             glimpse_png_error, glimpse_png_warning);
    if (png == NULL) {
        copy_message(message, message_capacity, "libpng could not start");
        return NULL;
    }
    png_set_read_fn(png, reader, glimpse_png_read_data);
    // Refuse absurd dimensions inside libpng too; the pixel cap is checked by the caller.
    png_set_user_limits(png, 1u << 24, 1u << 24);
    // Skip every ancillary chunk but tRNS without reading it: none changes the pixels we
    // produce (no gamma or colour management; Swift reads eXIf from the bytes itself), and
    // libpng allocates a text, iCCP, sPLT or eXIf chunk's declared length, up to 2 GiB, before
    // it finds that the data is not there (its size limit is only a warning when reading).
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    return png;
}

int glimpse_png_read_header(const uint8_t *data, size_t size,
                            glimpse_png_header *header,
                            char *message, size_t message_capacity) {
    glimpse_png_reader reader;
    png_structp png = create_reader(&reader, data, size, message, message_capacity);
    if (png == NULL) return GLIMPSE_CODEC_NO_MEMORY;
    png_infop info = NULL;
    if (setjmp(reader.jump)) {
        copy_message(message, message_capacity, reader.message);
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        return status_after_jump(&reader);
    }
    info = png_create_info_struct(png);
    if (info == NULL) png_error(png, "out of memory");
    png_read_info(png, info);
    configure_and_describe(png, info, header);
    png_destroy_read_struct(&png, &info, NULL);
    return GLIMPSE_CODEC_OK;
}

int glimpse_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                       uint8_t *pixels, size_t capacity,
                       glimpse_png_header *header,
                       char *message, size_t message_capacity) {
    glimpse_png_reader reader;
    png_structp png = create_reader(&reader, data, size, message, message_capacity);
    if (png == NULL) return GLIMPSE_CODEC_NO_MEMORY;
    png_infop info = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(reader.jump)) {
        copy_message(message, message_capacity, reader.message);
        free(rows);
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        return status_after_jump(&reader);
    }
    info = png_create_info_struct(png);
    if (info == NULL) png_error(png, "out of memory");
    png_read_info(png, info);
    configure_and_describe(png, info, header);

    uint64_t pixel_count = (uint64_t)header->width * (uint64_t)header->height;
    if (max_pixels > 0 && pixel_count > max_pixels) {
        snprintf(message, message_capacity, "%u x %u pixels is above the limit of %llu",
                 header->width, header->height, (unsigned long long)max_pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return GLIMPSE_CODEC_TOO_LARGE;
    }
    if (capacity != pixel_count * (uint64_t)header->output_channels) {
        copy_message(message, message_capacity, "output buffer does not match the image size");
        png_destroy_read_struct(&png, &info, NULL);
        return GLIMPSE_CODEC_BAD_BUFFER;
    }

    png_set_interlace_handling(png);  // Adam7 passes are merged by png_read_image
    png_read_update_info(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if (row_bytes != (size_t)header->width * (size_t)header->output_channels ||
        png_get_bit_depth(png, info) != 8) {
        png_error(png, "unexpected row layout after transformations");
    }
    rows = malloc(sizeof(png_bytep) * header->height);
    if (rows == NULL) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < header->height; y++) rows[y] = pixels + (size_t)y * row_bytes;
    png_read_image(png, rows);
    // Complete pixel data is a valid image even if the chunks after it (IEND) are missing.
    free(rows);
    rows = NULL;
    png_destroy_read_struct(&png, &info, NULL);
    return GLIMPSE_CODEC_OK;
}

int glimpse_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height,
                       int32_t channels, uint8_t **output, size_t *output_size,
                       char *message, size_t message_capacity) {
    *output = NULL;
    *output_size = 0;
    copy_message(message, message_capacity, "");
    if (channels != 3 && channels != 4) {
        copy_message(message, message_capacity, "PNG output needs 3 (RGB) or 4 (RGBA) channels");
        return GLIMPSE_CODEC_BAD_BUFFER;
    }
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = width;
    image.height = height;
    image.format = channels == 4 ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;

    png_alloc_size_t size = 0;
    png_int_32 stride = (png_int_32)(width * (uint32_t)channels);
    if (!png_image_write_to_memory(&image, NULL, &size, 0, pixels, stride, NULL)) {
        copy_message(message, message_capacity, image.message);
        png_image_free(&image);
        return GLIMPSE_CODEC_CORRUPT;
    }
    uint8_t *buffer = malloc(size);
    if (buffer == NULL) {
        copy_message(message, message_capacity, "out of memory");
        return GLIMPSE_CODEC_NO_MEMORY;
    }
    if (!png_image_write_to_memory(&image, buffer, &size, 0, pixels, stride, NULL)) {
        copy_message(message, message_capacity, image.message);
        png_image_free(&image);
        free(buffer);
        return GLIMPSE_CODEC_CORRUPT;
    }
    *output = buffer;
    *output_size = size;
    return GLIMPSE_CODEC_OK;
}

void glimpse_codec_free(void *pointer) { free(pointer); }
