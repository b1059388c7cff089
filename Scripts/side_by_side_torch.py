#!/usr/bin/env python3
"""The PyTorch half of the side-by-side benchmark (Scripts/side_by_side.py runs both halves).

Glimpse's default model in PyTorch: the module tree of Scripts/reference_model.py (names equal
to the checkpoint's) at the sizes of the shipped model, loaded from the same file
(Sources/GlimpseCaptioning/Resources/default-model.safetensors: configuration and vocabulary from its
metadata, every tensor by name, strict load_state_dict). The encoder runs channels-last,
torch.set_num_threads(2), and the caching allocator may use transparent huge pages
(THP_MEM_ALLOC_ENABLE=1, set here unless the environment already says otherwise).

One measurement per process, so that the peak RSS (ru_maxrss) belongs to that mode alone:

    side_by_side_torch.py info                        versions, BLAS, CPU capability, oneDNN ISA and kernels
    side_by_side_torch.py train --captions 1|5 --images DIR --captions-file TSV [--batch 32 --warmup 2 --steps 5]
    side_by_side_torch.py latency --beam K IMAGE [--warmup 3 --repeats 20]
    side_by_side_torch.py batch --beam K DIR --output FILE [--batch-size 16]
    side_by_side_torch.py captions --beam K DIR       PATH<TAB>caption per image (for comparing with glimpse caption)
    side_by_side_torch.py caption IMAGE [--beam 3]    one caption, for timing the whole process
    side_by_side_torch.py features --state-dict R.safetensors --images DIR [--batch 16 --size 224 --warmup 2 --repeats 5]
                                                      a torchvision ResNet's feature extraction (glimpse train --encoder)

Each measuring mode prints one `RESULT {json}` line. What is the same as Glimpse, on purpose:
- preprocessing: decode, EXIF orientation, transparency over white, Pillow bilinear resize to S x S
  (aspect ratio not kept), then torchvision's ToTensor + Normalize arithmetic (bytes / 255, then
  (x - mean) / std, float32) written out here so that the process need not import torchvision;
  `captions` checks it against torchvision when that is installed;
- training (TrainingPass.swift, Trainer.swift): BatchNorm in training mode, dropout 0.5, captions
  sorted longest first and each step run on the captions still going (as pack_padded_sequence),
  loss = mean cross-entropy over predicted tokens + lambda * mean over captions of
  sum_p (1 - sum_t alpha_tp)^2, no gradient for the images, global gradient-norm clip at 5, Adam 1e-3;
- search (CaptionSearch.swift, with `glimpse caption`'s options: max 30 words, no length
  normalisation, <unk> never produced): one decoder call per step over every live hypothesis of
  every image in the batch, per hypothesis its best `wanted` words, candidates ranked by total
  log-probability (float64 sums of float32 log-softmax values), ties by hypothesis then word id;
  finished captions rank before cut ones. Beam 1 is greedy.
"""
import os
import sys
import time

PROCESS_START = time.perf_counter()  # before importing torch: the batch figure reports the start-up
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
if len(sys.argv) > 1 and sys.argv[1] == "info":
    os.environ.setdefault("ONEDNN_VERBOSE", "1")  # oneDNN prints its ISA and the kernels it picks
    os.environ.setdefault("MKL_VERBOSE", "1")     # MKL prints its version and code path (the BLAS of Linear, LSTMCell)

import argparse
import json
import re
import resource

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageOps
from safetensors import safe_open

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(ROOT, "Sources", "GlimpseCaptioning", "Resources", "default-model.safetensors")
PAD, START, END, UNK = 0, 1, 2, 3
MAX_GRADIENT_NORM = 5.0  # Trainer's default
LEARNING_RATE = 1e-3     # glimpse train's default
MAX_LENGTH = 30          # glimpse caption's --max-length default


# MARK: The model (module names equal to the checkpoint names, as Scripts/reference_model.py)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_model import Decoder as ReferenceDecoder, Encoder as ReferenceEncoder  # noqa: E402  (same modules, same names)


class Encoder(ReferenceEncoder):
    """reference_model.py's encoder, run on a channels-last input (oneDNN's fast layout)."""

    def forward(self, images):
        return super().forward(images.contiguous(memory_format=torch.channels_last))


class Decoder(ReferenceDecoder):
    """reference_model.py's decoder modules, with one step written for batched search."""

    def step(self, features, projected, tokens, h, c):
        """One decoder step for B rows: attention with h_{t-1}, LSTM, output layer (logits before softmax)."""
        att2 = self.attention.decoder_att(h)
        scores = self.attention.full_att(torch.tanh(projected + att2.unsqueeze(1))).squeeze(2)
        alpha = torch.softmax(scores, dim=1)                               # [B, P]
        context = torch.bmm(alpha.unsqueeze(1), features).squeeze(1)      # [B, D]
        z = torch.sigmoid(self.f_beta(h)) * context
        inputs = tokens if tokens.dim() == 2 else self.embedding(tokens)   # embedded already, or ids
        h, c = self.lstm(torch.cat([inputs, z], dim=1), (h, c))
        return h, c, alpha


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.encoder = Encoder(c["stageChannels"], positions=c.get("positionFeatures", False))
        self.decoder = Decoder(c)


class Checkpoint:
    """A Glimpse checkpoint in PyTorch: the model (channels-last encoder), vocabulary, preprocessing."""

    def __init__(self, path):
        with safe_open(path, framework="pt") as file:
            metadata = file.metadata()
            # word_detector: the training-only head of --word-loss, which captioning never reads;
            # feature_summary: what `glimpse caption` flags unfamiliar images by, not part of the network.
            state = {name: file.get_tensor(name) for name in file.keys()
                     if not name.startswith(("word_detector.", "feature_summary."))}
        self.config = json.loads(metadata["configuration"])
        self.vocabulary = json.loads(metadata["vocabulary"])
        self.preprocessing = json.loads(metadata["preprocessing"])
        self.model = Model(self.config)
        # Glimpse keeps no num_batches_tracked (fixed momentum: unused); PyTorch's state dict has one per BatchNorm.
        for name in self.model.state_dict():
            if name.endswith("num_batches_tracked"):
                state[name] = torch.tensor(0, dtype=torch.long)
        self.model.load_state_dict(state, strict=True)
        self.model.encoder.to(memory_format=torch.channels_last)
        size = self.preprocessing["imageSize"]
        self.size = size
        self.mean = torch.tensor(self.preprocessing["mean"], dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(self.preprocessing["std"], dtype=torch.float32).view(3, 1, 1)

    def load_image(self, path):
        """[3, S, S] from the file at `path`, as Glimpse's ImageDecoder + Preprocessing."""
        image = Image.open(path)
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            image = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image)
        image = image.convert("RGB").resize((self.size, self.size), Image.BILINEAR)
        # torchvision's ToTensor then Normalize, the same float32 operations in the same order.
        pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(self.size, self.size, 3)
        tensor = pixels.permute(2, 0, 1).contiguous().to(torch.float32).div(255)
        return tensor.sub_(self.mean).div_(self.std)

    def text(self, tokens):
        return " ".join(self.vocabulary[t] for t in tokens)


# MARK: Training (TrainingPass.swift)

class PackedBatch:
    """Captions sorted by steps (words + <end>) descending, ties in batch order; step t runs the first B_t rows."""

    def __init__(self, captions):
        steps = [len(words) + 1 for _, words in captions]
        order = sorted(range(len(captions)), key=lambda i: (-steps[i], i))
        self.rows = torch.tensor([captions[i][0] for i in order])
        words = [captions[i][1] for i in order]
        self.batch_sizes = [sum(1 for i in order if steps[i] > t) for t in range(steps[order[0]])]
        T = len(self.batch_sizes)
        inputs = torch.zeros(len(order), T, dtype=torch.long)   # <start> w1 ... wn, padded
        for r, w in enumerate(words):
            inputs[r, 0] = START
            inputs[r, 1:len(w) + 1] = torch.tensor(w[:T - 1], dtype=torch.long)
        self.inputs = inputs
        targets = []                                             # w1 ... wn <end>, packed time-major
        for t, b in enumerate(self.batch_sizes):
            targets += [words[r][t] if t < len(words[r]) else END for r in range(b)]
        self.targets = torch.tensor(targets)
        self.token_count = len(targets)


def training_loss(model, images, batch, lam):
    dec = model.decoder
    features = model.encoder(images)                                # [N, P, D]
    projected = dec.attention.encoder_att(features)                 # [N, P, A], once per image
    mean = features.mean(dim=1)
    h0, c0 = dec.init_h(mean), dec.init_c(mean)                     # [N, H]
    feats, proj, h, c = features[batch.rows], projected[batch.rows], h0[batch.rows], c0[batch.rows]
    embedded = dec.embedding(batch.inputs)                          # [B, T, E]
    hiddens, alphas = [], []
    for t, b in enumerate(batch.batch_sizes):
        if b < h.shape[0]:
            h, c = h[:b], c[:b]
        h, c, alpha = dec.step(feats[:b], proj[:b], embedded[:b, t], h, c)
        hiddens.append(h)
        alphas.append(alpha)
    logits = dec.fc(dec.dropout(torch.cat(hiddens)))                # [sum B_t, V], packed
    cross_entropy = F.cross_entropy(logits, batch.targets)
    total = len(batch.rows)
    sums = torch.stack([F.pad(a, (0, 0, 0, total - a.shape[0])) for a in alphas]).sum(dim=0)  # [B, P]
    penalty = ((1 - sums) ** 2).sum(dim=1).mean()
    return cross_entropy + lam * penalty


def read_captions_file(path):
    """`file<TAB>id id id` per caption, written by the runner for both sides: [(file, [captions])] in file order."""
    files, captions = [], {}
    with open(path) as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 2:
                continue
            if parts[0] not in captions:
                files.append(parts[0])
                captions[parts[0]] = []
            captions[parts[0]].append([int(x) for x in parts[1].split()])
    return [(f, captions[f]) for f in files]


def usage():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime, u.ru_maxrss / 1024, u.ru_minflt


def result(fields):
    print("RESULT " + json.dumps(dict(side="pytorch", **fields), sort_keys=True), flush=True)


def run_train(args, checkpoint):
    model = checkpoint.model
    entries = read_captions_file(args.captions_file)[:args.batch]
    if len(entries) < args.batch:
        sys.exit(f"{args.captions_file}: {len(entries)} images, fewer than --batch {args.batch}")
    images = torch.stack([checkpoint.load_image(os.path.join(args.images, f)) for f, _ in entries])
    images = images.contiguous(memory_format=torch.channels_last)
    captions = [(i, words) for i, (_, caps) in enumerate(entries) for words in caps[:args.captions]]
    batch = PackedBatch(captions)
    lam = checkpoint.config["attentionRegularization"]
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = training_loss(model, images, batch, lam)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=MAX_GRADIENT_NORM)
        optimizer.step()
        return loss.item()

    warmups, losses = [], []
    for _ in range(args.warmup):
        t = time.perf_counter()
        losses.append(step())
        warmups.append(time.perf_counter() - t)
    walls = []
    cpu0, _, faults0 = usage()
    start = time.perf_counter()
    for _ in range(args.steps):
        t = time.perf_counter()
        losses.append(step())
        walls.append(time.perf_counter() - t)
    wall = time.perf_counter() - start
    cpu1, rss, faults1 = usage()
    n = len(entries)
    step_ms = [round(w * 1000, 1) for w in walls]
    walls.sort()
    median = walls[len(walls) // 2] if len(walls) % 2 else (walls[len(walls) // 2 - 1] + walls[len(walls) // 2]) / 2
    print(f"train {n} images x {args.captions} caption(s), {batch.token_count} tokens: {n * args.steps / wall:.1f} images/s "
          f"over {args.steps} steps (median step {median * 1000:.0f} ms), {(cpu1 - cpu0) / args.steps * 1000:.0f} ms CPU per step, "
          f"peak RSS {rss:.0f} MB")
    result(dict(mode="train", images=n, captions_per_image=args.captions, tokens=batch.token_count, steps=args.steps,
                images_per_second=n * args.steps / wall, median_step_ms=median * 1000,
                cpu_ms_per_step=(cpu1 - cpu0) / args.steps * 1000, minor_faults_per_step=(faults1 - faults0) / args.steps,
                peak_rss_mb=rss, first_loss=losses[0], last_loss=losses[-1], step_ms=step_ms,
                warmup_ms=[round(w * 1000, 1) for w in warmups]))


# MARK: Search (CaptionSearch.swift)

@torch.inference_mode()
def search(checkpoint, images, beam, max_length=MAX_LENGTH, suppress_unknown=True):
    """Best caption per image [N, 3, S, S]: a list of (tokens, log-probability, complete)."""
    dec = checkpoint.model.decoder
    features = checkpoint.model.encoder(images)                     # [N, P, D]
    projected = dec.attention.encoder_att(features)
    mean = features.mean(dim=1)
    h, c = dec.init_h(mean), dec.init_c(mean)
    n = features.shape[0]
    banned = [PAD, START] + ([UNK] if suppress_unknown else [])
    live = [[([], 0.0)] for _ in range(n)]                          # per image: (tokens, log p)
    finished = [[] for _ in range(n)]                               # per image: (tokens, log p, complete)
    row_images = list(range(n))
    feats, proj = features, projected
    previous = torch.full((n,), START, dtype=torch.long)
    for step in range(max_length):
        if not row_images:
            break
        h, c, _ = dec.step(feats, proj, previous, h, c)
        log_probs = torch.log_softmax(dec.fc(h), dim=1)
        log_probs[:, banned] = -float("inf")
        values, ids = log_probs.topk(beam, dim=1)                   # best first; `wanted` <= beam of them used
        values, ids = values.tolist(), ids.tolist()
        last = step == max_length - 1
        next_rows, next_tokens, next_live = [], [], [[] for _ in range(n)]
        row = 0
        for image in range(n):
            hypotheses = live[image]
            base = row
            row += len(hypotheses)
            wanted = beam - len(finished[image])
            if not hypotheses or wanted <= 0:
                continue
            candidates = [(lp + values[base + index][k], index, ids[base + index][k])
                          for index, (_, lp) in enumerate(hypotheses) for k in range(wanted)]
            candidates.sort(key=lambda x: (-x[0], x[1], x[2]))
            for total, index, word in candidates[:wanted]:
                tokens = hypotheses[index][0]
                if word == END:
                    finished[image].append((tokens, total, True))
                elif last:
                    finished[image].append((tokens + [word], total, False))
                else:
                    next_live[image].append((tokens + [word], total))
                    next_rows.append(base + index)
                    next_tokens.append(word)
        live = next_live
        new_images = [row_images[r] for r in next_rows]
        if next_rows:
            index = torch.tensor(next_rows)
            h, c = h.index_select(0, index), c.index_select(0, index)
            if new_images != row_images:
                image_index = torch.tensor(new_images)
                feats, proj = features.index_select(0, image_index), projected.index_select(0, image_index)
            previous = torch.tensor(next_tokens)
        row_images = new_images
    best = []
    for image in range(n):
        hypotheses = list(finished[image])
        for tokens, lp in live[image]:
            if len(hypotheses) < beam:
                hypotheses.append((tokens, lp, False))
        hypotheses.sort(key=lambda x: (not x[2], -x[1], x[0]))
        best.append(hypotheses[0])
    return best


def image_files(folder):
    """Image files under `folder` by their first bytes (JPEG, PNG), sorted per folder as glimpse batch walks."""
    found = []
    for current, folders, files in os.walk(folder):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(f for f in files if not f.startswith(".")):
            path = os.path.join(current, name)
            with open(path, "rb") as handle:
                head = handle.read(8)
            if head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG\r\n\x1a\n"):
                found.append(path)
    return found


def run_latency(args, checkpoint):
    def once():
        return search(checkpoint, checkpoint.load_image(args.image).unsqueeze(0), args.beam)[0]

    for _ in range(max(1, args.warmup)):
        best = once()
    times = []
    cpu0, _, _ = usage()
    for _ in range(args.repeats):
        t = time.perf_counter()
        best = once()
        times.append(time.perf_counter() - t)
    cpu1, rss, _ = usage()
    times.sort()
    median = times[len(times) // 2] if len(times) % 2 else (times[len(times) // 2 - 1] + times[len(times) // 2]) / 2
    words = checkpoint.text(best[0])
    print(f"latency, beam {args.beam}: median {median * 1000:.2f} ms over {args.repeats} (min {times[0] * 1000:.2f}), "
          f"{(cpu1 - cpu0) / args.repeats * 1000:.2f} ms CPU each: {words}")
    result(dict(mode="latency", beam=args.beam, repeats=args.repeats, median_ms=median * 1000, min_ms=times[0] * 1000,
                cpu_ms=(cpu1 - cpu0) / args.repeats * 1000, caption=words, peak_rss_mb=rss))


def run_batch(args, checkpoint):
    """A plain loop: decode and preprocess a batch of files, search, write JSON Lines; no worker threads."""
    start = time.perf_counter()
    files = image_files(args.directory)
    root = args.directory.rstrip("/")
    with open(args.output, "w") as out:
        for first in range(0, len(files), args.batch_size):
            chunk = files[first:first + args.batch_size]
            images = torch.stack([checkpoint.load_image(p) for p in chunk])
            for path, (tokens, lp, _) in zip(chunk, search(checkpoint, images, args.beam)):
                out.write(json.dumps({"path": os.path.relpath(path, root), "caption": checkpoint.text(tokens),
                                      "logprob": round(lp, 6)}) + "\n")
    loop = time.perf_counter() - start
    _, rss, _ = usage()
    print(f"batch, beam {args.beam}: {len(files)} images in {loop:.2f} s: {len(files) / loop:.1f} images/s "
          f"(captioning loop, from files; process start to loop start {start - PROCESS_START:.2f} s)")
    result(dict(mode="batch", beam=args.beam, images=len(files), loop_seconds=loop, images_per_second=len(files) / loop,
                startup_seconds=start - PROCESS_START, peak_rss_mb=rss))


def run_captions(args, checkpoint):
    files = image_files(args.directory)
    try:  # the preprocessing written out above must equal torchvision's ToTensor + Normalize
        import torchvision.transforms.functional as TF
        p = checkpoint.preprocessing
        image = ImageOps.exif_transpose(Image.open(files[0])).convert("RGB").resize((checkpoint.size,) * 2, Image.BILINEAR)
        reference = TF.normalize(TF.to_tensor(image), p["mean"], p["std"])
        same = torch.equal(reference, checkpoint.load_image(files[0]))
        print(f"# preprocessing equals torchvision ToTensor + Normalize bit for bit: {'yes' if same else 'NO'}",
              file=sys.stderr)
    except ImportError:
        pass
    for first in range(0, len(files), 16):
        chunk = files[first:first + 16]
        images = torch.stack([checkpoint.load_image(p) for p in chunk])
        for path, (tokens, _, _) in zip(chunk, search(checkpoint, images, args.beam)):
            print(f"{path}\t{checkpoint.text(tokens)}")


def run_caption(args, checkpoint):
    print(checkpoint.text(search(checkpoint, checkpoint.load_image(args.image).unsqueeze(0), args.beam)[0][0]))


def run_info():
    """What PyTorch runs on: versions, BLAS, CPU capability, and (ONEDNN_VERBOSE) the ISA and kernels oneDNN picks."""
    checkpoint = Checkpoint(DEFAULT_MODEL)
    images = torch.randn(2, 3, checkpoint.size, checkpoint.size).contiguous(memory_format=torch.channels_last)
    features = checkpoint.model.encoder(images)              # forward and backward convolutions, training mode
    checkpoint.model.decoder.init_h(features.mean(dim=1)).sum().backward()  # an sgemm through MKL
    sys.stdout.flush()
    config = torch.__config__.show()
    found = lambda pattern: (re.search(pattern, config) or [None, "?"])[1]  # noqa: E731
    result(dict(mode="info", torch=torch.__version__, threads=torch.get_num_threads(),
                cpu_capability=torch.backends.cpu.get_cpu_capability(),
                mkldnn=torch.backends.mkldnn.is_available(), onednn=found(r"MKL-DNN (v[\d.]+)"),
                blas=found(r"BLAS_INFO=(\w+)"), mkl=found(r"Math Kernel Library Version ([\w.]+)"),
                thp_mem_alloc=os.environ.get("THP_MEM_ALLOC_ENABLE", "")))



def run_features(args):
    """torchvision's ResNet (the state dict's architecture) without its classifier, channels-last, on one
    fixed batch of the folder's first images (Resize(size*8/7) + CenterCrop(size) + ToTensor + Normalize,
    untimed), average-pooled to size/32 and laid out [N, P, D] as Glimpse's encoder gives it."""
    import torchvision
    from safetensors.torch import load_file
    from torchvision import transforms
    state = load_file(args.state_dict)
    arch = "resnet50" if "layer1.0.conv3.weight" in state else (
        "resnet34" if "layer3.5.conv1.weight" in state else "resnet18")
    model = getattr(torchvision.models, arch)(weights=None)
    model.load_state_dict(state, strict=True)
    model.eval()
    body = nn.Sequential(*list(model.children())[:-2]).to(memory_format=torch.channels_last)
    grid = args.size // 32
    recipe = transforms.Compose([transforms.Resize(args.size * 8 // 7), transforms.CenterCrop(args.size),
                                 transforms.ToTensor(), transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    files = sorted(f for f in os.listdir(args.images) if f.endswith((".jpg", ".png")))[:args.batch]
    if len(files) < args.batch:
        raise SystemExit(f"{args.images} has {len(files)} images, fewer than --batch {args.batch}")
    images = torch.stack([recipe(Image.open(os.path.join(args.images, f)).convert("RGB")) for f in files])
    images = images.contiguous(memory_format=torch.channels_last)

    def once():
        x = F.adaptive_avg_pool2d(body(images), grid)
        return x.flatten(2).transpose(1, 2).contiguous()

    times = []
    with torch.inference_mode():
        for _ in range(max(1, args.warmup)):
            features = once()
        start_cpu = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(args.repeats):
            began = time.perf_counter()
            features = once()
            times.append(time.perf_counter() - began)
        end_cpu = resource.getrusage(resource.RUSAGE_SELF)
    times.sort()
    median = times[len(times) // 2] if len(times) % 2 else (times[len(times) // 2 - 1] + times[len(times) // 2]) / 2
    cpu = (end_cpu.ru_utime + end_cpu.ru_stime - start_cpu.ru_utime - start_cpu.ru_stime) / args.repeats
    print(f"features, {arch} at {args.size}, batch {args.batch}: {args.batch / median:.1f} images/s "
          f"(median batch {median * 1000:.0f} ms), {cpu * 1000:.0f} ms CPU per batch, checksum {features.double().sum().item():.6g}")
    result(dict(mode="features", arch=arch, size=args.size, batch=args.batch, repeats=args.repeats,
                images_per_second=args.batch / median, median_ms=median * 1000, min_ms=times[0] * 1000,
                feature_sum=features.double().sum().item(), cpu_ms=cpu * 1000,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--threads", type=int, default=2)
    modes = parser.add_subparsers(dest="mode", required=True)
    modes.add_parser("info")
    train = modes.add_parser("train")
    train.add_argument("--captions", type=int, choices=[1, 5], default=5)
    train.add_argument("--images", required=True)
    train.add_argument("--captions-file", required=True)
    train.add_argument("--batch", type=int, default=32)
    train.add_argument("--warmup", type=int, default=2)
    train.add_argument("--steps", type=int, default=5)
    latency = modes.add_parser("latency")
    latency.add_argument("image")
    latency.add_argument("--beam", type=int, default=1)
    latency.add_argument("--warmup", type=int, default=3)
    latency.add_argument("--repeats", type=int, default=20)
    batch = modes.add_parser("batch")
    batch.add_argument("directory")
    batch.add_argument("--beam", type=int, default=1)
    batch.add_argument("--output", required=True)
    batch.add_argument("--batch-size", type=int, default=16)  # glimpse batch's default
    captions = modes.add_parser("captions")
    captions.add_argument("directory")
    captions.add_argument("--beam", type=int, default=1)
    caption = modes.add_parser("caption")
    caption.add_argument("image")
    caption.add_argument("--beam", type=int, default=3)  # glimpse caption's default
    features = modes.add_parser("features")
    features.add_argument("--state-dict", required=True)
    features.add_argument("--images", required=True)
    features.add_argument("--batch", type=int, default=16)
    features.add_argument("--size", type=int, default=224)
    features.add_argument("--warmup", type=int, default=2)
    features.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    if args.mode == "info":
        return run_info()
    if args.mode == "features":
        return run_features(args)
    checkpoint = Checkpoint(args.model)
    if args.mode == "train":
        return run_train(args, checkpoint)
    checkpoint.model.eval()
    {"latency": run_latency, "batch": run_batch, "captions": run_captions, "caption": run_caption}[args.mode](args, checkpoint)


if __name__ == "__main__":
    main()
