#!/usr/bin/env python3
"""Writes the sample images in samples/ (committed; run once with `pip install pillow`).

Simple drawn scenes, one per format feature the quick start shows off: a baseline
JPEG, a PNG, a phone-style JPEG whose EXIF orientation turns it upright, and a PNG
with transparency. The captioning model (a later milestone) ships its own scenes.
"""
import io
import os

from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "samples")


def scene(width, height, background, shapes):
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    for kind, box, colour in shapes:
        if kind == "circle":
            draw.ellipse(box, fill=colour)
        elif kind == "square":
            draw.rectangle(box, fill=colour)
        elif kind == "triangle":
            draw.polygon(box, fill=colour)
    return image


def main():
    os.makedirs(OUT, exist_ok=True)
    scene(320, 240, (40, 70, 160), [("circle", (110, 70, 210, 170), (220, 40, 40))]).save(
        os.path.join(OUT, "red-circle-on-blue.jpg"), quality=90)
    scene(300, 300, (235, 235, 225), [("square", (30, 120, 130, 220), (40, 160, 60)),
                                      ("triangle", [(200, 220), (250, 120), (290, 220)], (230, 200, 30))]).save(
        os.path.join(OUT, "green-square-and-yellow-triangle.png"), optimize=True)
    # Stored landscape, displayed portrait: EXIF orientation 6 (rotate 90 clockwise).
    portrait = scene(240, 320, (250, 250, 250), [("circle", (70, 40, 170, 140), (30, 30, 30)),
                                                  ("square", (70, 200, 170, 300), (200, 120, 40))])
    exif = Image.Exif()
    exif[0x0112] = 6
    portrait.transpose(Image.Transpose.ROTATE_90).save(os.path.join(OUT, "phone-portrait.jpg"), quality=90,
                                                         exif=exif.tobytes())
    logo = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(logo).ellipse((20, 20, 180, 180), fill=(120, 40, 200, 255))
    logo.save(os.path.join(OUT, "purple-disc-transparent.png"), optimize=True)


if __name__ == "__main__":
    main()
