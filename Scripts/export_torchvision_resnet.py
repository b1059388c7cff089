#!/usr/bin/env python3
"""Saves a torchvision ResNet's ImageNet weights as safetensors, for `glimpse import-encoder`:

    pip install torch torchvision safetensors
    python3 Scripts/export_torchvision_resnet.py resnet50 resnet50.safetensors
    glimpse import-encoder resnet50.safetensors --arch resnet50 --out encoder.safetensors

The weights are torchvision's `weights="DEFAULT"` (IMAGENET1K_V2 for resnet50,
IMAGENET1K_V1 for resnet18 and resnet34), which torchvision downloads on first use: this
step needs internet access, once. The file is `model.state_dict()` as it is, every
convolution, BatchNorm and the classifier, in float32 (about 45 MB for resnet18, 83 MB for
resnet34, 98 MB for resnet50); Glimpse drops the classifier and folds the BatchNorms.

--random-weights saves torchvision's random initialisation instead, with no download: the
real architecture and names, to try the commands where there is no internet. Captions
from such an encoder mean nothing.
"""
import argparse

import torch
import torchvision
from safetensors.torch import save_file

ARCHITECTURES = ["resnet18", "resnet34", "resnet50"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("arch", choices=ARCHITECTURES)
    parser.add_argument("out", help="the .safetensors file to write")
    parser.add_argument("--random-weights", action="store_true",
                        help="torchvision's random initialisation (seed 0), no download")
    args = parser.parse_args()
    if args.random_weights:
        torch.manual_seed(0)
        model = getattr(torchvision.models, args.arch)(weights=None)
    else:
        try:
            model = getattr(torchvision.models, args.arch)(weights="DEFAULT")
        except Exception as error:  # no network, most likely
            raise SystemExit(f"cannot fetch torchvision's {args.arch} weights ({error}); "
                             "this step needs internet access once (or use --random-weights to try the commands)")
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, args.out)
    count = sum(t.numel() for t in state.values() if t.is_floating_point())
    print(f"{args.out}: torchvision {args.arch}, {len(state)} tensors, {count} values"
          + (" (random weights)" if args.random_weights else ""))


if __name__ == "__main__":
    main()
