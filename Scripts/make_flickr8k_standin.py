#!/usr/bin/env python3
"""Writes a stand-in with Flickr8k's shape, to time training on photograph-sized data
where Flickr8k itself cannot be downloaded:

    pip install pillow numpy
    python3 Scripts/make_flickr8k_standin.py /tmp/flickr-standin

8 091 JPEG images of 500 x 375 (every fifth one 375 x 500), in the Kaggle layout
(`Images/` + `captions.txt`), five captions each of about 11 words drawn from a
Zipf-distributed vocabulary of 3 000 words: Flickr8k's image count, image size,
caption count, caption length and vocabulary size (at min-count 5). The pictures are
textures, not scenes: the point is the cost of an epoch, which does not depend on
what the pictures show. Nothing it writes is committed.
"""
import sys

import numpy as np
from PIL import Image


def main(out):
    import os
    os.makedirs(f"{out}/Images", exist_ok=True)
    rng = np.random.default_rng(5)
    words = [f"w{i}" for i in range(3000)]
    p = 1.0 / np.arange(1, 3001)
    p /= p.sum()
    rows = ["image,caption"]
    for i in range(8091):
        w, h = (500, 375) if i % 5 else (375, 500)
        base = rng.integers(0, 256, 3)
        y, x = np.mgrid[0:h, 0:w]
        img = np.stack([(base[c] + x * (c + 1) // 7 + y // (c + 2)) % 256 for c in range(3)], -1).astype(np.uint8)
        img = np.clip(img.astype(int) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
        name = f"{1000000 + i}.jpg"
        Image.fromarray(img).save(f"{out}/Images/{name}", quality=85)
        for _ in range(5):
            n = max(3, int(rng.normal(11, 3)))
            rows.append(name + "," + " ".join(rng.choice(words, n, p=p)) + " .")
    with open(f"{out}/captions.txt", "w") as handle:
        handle.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/flickr-standin")
