#!/usr/bin/env python3
"""PyTorch's DistributedDataParallel on this machine, for Docs/scaling.md's side by side with
`mpirun -np 2 glimpse train` (Scripts/scaling.sh):

    python3 Scripts/scaling_torch.py DATA_DIR [--steps 60] [--warmup 10] [--rounds 3]

DATA_DIR is a `glimpse synth` folder (Scripts/scaling.sh makes one under /tmp/glimpse-scaling).
The model is Glimpse's default model in PyTorch (Scripts/side_by_side_torch.py: the same modules,
loaded from Sources/GlimpseCaptioning/Resources/default-model.safetensors), trained with the same
loss, clipping and Adam on one fixed batch: the first 32 images of DATA_DIR with their first
caption each (the recipe's --captions-per-image 1). Three configurations take turns, round after
round, each in processes of their own:

- one process on 2 threads, and on 1 thread;
- two processes on 1 thread each (torch.distributed's gloo backend over loopback,
  DistributedDataParallel), each on its half of the batch (images r, r + 2, ...).

Printed: the median step time (over the steps after --warmup; for two ranks rank 0's) and images/s
of each, the median over the rounds. DDP averages the two ranks' gradients in buckets while the
backward pass runs (PyTorch's overlap); each rank normalises its loss by its own half, so the
average is the whole batch's mean as nearly as the halves are alike. What differs from
`glimpse train`: the batch is fixed and already decoded (no batch building), and the word-detection
head (--word-loss, 11 914 parameters) is left out, as side_by_side_torch.py leaves it out.
Needs PyTorch, Pillow and safetensors; CI does not run it.
"""
import argparse
import csv
import json
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import side_by_side_torch as sbs  # noqa: E402  (the model, the packed batch, the loss)

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

IMAGES = 32


class TrainingLoss(nn.Module):
    """The model's training loss as its forward, so that DDP sees the forward and hooks the backward."""

    def __init__(self, model, lam):
        super().__init__()
        self.model, self.lam = model, lam

    def forward(self, images, batch):
        return sbs.training_loss(self.model, images, batch, self.lam)


def first_captions(checkpoint, data):
    """(file, token ids) of the first IMAGES images, their first caption each, tokenised as CaptionTokenizer."""
    ids = {word: index for index, word in enumerate(checkpoint.vocabulary)}
    chosen = {}
    with open(os.path.join(data, "captions.txt")) as handle:
        for row in list(csv.reader(handle))[1:]:
            if row[0] not in chosen and len(chosen) < IMAGES:
                chosen[row[0]] = [ids.get(word, sbs.UNK) for word in re.findall(r"[a-z0-9]+", row[1].lower())]
    return list(chosen.items())


def worker(rank, ranks, threads, args, results):
    torch.set_num_threads(threads)
    torch.manual_seed(rank)
    if ranks > 1:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        dist.init_process_group("gloo", rank=rank, world_size=ranks)
    checkpoint = sbs.Checkpoint(sbs.DEFAULT_MODEL)
    share = first_captions(checkpoint, args.data)[rank::ranks]
    images = torch.stack([checkpoint.load_image(os.path.join(args.data, "Images", name)) for name, _ in share])
    images = images.contiguous(memory_format=torch.channels_last)
    batch = sbs.PackedBatch([(index, words) for index, (_, words) in enumerate(share)])
    loss_module = TrainingLoss(checkpoint.model, checkpoint.config["attentionRegularization"])
    loss_module.train()
    network = DistributedDataParallel(loss_module) if ranks > 1 else loss_module
    optimizer = torch.optim.Adam(loss_module.parameters(), lr=sbs.LEARNING_RATE)
    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = network(images, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(loss_module.parameters(), max_norm=sbs.MAX_GRADIENT_NORM)
        optimizer.step()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    if rank == 0:
        results.put(statistics.median(times))
    if ranks > 1:
        dist.destroy_process_group()


def measure(ranks, threads, args, port):
    os.environ["MASTER_PORT"] = str(port)
    context = mp.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=worker, args=(rank, ranks, threads, args, results)) for rank in range(ranks)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    if any(process.exitcode != 0 for process in processes):
        sys.exit(f"a rank failed (exit codes {[process.exitcode for process in processes]})")
    return results.get(timeout=10)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    configurations = [("one process, 2 threads", 1, 2), ("one process, 1 thread", 1, 1), ("two ranks (DDP, gloo), 1 thread each", 2, 1)]
    steps = {name: [] for name, _, _ in configurations}
    port = 29500 + os.getpid() % 1000
    for round_number in range(args.rounds):
        for name, ranks, threads in configurations:
            port += 1
            steps[name].append(measure(ranks, threads, args, port))
            print(f"round {round_number + 1}: {name}: {steps[name][-1] * 1e3:.1f} ms", file=sys.stderr, flush=True)
    print(f"PyTorch {torch.__version__}, {IMAGES} images a step, median over {args.rounds} rounds of each run's median step")
    print(f"{'run':<40} {'step (ms)':>10} {'images/s':>9}   rounds (ms)")
    for name, _, _ in configurations:
        step = statistics.median(steps[name])
        print(f"{name:<40} {step * 1e3:>10.1f} {IMAGES / step:>9.1f}   " + ", ".join(f"{s * 1e3:.0f}" for s in steps[name]))
    print(json.dumps({name: statistics.median(values) for name, values in steps.items()}))


if __name__ == "__main__":
    main()
