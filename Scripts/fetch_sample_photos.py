#!/usr/bin/env python3
"""Writes the real photographs shipped inside scikit-image, scikit-learn and matplotlib into a
folder: a fair, fixed set of photos (people, a cat, objects, textures, microscopy, astronomy,
scanned text) for measuring how often a model trained on other images flags them as unfamiliar
(`glimpse caption`'s warning; Docs/model.md, "Knowing what it does not know").

    pip install scikit-image scikit-learn matplotlib pillow
    python3 Scripts/fetch_sample_photos.py /tmp/photos

They are not committed: each package's licence covers its own images (scikit-image's are CC0 or
public domain, or under the licences listed in skimage/data/README.txt; scikit-learn's two are
CC BY). Only images bundled with the packages are used, so nothing is downloaded. Drawings,
masks and synthetic images (binary_blobs, checkerboard, colorwheel, horse, logo,
shepp_logan_phantom) are left out, and skimage's `chelsea` is its `cat`.
"""
import os
import shutil
import sys

import numpy as np
from PIL import Image
import skimage.data
import sklearn.datasets
import matplotlib

SKIMAGE_PHOTOS = [
    "astronaut", "brick", "camera", "cat", "cell", "clock", "coffee", "coins", "grass", "gravel",
    "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page", "retina",
    "rocket", "text",
]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fetch_sample_photos.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    written = []
    for name in SKIMAGE_PHOTOS:
        pixels = np.asarray(getattr(skimage.data, name)())
        if pixels.dtype != np.uint8:
            raise SystemExit(f"skimage.data.{name}: unexpected dtype {pixels.dtype}")
        path = os.path.join(out, f"skimage-{name}.png")
        Image.fromarray(pixels).save(path)
        written.append(path)
    for source in sklearn.datasets.load_sample_images().filenames:
        path = os.path.join(out, "sklearn-" + os.path.basename(source))
        shutil.copyfile(source, path)
        written.append(path)
    hopper = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    path = os.path.join(out, "matplotlib-grace_hopper.jpg")
    shutil.copyfile(hopper, path)
    written.append(path)
    print(f"wrote {len(written)} photographs to {out}")


if __name__ == "__main__":
    main()
