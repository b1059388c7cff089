#!/usr/bin/env python3
"""Writes the image-decoding fixtures under Tests/GlimpseImageTests/Fixtures/.

Run once (the output is committed; CI never runs this):

    pip install pillow numpy torchvision
    python3 Scripts/make_image_fixtures.py

For every case it writes the file, the pixels Glimpse must produce (raw RGB bytes,
`<name>.rgb`) and an entry in `manifest.json`:

* PNG files are written by the small encoder below, which controls colour type,
  bit depth, palette, tRNS and Adam7 interlacing exactly (Pillow cannot write most
  of these). Their expected pixels follow libpng's reading rules, computed from the
  source arrays: low bit depths scaled by bit replication, 16 bits reduced to the
  high byte, palettes expanded, tRNS turned into alpha, then alpha composited over
  white as `(value * alpha + 255 * (255 - alpha) + 127) // 255`. Where Pillow can
  read a file, its decode is checked against the same pixels before writing.
  Tolerance 0.
* JPEG files are written by Pillow (and, for YCCK and arithmetic coding, which
  Pillow cannot write, by a small libjpeg program compiled here). Their expected
  pixels are Pillow's decode, converted to RGB and turned upright with
  `ImageOps.exif_transpose`. Tolerance 1 level per channel (Pillow bundles its own
  libjpeg-turbo build).
* Unsupported and damaged files list the error Glimpse must give.
"""
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
from PIL import Image, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "GlimpseImageTests", "Fixtures")
rng = np.random.default_rng(20261122)
manifest = []


# ----------------------------------------------------------------------------
# Source pictures: asymmetric, so that every orientation is distinguishable.

def picture(width, height):
    y, x = np.mgrid[0:height, 0:width]
    red = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    green = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    blue = ((x * 7 + y * 13) % 256).astype(np.uint8)
    image = np.stack([red, green, blue], axis=-1)
    # A dark square in the top-left quadrant marks the orientation.
    image[1:max(2, height // 3), 1:max(2, width // 4)] = (20, 30, 200)
    return image


# ----------------------------------------------------------------------------
# A PNG encoder with full control over the format.

def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def pack_row(samples, bit_depth):
    """samples: 1-D array of integer samples for one row (all channels interleaved)."""
    if bit_depth == 16:
        return b"".join(struct.pack(">H", int(v)) for v in samples)
    if bit_depth == 8:
        return bytes(int(v) for v in samples)
    per_byte = 8 // bit_depth
    out = bytearray()
    for start in range(0, len(samples), per_byte):
        byte = 0
        group = samples[start:start + per_byte]
        for index, value in enumerate(group):
            byte |= int(value) << (8 - bit_depth * (index + 1))
        out.append(byte)
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def encode_png(samples, color_type, bit_depth, palette=None, trns=None, interlace=False, exif=None):
    """samples: array [H, W, C] of integer samples (C = 1, 2, 3 or 4; palette: indices)."""
    height, width, channels = samples.shape
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    raw = bytearray()
    if interlace:
        passes = ADAM7
    else:
        passes = [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        sub = samples[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue  # an empty pass has no rows at all, not even filter bytes
        for row in sub:
            raw.append(0)  # filter type None
            raw += pack_row(row.reshape(-1), bit_depth)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if exif is not None:
        data += chunk(b"eXIf", exif)
    if palette is not None:
        data += chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        data += chunk(b"tRNS", trns)
    compressed = zlib.compress(bytes(raw), 9)
    # Split the data over several IDAT chunks, as real encoders do.
    for start in range(0, len(compressed), 97):
        data += chunk(b"IDAT", compressed[start:start + 97])
    data += chunk(b"IEND", b"")
    return data


def scale_to_8(values, bit_depth):
    values = values.astype(np.int64)
    if bit_depth == 16:
        return (values >> 8).astype(np.uint8)
    if bit_depth == 8:
        return values.astype(np.uint8)
    return (values * (255 // ((1 << bit_depth) - 1))).astype(np.uint8)


def composite(rgba):
    rgb = rgba[..., :3].astype(np.int64)
    alpha = rgba[..., 3:4].astype(np.int64)
    return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


# The transposition that turns each EXIF orientation upright (as ImageOps.exif_transpose).
UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
           5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_90}


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as handle:
        handle.write(data)


def add_decode_case(name, data, expected_rgb, tolerance, info, note):
    write(name, data)
    expected_name = name + ".rgb"
    write(expected_name, np.ascontiguousarray(expected_rgb, dtype=np.uint8).tobytes())
    height, width, _ = expected_rgb.shape
    manifest.append({
        "name": name, "kind": "decode", "expected": expected_name,
        "width": int(width), "height": int(height), "tolerance": tolerance,
        "info": info, "note": note,
    })


def pillow_rgba(data):
    image = Image.open(io.BytesIO(data))
    image.load()
    return np.asarray(image.convert("RGBA"))


# ----------------------------------------------------------------------------
# PNG cases

def png_cases():
    width, height = 13, 9
    base = picture(width, height)
    alpha = ((np.arange(width)[None, :] * 20 + np.arange(height)[:, None] * 9) % 256).astype(np.uint8)

    def add_png(name, samples, color_type, bit_depth, expected_rgba, palette=None, trns=None,
                interlace=False, pillow_check=True, exif=None, orientation=1, note=""):
        data = encode_png(samples, color_type, bit_depth, palette, trns, interlace, exif)
        if pillow_check:
            decoded = pillow_rgba(data)
            assert np.array_equal(decoded, expected_rgba), f"Pillow disagrees with the expected pixels of {name}"
        expected = composite(expected_rgba)
        if orientation != 1:
            # Turn upright as Pillow does, and check that Pillow agrees on the file itself.
            expected = np.asarray(Image.fromarray(expected).transpose(UPRIGHT[orientation]))
            upright = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
            assert np.array_equal(composite(np.asarray(upright.convert("RGBA"))), expected)
        channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
        info = {"format": "PNG", "channels": channels, "bitDepth": bit_depth,
                "progressive": interlace, "orientation": orientation}
        add_decode_case(name, data, expected, 0, info, note)

    def opaque(rgb):
        return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)

    # Grayscale at every bit depth.
    for depth in (1, 2, 4, 8, 16):
        maximum = (1 << depth) - 1
        gray = (base[..., 0].astype(np.int64) * maximum // 255)
        if depth == 16:
            gray = (base[..., 0].astype(np.int64) * 257 + np.arange(width)[None, :] * 3) % 65536
        gray8 = scale_to_8(gray, depth)
        rgba = opaque(np.stack([gray8] * 3, axis=-1))
        for interlace in ((False, True) if depth in (1, 16) else (False,)):
            suffix = "-adam7" if interlace else ""
            # Pillow reads 16-bit gray as I;16, whose RGBA conversion clips instead of scaling.
            add_png(f"png-gray{depth}{suffix}.png", gray[..., None], 0, depth, rgba,
                    interlace=interlace, pillow_check=depth != 16, note=f"grayscale {depth}-bit")

    # Grayscale with a tRNS key colour.
    gray = base[..., 1].copy()
    gray[gray > 200] = 77
    key = 77
    rgba = opaque(np.stack([gray] * 3, axis=-1))
    rgba[gray == key, 3] = 0
    add_png("png-gray8-trns.png", gray[..., None], 0, 8, rgba, trns=struct.pack(">H", key),
            note="grayscale 8-bit with tRNS")

    # Gray + alpha.
    add_png("png-gray-alpha8.png", np.stack([base[..., 0], alpha], axis=-1), 4, 8,
            np.stack([base[..., 0]] * 3 + [alpha], axis=-1), note="gray+alpha 8-bit")
    gray16 = base[..., 0].astype(np.int64) * 257
    alpha16 = alpha.astype(np.int64) * 257 + 100
    alpha16 = np.minimum(alpha16, 65535)
    add_png("png-gray-alpha16.png", np.stack([gray16, alpha16], axis=-1), 4, 16,
            np.stack([scale_to_8(gray16, 16)] * 3 + [scale_to_8(alpha16, 16)], axis=-1),
            pillow_check=True, note="gray+alpha 16-bit")

    # RGB.
    add_png("png-rgb8.png", base, 2, 8, opaque(base), note="RGB 8-bit")
    add_png("png-rgb8-adam7.png", base, 2, 8, opaque(base), interlace=True, note="RGB 8-bit, Adam7")
    rgb16 = base.astype(np.int64) * 257 + rng.integers(0, 256, base.shape)
    rgb16 = np.minimum(rgb16, 65535)
    add_png("png-rgb16.png", rgb16, 2, 16, opaque(scale_to_8(rgb16, 16)), note="RGB 16-bit")
    trns_rgb = base.copy()
    trns_rgb[2:4, 2:6] = (10, 20, 30)
    rgba = opaque(trns_rgb)
    rgba[np.all(trns_rgb == (10, 20, 30), axis=-1), 3] = 0
    add_png("png-rgb8-trns.png", trns_rgb, 2, 8, rgba, trns=struct.pack(">HHH", 10, 20, 30),
            note="RGB 8-bit with a tRNS key colour")

    # RGBA.
    rgba8 = np.concatenate([base, alpha[..., None]], axis=-1)
    add_png("png-rgba8.png", rgba8, 6, 8, rgba8, note="RGBA 8-bit")
    rgba16 = np.concatenate([rgb16, alpha16[..., None]], axis=-1)
    add_png("png-rgba16-adam7.png", rgba16, 6, 16, scale_to_8(rgba16, 16), interlace=True,
            note="RGBA 16-bit, Adam7")

    # Palettes at every legal depth, with and without tRNS.
    for depth in (1, 2, 4, 8):
        entries = 1 << depth if depth < 8 else 200
        palette = rng.integers(0, 256, (entries, 3)).astype(np.uint8)
        indices = ((base[..., 0].astype(np.int64) + base[..., 1]) * entries // 511) % entries
        expected = opaque(palette[indices])
        add_png(f"png-palette{depth}.png", indices[..., None], 3, depth, expected, palette=palette,
                interlace=depth == 4, note=f"palette {depth}-bit" + (", Adam7" if depth == 4 else ""))
        # tRNS shorter than the palette: entries past it are opaque.
        alphas = rng.integers(0, 256, max(1, entries // 2)).astype(np.uint8)
        full_alpha = np.concatenate([alphas, np.full(entries - len(alphas), 255, np.uint8)])
        expected = np.concatenate([palette[indices], full_alpha[indices][..., None]], axis=-1)
        add_png(f"png-palette{depth}-trns.png", indices[..., None], 3, depth, expected, palette=palette,
                trns=bytes(alphas), note=f"palette {depth}-bit with tRNS")

    # Tiny interlaced images, where some Adam7 passes are empty.
    for w, h in ((1, 1), (3, 1), (1, 5)):
        tiny = picture(w, h)
        add_png(f"png-rgb8-adam7-{w}x{h}.png", tiny, 2, 8, opaque(tiny), interlace=True,
                note=f"{w}x{h} Adam7 (empty passes)")

    # An eXIf chunk asking for a 90-degree clockwise turn.
    exif = Image.Exif()
    exif[0x0112] = 6
    data_exif = exif.tobytes()
    if data_exif.startswith(b"Exif\x00\x00"):
        data_exif = data_exif[6:]
    add_png("png-rgb8-exif6.png", base, 2, 8, opaque(base), exif=data_exif, orientation=6,
            pillow_check=False, note="RGB with eXIf orientation 6")

    # A file from a real encoder (Pillow, which uses zlib and its own filters).
    buffer = io.BytesIO()
    Image.fromarray(picture(31, 17)).save(buffer, format="PNG", optimize=True)
    data = buffer.getvalue()
    add_decode_case("png-pillow-rgb.png", data, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), 0,
                    {"format": "PNG", "channels": 3, "bitDepth": 8, "progressive": False, "orientation": 1},
                    "RGB written by Pillow")


# ----------------------------------------------------------------------------
# JPEG cases

YCCK_WRITER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
/* usage: writer WIDTH HEIGHT MODE < raw > out.jpg
   MODE: ycck (input CMYK, stored inverted Adobe-style as YCCK) or arith (RGB, arithmetic coded) */
int main(int argc, char **argv) {
    int width = atoi(argv[1]), height = atoi(argv[2]);
    int ycck = argv[3][0] == 'y';
    int components = ycck ? 4 : 3;
    unsigned char *pixels = malloc((size_t)width * height * components);
    if (fread(pixels, 1, (size_t)width * height * components, stdin) != (size_t)width * height * components) return 1;
    struct jpeg_compress_struct cinfo; struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, stdout);
    cinfo.image_width = width; cinfo.image_height = height;
    cinfo.input_components = components;
    cinfo.in_color_space = ycck ? JCS_CMYK : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    if (ycck) jpeg_set_colorspace(&cinfo, JCS_YCCK); else cinfo.arith_code = TRUE;
    jpeg_set_quality(&cinfo, 92, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = pixels + (size_t)cinfo.next_scanline * width * components;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return 0;
}
"""


def compile_writer(directory):
    source = os.path.join(directory, "writer.c")
    binary = os.path.join(directory, "writer")
    with open(source, "w") as handle:
        handle.write(YCCK_WRITER)
    subprocess.run(["cc", "-O2", "-o", binary, source, "-ljpeg"], check=True)
    return binary


def jpeg_cases():
    width, height = 37, 23
    base = Image.fromarray(picture(width, height))

    def expected_of(data):
        image = Image.open(io.BytesIO(data))
        image.load()
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))

    def add_jpeg(name, data, channels, orientation=1, progressive=False, note=""):
        expected = expected_of(data)
        info = {"format": "JPEG", "channels": channels, "bitDepth": 8,
                "progressive": progressive, "orientation": orientation}
        add_decode_case(name, data, expected, 1, info, note)

    def save(image, **options):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=92, **options)
        return buffer.getvalue()

    add_jpeg("jpeg-baseline-444.jpg", save(base, subsampling=0), 3, note="baseline 4:4:4")
    add_jpeg("jpeg-baseline-422.jpg", save(base, subsampling=1), 3, note="baseline 4:2:2")
    add_jpeg("jpeg-baseline-420.jpg", save(base, subsampling=2), 3, note="baseline 4:2:0")
    add_jpeg("jpeg-progressive-420.jpg", save(base, subsampling=2, progressive=True), 3, progressive=True,
             note="progressive 4:2:0")
    add_jpeg("jpeg-progressive-444.jpg", save(base, subsampling=0, progressive=True), 3, progressive=True,
             note="progressive 4:4:4")
    add_jpeg("jpeg-gray.jpg", save(base.convert("L")), 1, note="grayscale")
    add_jpeg("jpeg-gray-progressive.jpg", save(base.convert("L"), progressive=True), 1, progressive=True,
             note="grayscale progressive")
    add_jpeg("jpeg-restart-blocks.jpg", save(base, subsampling=2, restart_marker_blocks=1), 3,
             note="restart marker after every MCU")
    add_jpeg("jpeg-restart-rows.jpg", save(base, subsampling=0, restart_marker_rows=1), 3,
             note="restart marker after every MCU row")
    cmyk = Image.fromarray(np.asarray(base.convert("CMYK")).copy(), "CMYK")
    cmyk_data = save(cmyk)
    assert b"Adobe" in cmyk_data, "Pillow should write an Adobe marker for CMYK"
    add_jpeg("jpeg-cmyk-adobe.jpg", cmyk_data, 4, note="CMYK, Adobe inverted")

    with tempfile.TemporaryDirectory() as directory:
        writer = compile_writer(directory)
        # Adobe convention: the stored CMYK samples are inverted (255 = no ink).
        cmyk_array = np.asarray(base.convert("CMYK"))
        inverted = (255 - cmyk_array).astype(np.uint8)
        ycck_data = subprocess.run([writer, str(width), str(height), "ycck"], input=inverted.tobytes(),
                                   capture_output=True, check=True).stdout
        add_jpeg("jpeg-ycck-adobe.jpg", ycck_data, 4, note="YCCK, Adobe inverted")
        arith_data = subprocess.run([writer, str(width), str(height), "arith"],
                                    input=np.asarray(base).tobytes(), capture_output=True, check=True).stdout
        add_jpeg("jpeg-arithmetic.jpg", arith_data, 3, note="arithmetic-coded baseline")

    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        add_jpeg(f"jpeg-exif-orientation-{orientation}.jpg", save(base, subsampling=2, exif=exif.tobytes()),
                 3, orientation=orientation, note=f"EXIF orientation {orientation}")

    # Odd geometry: one pixel wide, and a tall thin progressive image.
    add_jpeg("jpeg-1x1.jpg", save(Image.fromarray(picture(1, 1))), 3, note="1x1")
    add_jpeg("jpeg-3x41-progressive.jpg", save(Image.fromarray(picture(3, 41)), progressive=True), 3,
             progressive=True, note="3x41 progressive")


# ----------------------------------------------------------------------------
# Unsupported and damaged files

def error_cases():
    def add_error(name, data, error, detected=None, note=""):
        write(name, data)
        entry = {"name": name, "kind": "error", "error": error, "note": note}
        if detected is not None:
            entry["detected"] = detected
        manifest.append(entry)

    image = Image.fromarray(picture(16, 12))
    for fmt, name, detected in (("GIF", "unsupported.gif", "GIF image"), ("BMP", "unsupported.bmp", "BMP image"),
                                ("WEBP", "unsupported.webp", "WebP image"), ("TIFF", "unsupported.tiff", "TIFF image")):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        add_error(name, buffer.getvalue(), "unsupportedFormat", detected, f"a real {fmt} file")
    # HEIC and AVIF: the ISO-BMFF 'ftyp' box is what identifies them.
    add_error("unsupported.heic", struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00mif1heic" + bytes(40),
              "unsupportedFormat", "HEIC/HEIF image", "the start of a HEIC file")
    add_error("unsupported.avif", struct.pack(">I", 24) + b"ftypavif" + b"\x00\x00\x00\x00mif1avif" + bytes(40),
              "unsupportedFormat", "AVIF image", "the start of an AVIF file")
    add_error("text-named.jpg", "A caption file, not a picture.\nSecond line é\n".encode(), "unsupportedFormat",
              "text file", "text with a .jpg name")
    add_error("empty.png", b"", "emptyFile", None, "zero bytes")
    add_error("random-bytes.png", bytes(rng.integers(128, 256, 64).astype(np.uint8)), "unsupportedFormat", None,
              "bytes that match nothing")

    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", quality=90)
    jpeg = jpeg.getvalue()
    add_error("truncated.jpg", jpeg[: len(jpeg) * 2 // 3], "truncated", None, "JPEG cut at two thirds")
    png = encode_png(picture(16, 12), 2, 8)
    add_error("truncated.png", png[: len(png) * 2 // 3], "truncated", None, "PNG cut at two thirds")
    damaged = bytearray(png)
    index = png.index(b"IDAT") + 20
    damaged[index] ^= 0xFF
    add_error("bad-crc.png", bytes(damaged), "corrupt", None, "PNG with a flipped byte in IDAT (CRC mismatch)")

    # Headers that claim far more pixels than the cap, with almost no data.
    huge_png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")
    add_error("huge-dimensions.png", huge_png, "tooLarge", None, "30000x30000 PNG header, 900 megapixels")
    sof = jpeg.index(b"\xff\xc0")
    huge_jpeg = bytearray(jpeg)
    huge_jpeg[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
    add_error("huge-dimensions.jpg", bytes(huge_jpeg), "tooLarge", None, "60000x60000 JPEG header")

    # Small files for the prefix and corruption tests.
    small_jpeg = io.BytesIO()
    Image.fromarray(picture(16, 16)).save(small_jpeg, format="JPEG", quality=80, progressive=True)
    write("robustness-small.jpg", small_jpeg.getvalue())
    write("robustness-small.png", encode_png(picture(16, 16), 2, 8, interlace=True))


# ----------------------------------------------------------------------------
# Resizing: Pillow's antialiased bilinear resize, which Glimpse reproduces exactly.

def resize_cases():
    sources = {
        "shrink-noise": np.clip(picture(301, 203).astype(np.int64) + rng.integers(-60, 61, (203, 301, 3)), 0, 255),
        "shrink-stripes": np.stack([((np.arange(257)[None, :] + np.zeros((190, 1), np.int64)) % 2) * 255] * 3,
                                   axis=-1),
        "enlarge": picture(11, 7),
        "mixed": picture(50, 9),
    }
    targets = {"shrink-noise": [(128, 128), (37, 23)], "shrink-stripes": [(64, 64)],
               "enlarge": [(40, 40), (128, 128)], "mixed": [(20, 30)]}
    for key, array in sources.items():
        array = array.astype(np.uint8)
        height, width, _ = array.shape
        source_name = f"resize-{key}-{width}x{height}.rgb"
        write(source_name, array.tobytes())
        for (out_w, out_h) in targets[key]:
            resized = np.asarray(Image.fromarray(array).resize((out_w, out_h), Image.Resampling.BILINEAR))
            expected_name = f"resize-{key}-to-{out_w}x{out_h}.rgb"
            write(expected_name, resized.tobytes())
            manifest.append({"name": source_name, "kind": "resize", "width": width, "height": height,
                             "expected": expected_name, "outputWidth": out_w, "outputHeight": out_h,
                             "tolerance": 0, "note": f"Pillow BILINEAR {width}x{height} -> {out_w}x{out_h}"})

    # torchvision's ImageNet recipe, Resize(R) then CenterCrop(S) (Preprocessing.resizeShortSide):
    # landscape 301x203 -> 59x40 -> crop at (14, 4) (13.5 rounds to even); 11x7 -> 51x33 -> crop
    # at (10, 0) (9.5 and 0.5 round to even). torchvision is imported here only.
    from torchvision import transforms
    for key, short_side, crop in [("shrink-noise", 40, 32), ("enlarge", 33, 32)]:
        array = sources[key].astype(np.uint8)
        height, width, _ = array.shape
        recipe = transforms.Compose([transforms.Resize(short_side), transforms.CenterCrop(crop)])
        cropped = np.asarray(recipe(Image.fromarray(array)))
        expected_name = f"resize-crop-{key}-{short_side}-{crop}.rgb"
        write(expected_name, cropped.tobytes())
        manifest.append({"name": f"resize-{key}-{width}x{height}.rgb", "kind": "resize-crop", "width": width,
                         "height": height, "expected": expected_name, "outputWidth": crop, "outputHeight": crop,
                         "shortSide": short_side, "tolerance": 0,
                         "note": f"torchvision Resize({short_side}) + CenterCrop({crop}) of {width}x{height}"})

    # Normalisation as torchvision's ToTensor + Normalize, in float32, planar [3, S, S].
    resized = np.asarray(Image.fromarray(sources["shrink-noise"].astype(np.uint8)).resize((16, 16),
                                                                                         Image.Resampling.BILINEAR))
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    planar = resized.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    normalized = ((planar - mean[:, None, None]) / std[:, None, None]).astype("<f4")
    write("normalize-16x16.f32", normalized.tobytes())
    write("normalize-16x16-input.rgb", resized.tobytes())
    manifest.append({"name": "normalize-16x16-input.rgb", "kind": "normalize", "width": 16, "height": 16,
                     "expected": "normalize-16x16.f32", "tolerance": 0,
                     "note": "(x / 255 - mean) / std in float32, planar"})


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    png_cases()
    jpeg_cases()
    error_cases()
    resize_cases()
    with open(os.path.join(OUT, "manifest.json"), "w") as handle:
        json.dump({"generator": "Scripts/make_image_fixtures.py", "pillow": Image.__version__,
                   "cases": manifest}, handle, indent=1)
        handle.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, name)) for name in os.listdir(OUT))
    print(f"{len(manifest)} cases, {total} bytes in {OUT}")


if __name__ == "__main__":
    sys.exit(main())
