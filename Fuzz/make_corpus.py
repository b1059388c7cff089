#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora, Fuzz/corpus/codec and Fuzz/corpus/safetensors.

Run from the repository's top: python3 Fuzz/make_corpus.py. It copies small test
fixtures and adds a few hand-made files: tiny valid images of kinds the fixtures lack
and safetensors files, valid ones and near misses (one rule broken each). The JPEG
seeds need Pillow (pip install pillow); the rest needs nothing but the standard library.
The output is committed; rerunning rewrites the same files and keeps the crash
reproducers added by hand (named regression-*).
"""
import io
import json
import os
import shutil
import struct
import zlib

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODEC = os.path.join(TOP, "Fuzz", "corpus", "codec")
SAFETENSORS = os.path.join(TOP, "Fuzz", "corpus", "safetensors")

IMAGE_FIXTURES = os.path.join(TOP, "Tests", "GlimpseImageTests", "Fixtures")
# One of each kind the decoder distinguishes; the EXIF orientations differ in one byte, so one will do.
IMAGE_FIXTURE_NAMES = [
    "jpeg-1x1.jpg", "jpeg-3x41-progressive.jpg", "jpeg-arithmetic.jpg", "jpeg-baseline-420.jpg",
    "jpeg-baseline-422.jpg", "jpeg-baseline-444.jpg", "jpeg-cmyk-adobe.jpg", "jpeg-ycck-adobe.jpg",
    "jpeg-exif-orientation-6.jpg", "jpeg-gray.jpg", "jpeg-gray-progressive.jpg", "jpeg-progressive-420.jpg",
    "jpeg-progressive-444.jpg", "jpeg-restart-blocks.jpg", "jpeg-restart-rows.jpg", "truncated.jpg",
    "huge-dimensions.jpg",
    "png-gray1.png", "png-gray2.png", "png-gray4.png", "png-gray8.png", "png-gray16.png", "png-gray8-trns.png",
    "png-gray1-adam7.png", "png-gray16-adam7.png", "png-gray-alpha8.png", "png-gray-alpha16.png",
    "png-palette1.png", "png-palette2.png", "png-palette4.png", "png-palette8.png", "png-palette1-trns.png",
    "png-palette2-trns.png", "png-palette4-trns.png", "png-palette8-trns.png", "png-rgb8.png", "png-rgb16.png",
    "png-rgb8-trns.png", "png-rgb8-adam7.png", "png-rgb8-adam7-1x1.png", "png-rgb8-adam7-3x1.png",
    "png-rgba8.png", "png-rgba16-adam7.png", "png-rgb8-exif6.png", "bad-crc.png", "truncated.png",
    "huge-dimensions.png",
]
SAFETENSORS_FIXTURES = [
    os.path.join(TOP, "Tests", "GlimpseSafeTensorsTests", "Fixtures", "reference.safetensors"),
    os.path.join(TOP, "Tests", "GlimpseModelTests", "Fixtures", "pytorch_expected.safetensors"),
]


def write(directory, name, data):
    with open(os.path.join(directory, name), "wb") as file:
        file.write(data)


def reset(directory):
    """Empties `directory` but for the crash reproducers added by hand (regression-*)."""
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if not name.startswith("regression-"):
            os.remove(os.path.join(directory, name))


# MARK: PNG by hand (chunk by chunk, so that any combination can be written)

def chunk(kind, payload):
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(width, height, bit_depth, color_type, rows, extra=(), idat_pieces=1, interlace=0):
    """`rows` are the filtered scanlines, each starting with its filter byte."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    compressed = zlib.compress(b"".join(rows), 9)
    step = max(1, -(-len(compressed) // idat_pieces))
    idats = [chunk(b"IDAT", compressed[i:i + step]) for i in range(0, len(compressed), step)]
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + b"".join(extra) + b"".join(idats) + chunk(b"IEND", b"")


def gradient_rows(width, height, bytes_per_pixel, filters=(0, 1, 2, 3, 4)):
    return [bytes([filters[y % len(filters)]]) + bytes((x * 37 + y * 11 + c * 5) & 0xFF
                                                       for x in range(width) for c in range(bytes_per_pixel))
            for y in range(height)]


def png_seeds():
    seeds = {}
    # Every filter type over 16-bit RGB with tRNS, in three IDAT chunks.
    seeds["gen-png-rgb16-trns-filters-3idat.png"] = png(
        7, 5, 16, 2, gradient_rows(7, 5, 6), extra=[chunk(b"tRNS", struct.pack(">HHH", 1, 2, 3))], idat_pieces=3)
    # 16-bit gray with tRNS; ancillary chunks the decoder must skip or apply: gAMA, cHRM, sBIT, pHYs, tEXt, zTXt, tIME.
    ancillary = [chunk(b"gAMA", struct.pack(">I", 45455)),
                 chunk(b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)),
                 chunk(b"sBIT", bytes([12])), chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1)),
                 chunk(b"tEXt", b"Comment\x00glimpse fuzz seed"),
                 chunk(b"zTXt", b"Title\x00\x00" + zlib.compress(b"compressed text")),
                 chunk(b"tIME", struct.pack(">HBBBBB", 2026, 1, 2, 3, 4, 5))]
    seeds["gen-png-gray16-trns-ancillary.png"] = png(
        5, 4, 16, 0, gradient_rows(5, 4, 2), extra=ancillary + [chunk(b"tRNS", struct.pack(">H", 7))])
    # Palette with sPLT-like unknown private chunk and a short tRNS, 8 wide so every bit depth packs evenly.
    palette = bytes(range(0, 48))
    seeds["gen-png-palette8-private-chunk.png"] = png(
        8, 3, 8, 3, [b"\x00" + bytes((x + y) % 16 for x in range(8)) for y in range(3)],
        extra=[chunk(b"PLTE", palette), chunk(b"tRNS", bytes([0, 128, 255])), chunk(b"prIv", b"private data")])
    # An iCCP chunk (a fake profile: the decoder does no colour management and must not care).
    seeds["gen-png-rgba8-iccp.png"] = png(
        3, 3, 8, 6, gradient_rows(3, 3, 4), extra=[chunk(b"iCCP", b"fake\x00\x00" + zlib.compress(b"not a profile"))])
    # Wide and one row high, and one column and tall.
    seeds["gen-png-rgb8-64x1.png"] = png(64, 1, 8, 2, gradient_rows(64, 1, 3))
    seeds["gen-png-gray8-1x64.png"] = png(1, 64, 8, 0, gradient_rows(1, 64, 1))
    return seeds


# MARK: JPEG (Pillow, then byte edits for the near misses)

def jpeg_seeds():
    from PIL import Image  # noqa: PLC0415 (only this part needs Pillow)

    def picture(mode, size):
        image = Image.new("RGB", size)
        image.putdata([((x * 29) & 255, (y * 53) & 255, ((x + y) * 17) & 255)
                       for y in range(size[1]) for x in range(size[0])])
        return image.convert(mode)

    def encode(image, **options):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", **options)
        return buffer.getvalue()

    seeds = {}
    seeds["gen-jpeg-17x9-optimized.jpg"] = encode(picture("RGB", (17, 9)), quality=80, optimize=True)
    seeds["gen-jpeg-cmyk-progressive.jpg"] = encode(picture("CMYK", (9, 9)), quality=70, progressive=True)
    seeds["gen-jpeg-gray-1x40.jpg"] = encode(picture("L", (1, 40)), quality=60)
    seeds["gen-jpeg-icc-comment.jpg"] = encode(picture("RGB", (8, 8)), quality=50, subsampling=1,
                                               icc_profile=b"\x00" * 132, comment=b"glimpse fuzz seed")
    baseline = encode(picture("RGB", (16, 16)), quality=75, subsampling=2)
    # 12-bit precision in the frame header: a valid file this build does not decode (UNSUPPORTED).
    start_of_frame = baseline.index(b"\xff\xc0")
    seeds["gen-jpeg-12bit-precision.jpg"] = (
        baseline[:start_of_frame + 4] + bytes([12]) + baseline[start_of_frame + 5:])
    # Complete coded data without the final EOI marker (decodes, as every other reader does).
    seeds["gen-jpeg-no-eoi.jpg"] = baseline[:-2]
    return seeds


# MARK: safetensors

def safetensors(header, data=b"", declared_length=None, pad=True):
    """`header` is a dict (serialised compactly) or raw bytes."""
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad and not isinstance(header, bytes):
        text += b" " * ((8 - len(text) % 8) % 8)
    length = len(text) if declared_length is None else declared_length
    return struct.pack("<Q", length) + text + data


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


def safetensors_seeds():
    seeds = {}
    every_dtype = {}
    data = b""
    for dtype, size in [("BOOL", 1), ("U8", 1), ("I8", 1), ("F8_E5M2", 1), ("F8_E4M3", 1), ("I16", 2),
                        ("U16", 2), ("F16", 2), ("BF16", 2), ("I32", 4), ("U32", 4), ("F32", 4), ("F64", 8),
                        ("I64", 8), ("U64", 8)]:
        every_dtype[dtype.lower()] = {"dtype": dtype, "shape": [2], "data_offsets": [len(data), len(data) + 2 * size]}
        data += bytes(range(len(data), len(data) + 2 * size))
    seeds["valid-every-dtype.safetensors"] = safetensors(every_dtype, data)

    special = struct.pack("<4H", 0x7C00, 0xFC00, 0x7E01, 0x0001)  # F16: +inf, -inf, a NaN, the smallest subnormal
    seeds["valid-f16-bf16-special.safetensors"] = safetensors(
        {"__metadata__": {"format": "pt"},
         "h": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]},
         "b": {"dtype": "BF16", "shape": [4], "data_offsets": [8, 16]}},
        special + struct.pack("<4H", 0x7F80, 0xFF80, 0x7FC1, 0x0001))
    seeds["valid-f32-i64-metadata-escapes.safetensors"] = safetensors(
        {"__metadata__": {"note": "tab\t, quote\", backslash\\, caf\u00e9, \u2603, \U0001F600", "": "empty key"},
         "w\u00e9ight/0": {"dtype": "F32", "shape": [1, 2, 1], "data_offsets": [0, 8]},
         "steps": {"dtype": "I64", "shape": [], "data_offsets": [8, 16]},
         "empty": {"dtype": "F32", "shape": [0, 5], "data_offsets": [16, 16]},
         "also empty": {"dtype": "I64", "shape": [3, 0], "data_offsets": [16, 16]}},
        f32(1.5, -2.25) + struct.pack("<q", -7))
    seeds["valid-metadata-null-unknown-field.safetensors"] = safetensors(
        b'{"__metadata__":null,"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":[1,{"a":null}]}}',
        f32(0.0, -0.0))
    seeds["valid-no-tensors.safetensors"] = safetensors({})
    seeds["valid-whitespace-unicode-escapes.safetensors"] = safetensors(
        b' {\r\n\t"\\u0061\\ud83d\\ude00" : { "dtype" : "F32" , "shape" : [ 1 ] , "data_offsets" : [ 0 , 4 ] } } ',
        f32(3.0))

    base = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}
    twelve = f32(1.0, 2.0, 3.0)
    near_misses = {
        "trailing-bytes": safetensors(base, twelve + b"\x00" * 4),
        "truncated-data": safetensors(base, twelve[:10]),
        "gap": safetensors({"a": base["a"], "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}}, twelve + b"\x00" * 4),
        "overlap": safetensors({"a": base["a"], "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, f32(1, 2)),
        "reversed-offsets": safetensors({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}}, f32(1, 2)),
        "byte-count-mismatch": safetensors({"a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 8]}}, f32(1, 2)),
        "unknown-dtype": safetensors({"a": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]}}, b"\x00"),
        "duplicate-tensor": safetensors(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                                        b'"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', b"\x01\x02"),
        "duplicate-field": safetensors(b'{"a":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}', b"\x01"),
        "missing-shape": safetensors(b'{"a":{"dtype":"U8","data_offsets":[0,1]}}', b"\x01"),
        "metadata-not-string": safetensors(b'{"__metadata__":{"epoch":3}}'),
        "negative-dimension": safetensors(b'{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', b"\x01"),
        "fractional-dimension": safetensors(b'{"a":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}', b"\x01"),
        "shape-overflow": safetensors(b'{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}'),
        "offset-overflow": safetensors(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,99999999999999999999]}}'),
        "header-too-large": safetensors({}, declared_length=100_000_001),
        "header-beyond-end": safetensors({}, declared_length=64),
        "header-not-utf8": safetensors(b'{"\xff":{}}'),
        "header-not-object": safetensors(b"[1,2,3]"),
        "invalid-json": safetensors(b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]'),
        "nested-too-deep": safetensors(b'{"__metadata__":{},"x":' + b"[" * 70 + b"]" * 70 + b"}"),
        "lone-surrogate": safetensors(b'{"\\ud800":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\x01"),
        "short-length-prefix": b"\x08\x00\x00\x00",
    }
    for name, content in near_misses.items():
        seeds["bad-" + name + ".safetensors"] = content
    return seeds


def main():
    reset(CODEC)
    for name in IMAGE_FIXTURE_NAMES:
        shutil.copy(os.path.join(IMAGE_FIXTURES, name), os.path.join(CODEC, "fixture-" + name))
    for name, content in {**png_seeds(), **jpeg_seeds()}.items():
        write(CODEC, name, content)

    reset(SAFETENSORS)
    for path in SAFETENSORS_FIXTURES:
        shutil.copy(path, os.path.join(SAFETENSORS, "fixture-" + os.path.basename(path)))
    for name, content in safetensors_seeds().items():
        write(SAFETENSORS, name, content)

    for directory in (CODEC, SAFETENSORS):
        files = os.listdir(directory)
        size = sum(os.path.getsize(os.path.join(directory, name)) for name in files)
        print(f"{os.path.relpath(directory, TOP)}: {len(files)} files, {size} bytes")


if __name__ == "__main__":
    main()
