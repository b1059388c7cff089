// JPEG decoding with libjpeg(-turbo). Every setjmp sits in the function that calls
// the libjpeg routines that may longjmp back to it.
#include "glimpse_codec.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr manager;      // must be first: libjpeg casts err to this
    jmp_buf jump;
    int status;                         // what the longjmp means
    int data_ended;                     // the data ran out (no EOI marker) inside a single-scan image
    char message[JMSG_LENGTH_MAX];
} glimpse_jpeg_error;

typedef struct {
    struct jpeg_progress_mgr manager;   // must be first
    int32_t max_scans;
} glimpse_jpeg_progress;

static void copy_message(char *destination, size_t capacity, const char *source) {
    if (destination == NULL || capacity == 0) return;
    snprintf(destination, capacity, "%s", source);
}

static int status_for_code(int code) {
    switch (code) {
    case JERR_BAD_PRECISION:
    case JERR_NOT_COMPILED:
    case JERR_CONVERSION_NOTIMPL:
        return GLIMPSE_CODEC_UNSUPPORTED;
    case JERR_INPUT_EOF:
    case JERR_INPUT_EMPTY:
    case JWRN_JPEG_EOF:
        return GLIMPSE_CODEC_TRUNCATED;
    case JERR_OUT_OF_MEMORY:
        return GLIMPSE_CODEC_NO_MEMORY;
    default:
        return GLIMPSE_CODEC_CORRUPT;
    }
}

static void glimpse_jpeg_error_exit(j_common_ptr cinfo) {
    glimpse_jpeg_error *error = (glimpse_jpeg_error *)cinfo->err;
    if (error->data_ended) {
        // Coded data was still needed after the end of the file: truncated, whatever the
        // decoder calls it.
        snprintf(error->message, sizeof error->message, "Premature end of JPEG file");
        error->status = GLIMPSE_CODEC_TRUNCATED;
    } else {
        (*cinfo->err->format_message)(cinfo, error->message);
        error->status = status_for_code(cinfo->err->msg_code);
    }
    longjmp(error->jump, 1);
}

// Warnings that do not mean the pixels are wrong; everything else libjpeg warns
// about (premature end of file, bad Huffman code, resync, ...) means damaged data
// that libjpeg would otherwise paper over with gray rows.
static int warning_is_harmless(int code) {
    switch (code) {
    case JWRN_ADOBE_XFORM:       // unknown transform code: libjpeg guesses, as Pillow does
    case JWRN_JFIF_MAJOR:        // unknown JFIF revision
    case JWRN_EXTRANEOUS_DATA:   // stray bytes between markers, common in camera files
    case JWRN_BOGUS_ICC:         // a damaged ICC profile marker; we do not use profiles
        return 1;
    default:
        return 0;
    }
}

// The data ran out where libjpeg looks for the next marker (JWRN_JPEG_EOF; it then reads a
// fake EOI). In a single-scan sequential image (baseline or extended, every component in
// the scan) that is harmless by itself: the entropy decoder prefetches bits past the last
// MCU, so a file whose coded data is complete but lacks the final EOI marker warns here
// too. If coded data is really missing, decoding the next MCU needs bits beyond the end
// and libjpeg warns again (JWRN_HIT_MARKER), which is then reported as truncation; and
// rows that never arrive are caught after the scanline loop. A progressive or multi-scan
// image cut at a scan boundary would decode without further warning, only blurred or
// missing a component, so there the first warning is already an error.
static int data_end_is_harmless(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor || cinfo->err->msg_code != JWRN_JPEG_EOF) return 0;
    j_decompress_ptr decompress = (j_decompress_ptr)cinfo;
    return decompress->global_state >= 205 /* DSTATE_SCANNING and after: inside the image data */
        && !decompress->progressive_mode && !decompress->buffered_image
        && decompress->comps_in_scan == decompress->num_components;
}

static void glimpse_jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;  // trace messages
    glimpse_jpeg_error *error = (glimpse_jpeg_error *)cinfo->err;
    if (warning_is_harmless(cinfo->err->msg_code)) {
        cinfo->err->num_warnings++;
        return;
    }
    if (data_end_is_harmless(cinfo)) {
        error->data_ended = 1;
        cinfo->err->num_warnings++;
        return;
    }
    glimpse_jpeg_error_exit(cinfo);
}

static void glimpse_jpeg_output_message(j_common_ptr cinfo) {
    (void)cinfo;  // never write to stderr
}

static void glimpse_jpeg_progress_monitor(j_common_ptr cinfo) {
    glimpse_jpeg_progress *progress = (glimpse_jpeg_progress *)cinfo->progress;
    if (cinfo->is_decompressor) {
        int scans = ((j_decompress_ptr)cinfo)->input_scan_number;
        if (progress->max_scans > 0 && scans > progress->max_scans) {
            glimpse_jpeg_error *error = (glimpse_jpeg_error *)cinfo->err;
            snprintf(error->message, sizeof error->message,
                     "progressive JPEG with more than %d scans refused (a malicious or damaged file)",
                     (int)progress->max_scans);
            error->status = GLIMPSE_CODEC_CORRUPT;
            longjmp(error->jump, 1);
        }
    }
}

static void install_error_manager(struct jpeg_decompress_struct *cinfo, glimpse_jpeg_error *error) {
    cinfo->err = jpeg_std_error(&error->manager);
    error->manager.error_exit = glimpse_jpeg_error_exit;
    error->manager.emit_message = glimpse_jpeg_emit_message;
    error->manager.output_message = glimpse_jpeg_output_message;
    error->status = GLIMPSE_CODEC_OK;
    error->data_ended = 0;
    error->message[0] = '\0';
}

static void fill_header(const struct jpeg_decompress_struct *cinfo, glimpse_jpeg_header *header) {
    memset(header, 0, sizeof *header);
    header->width = (int32_t)cinfo->image_width;
    header->height = (int32_t)cinfo->image_height;
    header->components = cinfo->num_components;
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE: header->color = GLIMPSE_JPEG_GRAY; break;
    case JCS_YCbCr: header->color = GLIMPSE_JPEG_YCBCR; break;
    case JCS_RGB: header->color = GLIMPSE_JPEG_RGB; break;
    case JCS_CMYK: header->color = GLIMPSE_JPEG_CMYK; break;
    case JCS_YCCK: header->color = GLIMPSE_JPEG_YCCK; break;
    default: header->color = GLIMPSE_JPEG_OTHER; break;
    }
    header->bits_per_sample = cinfo->data_precision;
    header->progressive = cinfo->progressive_mode ? 1 : 0;
    header->arithmetic = cinfo->arith_code ? 1 : 0;
    header->adobe_marker = cinfo->saw_Adobe_marker ? 1 : 0;
    header->restart_interval = (int32_t)cinfo->restart_interval;
    if (cinfo->num_components >= 1 && cinfo->comp_info != NULL) {
        header->luma_h_sampling = cinfo->comp_info[0].h_samp_factor;
        header->luma_v_sampling = cinfo->comp_info[0].v_samp_factor;
    }
    if (cinfo->num_components >= 2 && cinfo->comp_info != NULL) {
        header->chroma_h_sampling = cinfo->comp_info[1].h_samp_factor;
        header->chroma_v_sampling = cinfo->comp_info[1].v_samp_factor;
    }
}

int glimpse_jpeg_read_header(const uint8_t *data, size_t size,
                             glimpse_jpeg_header *header,
                             char *message, size_t message_capacity) {
    struct jpeg_decompress_struct cinfo;
    glimpse_jpeg_error error;
    copy_message(message, message_capacity, "");
    install_error_manager(&cinfo, &error);
    if (setjmp(error.jump)) {
        copy_message(message, message_capacity, error.message);
        jpeg_destroy_decompress(&cinfo);
        return error.status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    fill_header(&cinfo, header);
    jpeg_destroy_decompress(&cinfo);
    return GLIMPSE_CODEC_OK;
}

// Pillow's CMYK -> RGB for Adobe (inverted) data: with true ink values C, K,
// R = (255 - K) - round((C * (255 - K)) / 255), using its MULDIV255 rounding.
static inline uint8_t cmyk_channel(uint8_t stored_ink, uint8_t stored_black) {
    int ink = 255 - stored_ink;
    int not_black = stored_black;  // 255 - K, where K = 255 - stored
    int product = ink * not_black + 128;
    int scaled = ((product >> 8) + product) >> 8;
    int value = not_black - scaled;
    return (uint8_t)(value < 0 ? 0 : (value > 255 ? 255 : value));
}

int glimpse_jpeg_decode_rgb(const uint8_t *data, size_t size,
                            uint64_t max_pixels, int32_t max_scans,
                            uint8_t *pixels, size_t capacity,
                            glimpse_jpeg_header *header,
                            char *message, size_t message_capacity) {
    struct jpeg_decompress_struct cinfo;
    glimpse_jpeg_error error;
    glimpse_jpeg_progress progress;
    uint8_t *volatile cmyk_row = NULL;

    copy_message(message, message_capacity, "");
    install_error_manager(&cinfo, &error);
    if (setjmp(error.jump)) {
        copy_message(message, message_capacity, error.message);
        free(cmyk_row);
        jpeg_destroy_decompress(&cinfo);
        return error.status;
    }
    jpeg_create_decompress(&cinfo);
    memset(&progress, 0, sizeof progress);
    progress.manager.progress_monitor = glimpse_jpeg_progress_monitor;
    progress.max_scans = max_scans;
    cinfo.progress = &progress.manager;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    fill_header(&cinfo, header);

    uint64_t pixel_count = (uint64_t)cinfo.image_width * (uint64_t)cinfo.image_height;
    if (max_pixels > 0 && pixel_count > max_pixels) {
        snprintf(message, message_capacity, "%u x %u pixels is above the limit of %llu",
                 cinfo.image_width, cinfo.image_height, (unsigned long long)max_pixels);
        jpeg_destroy_decompress(&cinfo);
        return GLIMPSE_CODEC_TOO_LARGE;
    }
    if (capacity != pixel_count * 3) {
        copy_message(message, message_capacity, "output buffer does not match the image size");
        jpeg_destroy_decompress(&cinfo);
        return GLIMPSE_CODEC_BAD_BUFFER;
    }

    int is_cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    if (is_cmyk) {
        cinfo.out_color_space = JCS_CMYK;  // libjpeg converts YCCK to CMYK; we do CMYK -> RGB
    } else if (cinfo.jpeg_color_space == JCS_GRAYSCALE || cinfo.jpeg_color_space == JCS_YCbCr ||
               cinfo.jpeg_color_space == JCS_RGB) {
        cinfo.out_color_space = JCS_RGB;
    } else {
        copy_message(message, message_capacity, "unsupported JPEG colour space");
        jpeg_destroy_decompress(&cinfo);
        return GLIMPSE_CODEC_UNSUPPORTED;
    }

    jpeg_start_decompress(&cinfo);
    if (cinfo.output_width != cinfo.image_width || cinfo.output_height != cinfo.image_height ||
        cinfo.output_components != (is_cmyk ? 4 : 3)) {
        copy_message(message, message_capacity, "unexpected output geometry from libjpeg");
        jpeg_destroy_decompress(&cinfo);
        return GLIMPSE_CODEC_CORRUPT;
    }

    size_t row_bytes = (size_t)cinfo.output_width * 3;
    if (is_cmyk) {
        cmyk_row = malloc((size_t)cinfo.output_width * 4);
        if (cmyk_row == NULL) {
            copy_message(message, message_capacity, "out of memory");
            jpeg_destroy_decompress(&cinfo);
            return GLIMPSE_CODEC_NO_MEMORY;
        }
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *destination = pixels + (size_t)cinfo.output_scanline * row_bytes;
        if (is_cmyk) {
            JSAMPROW row = cmyk_row;
            if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;
            for (JDIMENSION x = 0; x < cinfo.output_width; x++) {
                const uint8_t *source = cmyk_row + 4 * (size_t)x;
                destination[3 * x + 0] = cmyk_channel(source[0], source[3]);
                destination[3 * x + 1] = cmyk_channel(source[1], source[3]);
                destination[3 * x + 2] = cmyk_channel(source[2], source[3]);
            }
        } else {
            JSAMPROW row = destination;
            if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;
        }
    }
    if (cinfo.output_scanline < cinfo.output_height) {
        copy_message(message, message_capacity, "Premature end of JPEG file");
        free(cmyk_row);
        jpeg_destroy_decompress(&cinfo);
        return GLIMPSE_CODEC_TRUNCATED;
    }
    // Every row arrived without a warning, so the pixels are complete. We skip
    // jpeg_finish_decompress: it only looks for the EOI marker, and a file that
    // lacks one after complete data decodes fine in every other reader.
    free(cmyk_row);
    cmyk_row = NULL;
    jpeg_destroy_decompress(&cinfo);
    return GLIMPSE_CODEC_OK;
}

typedef struct {
    struct jpeg_error_mgr manager;      // must be first
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} glimpse_jpeg_compress_error;

static void glimpse_jpeg_compress_error_exit(j_common_ptr cinfo) {
    glimpse_jpeg_compress_error *error = (glimpse_jpeg_compress_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, error->message);
    longjmp(error->jump, 1);
}

int glimpse_jpeg_encode_rgb(const uint8_t *pixels, uint32_t width, uint32_t height, int32_t quality,
                            uint8_t **output, size_t *output_size,
                            char *message, size_t message_capacity) {
    struct jpeg_compress_struct cinfo;
    glimpse_jpeg_compress_error error;
    // libjpeg allocates and grows this buffer; its address is passed out, so its
    // current value is in memory when a longjmp lands below.
    unsigned char *destination = NULL;
    unsigned long size = 0;

    *output = NULL;
    *output_size = 0;
    copy_message(message, message_capacity, "");
    cinfo.err = jpeg_std_error(&error.manager);
    error.manager.error_exit = glimpse_jpeg_compress_error_exit;
    error.manager.output_message = glimpse_jpeg_output_message;
    error.message[0] = '\0';
    if (setjmp(error.jump)) {
        copy_message(message, message_capacity, error.message);
        jpeg_destroy_compress(&cinfo);
        free(destination);
        return GLIMPSE_CODEC_CORRUPT;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &destination, &size);
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality < 1 ? 1 : (quality > 100 ? 100 : quality), TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * width * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    // jpeg_mem_dest's buffer is malloc'd by libjpeg-turbo; hand it over as is.
    *output = destination;
    *output_size = (size_t)size;
    return GLIMPSE_CODEC_OK;
}
