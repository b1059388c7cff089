#!/usr/bin/env python3
"""Inputs for the batch-captioning figures of Docs/performance.md: python3 Scripts/make_batch_benchmark_inputs.py OUT_DIR

Writes OUT_DIR/images/ (1000 seeded JPEG images of about 500x375) and
OUT_DIR/default-size.safetensors (a default-size model with random weights; speed does not
depend on training). Needs numpy and Pillow. Never commit the outputs."""
import os, sys
# 1000 JPEG images of about 500x375 (sizes vary a little), smooth gradients plus noise, seeded.
import numpy as np
from PIL import Image
out = sys.argv[1]
os.makedirs(out + "/images", exist_ok=True)
rng = np.random.default_rng(0)
for i in range(1000):
    w = int(rng.integers(480, 521)); h = int(rng.integers(360, 391))
    if i % 4 == 3: w, h = h, w
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * rng.uniform(0.2, 0.6) + i) % 256, (y * rng.uniform(0.2, 0.6)) % 256, ((x + y) * 0.3 + 40 * (i % 5)) % 256], -1)
    img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(f"{out}/images/img{i:04d}.jpg", quality=90)

# A default-size Glimpse checkpoint (S 128, stages [32,64,128,256], E128 A128 H256, V 50)
# with random weights, written as safetensors with the checkpoint metadata. Speed only.
import json, struct
rng = np.random.default_rng(0)
V, E, A, H, S, stages = 50, 128, 128, 256, 128, [32, 64, 128, 256]
D = stages[-1]
params, buffers = [], []
cin = 3
for i, c in enumerate(stages):
    p = f"encoder.stages.{i}."
    for layer, inp in [(1, cin), (2, c)]:
        params += [(p + f"conv{layer}.weight", [c, inp, 3, 3]), (p + f"bn{layer}.weight", [c]), (p + f"bn{layer}.bias", [c])]
        buffers += [(p + f"bn{layer}.running_mean", [c]), (p + f"bn{layer}.running_var", [c])]
    cin = c
params += [("decoder.embedding.weight", [V, E]),
    ("decoder.attention.encoder_att.weight", [A, D]), ("decoder.attention.encoder_att.bias", [A]),
    ("decoder.attention.decoder_att.weight", [A, H]), ("decoder.attention.decoder_att.bias", [A]),
    ("decoder.attention.full_att.weight", [1, A]), ("decoder.attention.full_att.bias", [1]),
    ("decoder.init_h.weight", [H, D]), ("decoder.init_h.bias", [H]),
    ("decoder.init_c.weight", [H, D]), ("decoder.init_c.bias", [H]),
    ("decoder.f_beta.weight", [D, H]), ("decoder.f_beta.bias", [D]),
    ("decoder.lstm.weight_ih", [4 * H, E + D]), ("decoder.lstm.weight_hh", [4 * H, H]),
    ("decoder.lstm.bias_ih", [4 * H]), ("decoder.lstm.bias_hh", [4 * H]),
    ("decoder.fc.weight", [V, H]), ("decoder.fc.bias", [V])]
arrays = {}
for name, shape in params + buffers:
    if name.endswith("running_var") or (".bn" in name and name.endswith("weight")):
        a = np.ones(shape, np.float32)
    elif name.endswith("running_mean") or name.endswith("bias"):
        a = np.zeros(shape, np.float32)
    else:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        a = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
    arrays[name] = a
words = [f"w{i}" for i in range(V - 4)]
meta = {"format": "glimpse-show-attend-tell", "format_version": "1",
        "configuration": json.dumps({"vocabularySize": V, "imageSize": S, "stageChannels": stages, "embeddingSize": E,
                                     "attentionSize": A, "hiddenSize": H, "dropout": 0.5, "attentionRegularization": 1.0}),
        "vocabulary": json.dumps(["<pad>", "<start>", "<end>", "<unk>"] + words),
        "preprocessing": json.dumps({"imageSize": S, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]})}
header, offset, blobs = {"__metadata__": meta}, 0, []
for name in sorted(arrays):
    b = arrays[name].tobytes()
    header[name] = {"dtype": "F32", "shape": list(arrays[name].shape), "data_offsets": [offset, offset + len(b)]}
    offset += len(b); blobs.append(b)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(out + "/default-size.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h))); f.write(h); [f.write(b) for b in blobs]
