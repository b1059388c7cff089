#!/usr/bin/env python3
"""PyTorch <-> Glimpse interchange, both directions, with the module of reference_model.py.

    pip install torch safetensors numpy
    python3 Scripts/interop_demo.py .build/debug/glimpse      # the demo
    python3 Scripts/interop_demo.py --write-fixtures          # rewrites the committed fixtures

The demo
  (a) builds the PyTorch model on a small configuration, saves model.state_dict() with
      safetensors.torch.save_file (F32, and an F16 copy) and a vocabulary file, runs
      `glimpse import`, reads the Glimpse checkpoint back and compares every tensor and
      the configuration; then captions a few S x S PNG images with `glimpse evaluate
      --beam 1` and compares the words with PyTorch's greedy decoding of the same pixels
      (normalised as Glimpse does; <pad> and <start> never chosen, as in Glimpse's search);
  (b) runs `glimpse export` on that checkpoint, loads the result into a fresh PyTorch
      model with load_state_dict(strict=True), and compares greedy decoding outputs.

--write-fixtures writes, under Tests/GlimpseModelTests/Fixtures/:
  pytorch_state_dict_f32.safetensors   model.state_dict() of the tiny configuration below (F32,
                                       num_batches_tracked I64 = 5)
  pytorch_state_dict_f16.safetensors   the same module after .half()
  pytorch_state_dict_bf16.safetensors  the same module after .bfloat16()
  pytorch_vocab.txt                    V = 9 tokens
  pytorch_expected.safetensors         input.images [2, 3, 8, 8]; {f32,f16,bf16}.greedy int64 [2, 4] and
                                       {f32,f16,bf16}.greedy_log_probs [2, 4, V]: eval mode, computed in
                                       float64 from the stored weights
"""
import json
import os
import shutil

import numpy as np
from PIL import Image
import subprocess
import sys
import tempfile

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_model import Model, greedy  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "GlimpseModelTests", "Fixtures")

TINY = dict(imageSize=8, stageChannels=[2, 3], embeddingSize=3, attentionSize=3, hiddenSize=4,
            dropout=0.0, attentionRegularization=1.0, vocabularySize=9)
DEMO = dict(imageSize=32, stageChannels=[4, 8, 8], embeddingSize=6, attentionSize=5, hiddenSize=7,
            dropout=0.0, attentionRegularization=1.0, vocabularySize=12)


def vocabulary(size):
    return ["<pad>", "<start>", "<end>", "<unk>"] + [f"word{i}" for i in range(size - 4)]


def build(config, seed):
    """A float32 model with non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = Model(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".bn" in name and name.endswith("weight"):
                p.copy_(torch.rand_like(p) + 0.5)
            elif ".bn" in name and name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.1)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn_like(b) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand_like(b) + 0.5)
            elif name.endswith("num_batches_tracked"):
                b.fill_(5)
    return model.eval()


def decode64(model, images, steps):
    """Greedy decoding in float64 from the model's (possibly rounded) weights."""
    reference = Model(model_config(model)).double().eval()
    reference.load_state_dict({k: (v.double() if v.is_floating_point() else v) for k, v in model.state_dict().items()})
    with torch.no_grad():
        return greedy(reference, images.double(), steps)


def model_config(model):
    stages = [s.conv1.weight.shape[0] for s in model.encoder.stages]
    dec = model.decoder
    return dict(imageSize=0, stageChannels=stages, embeddingSize=dec.embedding.weight.shape[1],
                attentionSize=dec.attention.encoder_att.weight.shape[0], hiddenSize=dec.init_h.weight.shape[0],
                dropout=0.0, attentionRegularization=1.0, vocabularySize=dec.fc.weight.shape[0])


def write_fixtures():
    model = build(TINY, seed=20261122)
    f32_path = os.path.join(FIXTURES, "pytorch_state_dict_f32.safetensors")
    f16_path = os.path.join(FIXTURES, "pytorch_state_dict_f16.safetensors")
    save_file(model.state_dict(), f32_path)
    half = build(TINY, seed=20261122).half()
    save_file(half.state_dict(), f16_path)
    bf16_path = os.path.join(FIXTURES, "pytorch_state_dict_bf16.safetensors")
    brain = build(TINY, seed=20261122).bfloat16()
    save_file(brain.state_dict(), bf16_path)
    with open(os.path.join(FIXTURES, "pytorch_vocab.txt"), "w") as f:
        f.write("\n".join(vocabulary(TINY["vocabularySize"])) + "\n")
    images = torch.randn(2, 3, TINY["imageSize"], TINY["imageSize"])
    expected = {"input.images": images.contiguous()}
    for tag, m in [("f32", model), ("f16", half), ("bf16", brain)]:
        chosen, log_probs = decode64(m, images, steps=4)
        expected[f"{tag}.greedy"] = chosen.contiguous()
        expected[f"{tag}.greedy_log_probs"] = log_probs.float().contiguous()
    save_file(expected, os.path.join(FIXTURES, "pytorch_expected.safetensors"),
              metadata={"generator": "Scripts/interop_demo.py --write-fixtures", "torch": torch.__version__,
                        "config": json.dumps(TINY, sort_keys=True)})
    for path in [f32_path, f16_path, bf16_path]:
        with safe_open(path, "pt") as f:
            dtypes = sorted({str(f.get_slice(k).get_dtype()) for k in f.keys()})
        print(f"{os.path.relpath(path, ROOT)}: {os.path.getsize(path)} bytes, dtypes {dtypes}")


def greedy_words(model, images, steps, vocab):
    """Greedy decoding as Glimpse's beam search with K = 1: <pad> and <start> excluded, stop at <end>."""
    dec = model.decoder
    with torch.no_grad():
        features = model.encoder(images)
        projected = dec.attention.encoder_att(features)
        mean = features.mean(dim=1)
        h, c = dec.init_h(mean), dec.init_c(mean)
        tokens = torch.full((images.shape[0],), 1, dtype=torch.int64)
        words = [[] for _ in range(images.shape[0])]
        done = [False] * images.shape[0]
        for _ in range(steps):
            att2 = dec.attention.decoder_att(h)
            alpha = torch.softmax(dec.attention.full_att(torch.tanh(projected + att2.unsqueeze(1))).squeeze(2), dim=1)
            z = torch.sigmoid(dec.f_beta(h)) * (features * alpha.unsqueeze(2)).sum(dim=1)
            h, c = dec.lstm(torch.cat([dec.embedding(tokens), z], dim=1), (h, c))
            logits = dec.fc(h)
            logits[:, :2] = -float("inf")
            tokens = logits.argmax(dim=1)
            for i, t in enumerate(tokens.tolist()):
                if done[i]:
                    continue
                if t == 2:
                    done[i] = True
                else:
                    words[i].append(vocab[t])
    return [" ".join(w) for w in words]


def run(arguments):
    print("$ " + " ".join(arguments))
    result = subprocess.run(arguments, capture_output=True, text=True)
    for line in (result.stdout + result.stderr).strip().splitlines():
        print("  " + line)
    if result.returncode != 0:
        sys.exit(f"failed with status {result.returncode}")


def demo(glimpse):
    failures = 0

    def check(label, ok, detail=""):
        nonlocal failures
        failures += 0 if ok else 1
        print(f"  {'ok  ' if ok else 'FAIL'} {label}{(': ' + detail) if detail else ''}")

    config = DEMO
    folder = tempfile.mkdtemp(prefix="glimpse-interop-")
    model = build(config, seed=7)
    with torch.no_grad():
        # Random BatchNorm statistics swamp small conv outputs, so every image would get the
        # same caption: larger conv weights let the image through, and a larger output layer
        # sharpens the word distributions.
        for name, p in model.named_parameters():
            if ".conv" in name:
                p.mul_(3)
        model.decoder.fc.weight.mul_(8)
    vocab_path = os.path.join(folder, "vocab.txt")
    with open(vocab_path, "w") as f:
        f.write("\n".join(vocabulary(config["vocabularySize"])) + "\n")
    images = torch.randn(3, 3, config["imageSize"], config["imageSize"])
    with torch.no_grad():
        expected_tokens, expected_log_probs = greedy(model, images, steps=6)

    print("(a) PyTorch state dict -> glimpse import")
    for dtype in ["f32", "f16"]:
        source = model if dtype == "f32" else Model(config).eval()
        if dtype == "f16":
            source.load_state_dict(model.state_dict())
            source = source.half()
        state_path = os.path.join(folder, f"state_{dtype}.safetensors")
        save_file(source.state_dict(), state_path)
        glimpse_path = os.path.join(folder, f"glimpse_{dtype}.safetensors")
        run([glimpse, "import", state_path, "--vocab", vocab_path, "--out", glimpse_path,
             "--image-size", str(config["imageSize"]), "--dropout", "0.25"])
        with safe_open(glimpse_path, "pt") as f:
            metadata = f.metadata()
            imported = {k: f.get_tensor(k) for k in f.keys()}
        stored = json.loads(metadata["configuration"])
        wanted = dict(config, dropout=0.25)
        check(f"{dtype}: configuration inferred from the shapes", stored == wanted, json.dumps(stored, sort_keys=True))
        check(f"{dtype}: vocabulary stored", json.loads(metadata["vocabulary"]) == vocabulary(config["vocabularySize"]))
        state = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
        check(f"{dtype}: same tensor names ({len(state)}, num_batches_tracked dropped)", set(imported) == set(state))
        worst = max((imported[k].double() - state[k].double()).abs().max().item() for k in state)
        check(f"{dtype}: every weight identical after conversion to F32", worst == 0.0, f"max |diff| {worst}")

    # Glimpse captions S x S images (no resizing), PyTorch decodes the same normalised pixels.
    size = config["imageSize"]
    generator = np.random.default_rng(3)
    os.makedirs(os.path.join(folder, "data", "images"))
    entries, pixels = [], []
    for i in range(4):
        # Flat colours with a little noise: images far apart, so the captions differ.
        colour = [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 64, 255)][i]
        array = np.clip(np.array(colour) + generator.integers(-20, 21, (size, size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(array).save(os.path.join(folder, "data", "images", f"{i}.png"))
        entries.append({"filename": f"{i}.png", "split": "test", "sentences": [{"raw": "word0 word1"}]})
        pixels.append(array)
    with open(os.path.join(folder, "data", "dataset_demo.json"), "w") as f:
        json.dump({"images": entries}, f)
    predictions = os.path.join(folder, "predictions.json")
    run([glimpse, "evaluate", "--model", os.path.join(folder, "glimpse_f32.safetensors"), os.path.join(folder, "data"),
         "--beam", "1", "--max-length", "6", "--allow-unknown", "--output", predictions])
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    batch = torch.from_numpy(np.stack([((p.astype(np.float32) / np.float32(255)) - mean) / std for p in pixels])
                             .transpose(0, 3, 1, 2).copy())
    expected_captions = greedy_words(model, batch, 6, vocabulary(config["vocabularySize"]))
    with open(predictions) as f:
        glimpse_captions = {entry["image_id"]: entry["caption"] for entry in json.load(f)}
    got = [glimpse_captions.get(f"{i}.png") for i in range(4)]
    check("glimpse evaluate --beam 1 writes PyTorch's greedy captions", got == expected_captions,
          f"glimpse {got} / pytorch {expected_captions}")

    print("(b) glimpse export -> PyTorch load_state_dict(strict=True)")
    exported_path = os.path.join(folder, "exported.safetensors")
    vocab_out = os.path.join(folder, "exported_vocab.txt")
    run([glimpse, "export", os.path.join(folder, "glimpse_f32.safetensors"), "--out", exported_path,
         "--vocab-out", vocab_out])
    exported = load_file(exported_path)
    counters = sorted(k for k in exported if k.endswith("num_batches_tracked"))
    check("num_batches_tracked present as int64 scalars",
          len(counters) == 2 * len(config["stageChannels"])
          and all(exported[k].dtype == torch.int64 and exported[k].dim() == 0 for k in counters),
          f"{len(counters)} counters")
    fresh = Model(config).eval()
    result = fresh.load_state_dict(exported, strict=True)
    check("load_state_dict(strict=True) accepts it", not result.missing_keys and not result.unexpected_keys)
    with torch.no_grad():
        tokens, log_probs = greedy(fresh, images, steps=6)
    difference = (log_probs - expected_log_probs).abs().max().item()
    check("greedy decoding: same words as the original module", torch.equal(tokens, expected_tokens),
          str(tokens.tolist()))
    check("greedy decoding: same log-probabilities", difference == 0.0, f"max |diff| {difference}")
    with open(vocab_out) as f:
        check("vocabulary file written back unchanged", f.read().split("\n")[:-1] == vocabulary(config["vocabularySize"]))
    shutil.rmtree(folder)
    print("all checks passed" if failures == 0 else f"{failures} check(s) failed")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-fixtures"]:
        write_fixtures()
    elif len(sys.argv) == 2:
        sys.exit(demo(sys.argv[1]))
    else:
        sys.exit(__doc__)
