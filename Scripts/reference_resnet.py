#!/usr/bin/env python3
"""PyTorch reference for Glimpse's ResNet encoders: writes
Tests/GlimpseModelTests/Fixtures/resnet_expected.safetensors.

Run once (the output is committed; CI never needs PyTorch):

    pip install torch torchvision safetensors numpy
    python3 Scripts/reference_resnet.py

torchvision's own resnet18, resnet34 and resnet50 (the real architectures and state-dict
names) get deterministic weights: every tensor is filled from SplitMix64 seeded with the
64-bit FNV-1a hash of its name, the same stream `ResNetFixture` in the Swift tests
computes, so the fixture needs no weights (ResNet-50's would be 100 MB). BatchNorm gets
non-trivial running statistics and affine parameters, so folding it is tested. Inputs
come from the same generator. The models run in eval mode in float64; the features (the
last stage average-pooled to g x g, then [N, g*g, D], locations row-major) are stored in
float32.

A tiny Show, Attend and Tell decoder (Scripts/reference_model.py's, E 8, A 8, H 16, V 13,
torch.manual_seed(20261201), float32-rounded) then runs on the resnet18_96 case's features:
teacher-forced logits of three captions in inference mode, and six greedy steps per image.

Stored:
    metadata["names.<arch>"]    JSON [[name, shape, dtype], ...]: the state dict's tensors
    metadata["cases"]           JSON [{"name", "arch", "images", "size", "grid"}, ...]
    features.<case>             [N, g*g, D]
    metadata["decoder"]         JSON {"config", "captions": [[image, [ids]], ...], "case"}
    param.decoder.<name>        the decoder's parameters under Glimpse's checkpoint names
    decoder.logits              [sum B_t, V] packed as reference_model.py packs them
    decoder.cross_entropy, decoder.attention_penalty   [1]
    decoder.greedy              int64 [N, 6]: the argmax at each step, <start> first
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "GlimpseModelTests", "Fixtures", "resnet_expected.safetensors")
MASK = (1 << 64) - 1

CASES = [
    dict(name="resnet18_224", arch="resnet18", images=1, size=224, grid=7),
    dict(name="resnet18_96", arch="resnet18", images=2, size=96, grid=2),  # 3x3 pooled to 2x2: overlapping windows
    dict(name="resnet34_64", arch="resnet34", images=1, size=64, grid=2),
    dict(name="resnet50_64", arch="resnet50", images=2, size=64, grid=2),
]


def fnv1a(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) & MASK
    return h


def uniforms(name, count):
    """count values in [0, 1): SplitMix64(seed: FNV-1a(name)), the top 24 bits of each output."""
    with np.errstate(over="ignore"):
        state = np.uint64(fnv1a(name.encode())) + np.arange(1, count + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (state ^ (state >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return torch.from_numpy((z >> np.uint64(40)).astype(np.float64) / float(1 << 24))


def fill(name, shape):
    """The value of every tensor, as ResNetFixture.values(name:shape:) computes it."""
    count = 1
    for d in shape:
        count *= d
    u = uniforms(name, count)
    if name.endswith("running_mean") or name.endswith(".bias"):
        v = 0.2 * (2 * u - 1)
    elif name.endswith("running_var"):
        v = 0.5 + u
    elif len(shape) == 4:  # convolution weight: He-uniform
        fan_in = shape[1] * shape[2] * shape[3]
        v = (2 * u - 1) * math.sqrt(6.0 / fan_in)
    elif name.startswith("fc."):
        v = 0.01 * (2 * u - 1)
    elif name.startswith("layer") and name.endswith(("bn2.weight", "bn3.weight", "downsample.1.weight")):
        v = 0.2 + 0.3 * u  # a residual branch's last BatchNorms small, so 16 blocks do not blow up
    else:  # the other BatchNorm weights
        v = 0.5 + 0.5 * u
    return v.float().reshape(shape)


def model_for(arch):
    model = getattr(torchvision.models, arch)(weights=None)
    state = model.state_dict()
    names = []
    for name, tensor in state.items():
        names.append([name, list(tensor.shape), "I64" if tensor.dtype == torch.int64 else "F32"])
        if tensor.dtype == torch.int64:
            continue
        value = fill(name, list(tensor.shape))
        with torch.no_grad():
            tensor.copy_(value)
    model.eval()
    return model.double(), names


def inputs(case):
    shape = [case["images"], 3, case["size"], case["size"]]
    u = uniforms("input." + case["name"], shape[0] * shape[1] * shape[2] * shape[3])
    return (4 * u - 2).float().double().reshape(shape)


def features(model, images, grid):
    m = model
    x = m.maxpool(m.relu(m.bn1(m.conv1(images))))
    x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
    x = F.adaptive_avg_pool2d(x, grid)
    n, d = x.shape[0], x.shape[1]
    return x.reshape(n, d, grid * grid).transpose(1, 2).contiguous()


DECODER_CASE = "resnet18_96"
DECODER_CONFIG = dict(stageChannels=[512], embeddingSize=8, attentionSize=8, hiddenSize=16, dropout=0.0,
                      attentionRegularization=1.0, vocabularySize=13)
DECODER_CAPTIONS = [(0, [5, 6, 7]), (1, [8, 9]), (0, [10])]


def decoder_outputs(features, tensors, metadata):
    """The reference decoder on `features` [N, P, 512]: teacher-forced logits and greedy steps."""
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import reference_model as ref

    class OnFeatures(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.decoder = ref.Decoder(DECODER_CONFIG)

        def encoder(self, images):
            return features

    torch.manual_seed(20261201)
    model = OnFeatures().double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.float().double())
    model.eval()
    with torch.no_grad():
        logits, targets, ce, penalty, _ = ref.Model.forward(model, None, DECODER_CAPTIONS, 1.0)
        chosen, _ = ref.greedy(model, torch.zeros(features.shape[0], 1), 6)
    for name, p in model.decoder.named_parameters():
        tensors["param.decoder." + name] = p.float().contiguous()
    tensors["decoder.logits"] = logits.float().contiguous()
    tensors["decoder.cross_entropy"] = ce.float().reshape(1)
    tensors["decoder.attention_penalty"] = penalty.float().reshape(1)
    tensors["decoder.greedy"] = chosen.contiguous()
    metadata["decoder"] = json.dumps({"config": DECODER_CONFIG, "captions": DECODER_CAPTIONS, "case": DECODER_CASE})
    print(f"decoder on {DECODER_CASE}: cross-entropy {ce.item():.6f}, penalty {penalty.item():.6f}, greedy {chosen.tolist()}")


def main():
    tensors, metadata, models = {}, {"cases": json.dumps(CASES)}, {}
    for case in CASES:
        arch = case["arch"]
        if arch not in models:
            models[arch] = model_for(arch)
            metadata["names." + arch] = json.dumps(models[arch][1])
        model = models[arch][0]
        with torch.no_grad():
            out = features(model, inputs(case), case["grid"])
        print(f"{case['name']}: features {list(out.shape)}, |max| {out.abs().max().item():.4g}, "
              f"mean {out.mean().item():.4g}, zero share {(out == 0).double().mean().item():.3f}")
        tensors["features." + case["name"]] = out.float().contiguous()
        if case["name"] == DECODER_CASE:
            decoder_outputs(out, tensors, metadata)
    save_file(tensors, OUT, metadata=metadata)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
