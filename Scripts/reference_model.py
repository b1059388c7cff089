#!/usr/bin/env python3
"""PyTorch reference for the Show, Attend and Tell model: writes
Tests/GlimpseModelTests/Fixtures/model.safetensors.

Run once (the output is committed; CI never needs PyTorch):

    pip install torch safetensors numpy
    python3 Scripts/reference_model.py
    python3 Scripts/reference_model.py --position-features   # writes model_positions.safetensors

With --position-features, each location's features end with its cell centre's x and y on
[-1, 1] (ModelConfiguration.positionFeatures): D = the last stage's channels + 2.

The model is built with module names equal to Glimpse's checkpoint names
(encoder.stages[i].{conv1,bn1,conv2,bn2}, decoder.{embedding, attention.{encoder_att,
decoder_att, full_att}, init_h, init_c, f_beta, lstm, fc}) on a reduced configuration,
in float64 with float32-rounded parameters and inputs, BatchNorm in training mode,
dropout off. One padded batch: 3 images, 2 captions each, one shared encoder pass.

Layout of the batch, as GlimpseModel's PackedLayout: captions sorted by number of steps
(words + <end>) descending, ties in batch order; step t runs the first B_t sorted rows.
Packed rows (logits, targets) are time-major: all active rows of step 0, then of step 1, ...

Stored (float32 unless noted):
    config                          (metadata, JSON) the configuration
    input.images                    [N, 3, S, S]
    input.captions                  int64 [C, Lmax], words only, 0-padded
    input.caption_lengths           int64 [C]
    input.caption_images            int64 [C]
    param.<name>                    every checkpoint tensor before training (params and BN buffers)
    output.logits                   [sum B_t, V] packed as above
    output.targets                  int64 [sum B_t]
    output.loss, output.cross_entropy, output.attention_penalty   [1] (penalty before lambda)
    output.buffer.<name>            BN running statistics after the forward pass
    grad.param.<name>               dLoss/dparameter
    grad.images                     dLoss/dimages
    train.losses                    [10] losses of 10 Adam steps on this batch (loss before each update)
    eval.logits, eval.loss, eval.cross_entropy, eval.attention_penalty
                                    the same batch in inference mode (BN running statistics), initial weights
    eval.greedy                     int64 [N, 6] greedy decoding of each image in inference mode
                                    (first input <start>, then the previous argmax)
    eval.greedy_log_probs           [N, 6, V] log softmax at each greedy step
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "GlimpseModelTests", "Fixtures", "model.safetensors")

CONFIG = dict(imageSize=32, stageChannels=[4, 6, 8, 8], embeddingSize=6, attentionSize=5, hiddenSize=7,
              dropout=0.0, attentionRegularization=1.0, vocabularySize=13)
LEARNING_RATE = 1e-2
MAX_GRADIENT_NORM = 1.0
TRAIN_STEPS = 10
START, END = 1, 2


def f32(t):
    return t.detach().float().double()


class Stage(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.max_pool2d(x, 2)


class Encoder(nn.Module):
    def __init__(self, channels, positions=False):
        super().__init__()
        self.positions = positions
        stages, cin = [], 3
        for cout in channels:
            stages.append(Stage(cin, cout))
            cin = cout
        self.stages = nn.ModuleList(stages)

    def forward(self, images):
        x = images
        for stage in self.stages:
            x = stage(x)
        n, d, g, _ = x.shape
        features = x.permute(0, 2, 3, 1).reshape(n, g * g, d)  # [N, P, D], row-major over the grid
        if not self.positions:
            return features
        centres = (2 * torch.arange(g, dtype=x.dtype) + 1) / g - 1
        xs = centres.repeat(g)                 # location p = row * g + column: x = centre[column]
        ys = centres.repeat_interleave(g)      # y = centre[row]
        coords = torch.stack([xs, ys], dim=1).expand(n, g * g, 2)
        return torch.cat([features, coords], dim=2)


class Attention(nn.Module):
    def __init__(self, d, h, a):
        super().__init__()
        self.encoder_att = nn.Linear(d, a)
        self.decoder_att = nn.Linear(h, a)
        self.full_att = nn.Linear(a, 1)


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, e, a, h, v = c["stageChannels"][-1] + (2 if c.get("positionFeatures") else 0), c["embeddingSize"], c["attentionSize"], c["hiddenSize"], c["vocabularySize"]
        self.embedding = nn.Embedding(v, e)
        self.attention = Attention(d, h, a)
        self.init_h = nn.Linear(d, h)
        self.init_c = nn.Linear(d, h)
        self.f_beta = nn.Linear(h, d)
        self.lstm = nn.LSTMCell(e + d, h)
        self.fc = nn.Linear(h, v)
        self.dropout = nn.Dropout(c["dropout"])


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.encoder = Encoder(c["stageChannels"], positions=c.get("positionFeatures", False))
        self.decoder = Decoder(c)

    def forward(self, images, captions, lam):
        """captions: list of (image index, [word ids]). Returns packed logits, targets, CE, penalty, loss."""
        dec = self.decoder
        features = self.encoder(images)                                  # [N, P, D]
        projected = dec.attention.encoder_att(features)                  # [N, P, A], once per image
        mean = features.mean(dim=1)
        h0, c0 = dec.init_h(mean), dec.init_c(mean)                      # [N, H]
        steps = [len(words) + 1 for _, words in captions]
        order = sorted(range(len(captions)), key=lambda i: (-steps[i], i))
        rows = torch.tensor([captions[i][0] for i in order])
        feats, proj, h, c = features[rows], projected[rows], h0[rows], c0[rows]
        words = [captions[i][1] for i in order]
        T = steps[order[0]]
        alpha_sums = torch.zeros(len(order), features.shape[1], dtype=features.dtype)
        logits, targets = [], []
        for t in range(T):
            b = sum(1 for i in order if steps[i] > t)
            inputs = torch.tensor([START if t == 0 else words[r][t - 1] for r in range(b)])
            hb, cb = h[:b], c[:b]
            att2 = dec.attention.decoder_att(hb)
            scores = dec.attention.full_att(torch.tanh(proj[:b] + att2.unsqueeze(1))).squeeze(2)
            alpha = torch.softmax(scores, dim=1)                           # [b, P]
            context = (feats[:b] * alpha.unsqueeze(2)).sum(dim=1)          # [b, D]
            z = torch.sigmoid(dec.f_beta(hb)) * context
            h, c = dec.lstm(torch.cat([dec.embedding(inputs), z], dim=1), (hb, cb))
            logits.append(dec.fc(dec.dropout(h)))
            alpha_sums = alpha_sums + F.pad(alpha, (0, 0, 0, len(order) - b))
            targets += [words[r][t] if t < len(words[r]) else END for r in range(b)]
        logits = torch.cat(logits)
        targets = torch.tensor(targets)
        ce = F.cross_entropy(logits, targets)
        penalty = ((1 - alpha_sums) ** 2).sum(dim=1).mean()
        return logits, targets, ce, penalty, ce + lam * penalty


def greedy(model, images, steps):
    """Greedy decoding, one row per image: returns the chosen ids [N, steps] and the log softmax [N, steps, V]."""
    dec = model.decoder
    features = model.encoder(images)
    projected = dec.attention.encoder_att(features)
    mean = features.mean(dim=1)
    h, c = dec.init_h(mean), dec.init_c(mean)
    tokens = torch.full((images.shape[0],), START, dtype=torch.int64)
    chosen, log_probs = [], []
    for _ in range(steps):
        att2 = dec.attention.decoder_att(h)
        scores = dec.attention.full_att(torch.tanh(projected + att2.unsqueeze(1))).squeeze(2)
        alpha = torch.softmax(scores, dim=1)
        z = torch.sigmoid(dec.f_beta(h)) * (features * alpha.unsqueeze(2)).sum(dim=1)
        h, c = dec.lstm(torch.cat([dec.embedding(tokens), z], dim=1), (h, c))
        step_log_probs = torch.log_softmax(dec.fc(h), dim=1)
        tokens = step_log_probs.argmax(dim=1)
        chosen.append(tokens)
        log_probs.append(step_log_probs)
    return torch.stack(chosen, dim=1), torch.stack(log_probs, dim=1)


def main():
    global CONFIG, OUT
    if "--position-features" in sys.argv[1:]:
        CONFIG = dict(CONFIG, positionFeatures=True)
        OUT = OUT.replace("model.safetensors", "model_positions.safetensors")
    torch.manual_seed(20261122)
    model = Model(CONFIG).double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".bn" in name and name.endswith("weight"):
                p.copy_(torch.rand_like(p) + 0.5)
            elif ".bn" in name and name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.1)
            p.copy_(f32(p))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(f32(torch.randn_like(b) * 0.1))
            elif name.endswith("running_var"):
                b.copy_(f32(torch.rand_like(b) + 0.5))
    model.train()
    initial = {name: value.clone() for name, value in model.state_dict().items()}

    tensors = {}

    def put(name, t):
        t = t.detach()
        tensors[name] = t.to(torch.int64).contiguous() if not t.dtype.is_floating_point else t.float().contiguous()

    S, V = CONFIG["imageSize"], CONFIG["vocabularySize"]
    images = f32(torch.randn(3, 3, S, S, dtype=torch.float64)).requires_grad_()
    lengths = [5, 2, 3, 5, 1, 4]  # words per caption; two of length 5 test the tie order
    image_of = [0, 0, 1, 1, 2, 2]
    captions = [(image_of[i], torch.randint(3, V, (n,)).tolist()) for i, n in enumerate(lengths)]
    padded = torch.zeros(len(captions), max(lengths), dtype=torch.int64)
    for i, (_, words) in enumerate(captions):
        padded[i, :len(words)] = torch.tensor(words)
    put("input.images", images)
    put("input.captions", padded)
    put("input.caption_lengths", torch.tensor(lengths))
    put("input.caption_images", torch.tensor(image_of))
    for name, value in initial.items():
        if value.dtype.is_floating_point:
            put(f"param.{name}", value)

    lam = CONFIG["attentionRegularization"]
    logits, targets, ce, penalty, loss = model(images, captions, lam)
    loss.backward()
    put("output.logits", logits)
    put("output.targets", targets)
    put("output.loss", loss.reshape(1))
    put("output.cross_entropy", ce.reshape(1))
    put("output.attention_penalty", penalty.reshape(1))
    for name, value in model.named_buffers():
        if value.dtype.is_floating_point:
            put(f"output.buffer.{name}", value)
    for name, p in model.named_parameters():
        put(f"grad.param.{name}", p.grad)
    put("grad.images", images.grad)

    # Inference mode from the initial weights and running statistics.
    model.load_state_dict(initial)
    model.eval()
    with torch.no_grad():
        logits, _, ce, penalty, loss = model(images.detach(), captions, lam)
        put("eval.logits", logits)
        put("eval.loss", loss.reshape(1))
        put("eval.cross_entropy", ce.reshape(1))
        put("eval.attention_penalty", penalty.reshape(1))
        chosen, log_probs = greedy(model, images.detach(), steps=6)
        put("eval.greedy", chosen)
        put("eval.greedy_log_probs", log_probs)
    model.train()

    # Ten Adam steps on the same batch from the same start, BN in training mode.
    model.load_state_dict(initial)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    losses = []
    images = images.detach()
    for _ in range(TRAIN_STEPS):
        optimizer.zero_grad()
        loss = model(images, captions, lam)[4]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=MAX_GRADIENT_NORM)
        optimizer.step()
        losses.append(loss.item())
    put("train.losses", torch.tensor(losses, dtype=torch.float64))

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save_file(tensors, OUT, metadata={
        "generator": "Scripts/reference_model.py", "torch": torch.__version__,
        "config": json.dumps(CONFIG, sort_keys=True),
        "training": json.dumps({"optimizer": "Adam", "learningRate": LEARNING_RATE, "betas": [0.9, 0.999],
                                "epsilon": 1e-8, "maxGradientNorm": MAX_GRADIENT_NORM, "steps": TRAIN_STEPS}),
    })
    print(f"{len(tensors)} tensors, {os.path.getsize(OUT)} bytes -> {OUT}")
    print("loss", [round(x, 5) for x in losses])


if __name__ == "__main__":
    main()
