#!/usr/bin/env python3
"""A paper projection of data-parallel training (Docs/scaling.md), from figures Scripts/scaling.sh measures.

Per-rank compute for b images, C(b) = a + c*b, is fitted to the one-thread steps of 16 and 32
images. A ring allreduce of S bytes over N ranks, as Open MPI does for large buffers, takes
T(N) = 2 (N-1)/N * S/B + 2 (N-1) * alpha: each rank sends and receives 2 (N-1)/N of the buffer,
in 2 (N-1) messages of latency alpha. B is the link's line rate. Nothing overlaps: a step is
C(b) + T(N), and the communication share is T / (C + T).

    python3 Scripts/scaling_projection.py STEP32_MS STEP16_MS GRADIENT_MB
"""
import sys

step32, step16, megabytes = (float(v) for v in sys.argv[1:4])
c = (step32 - step16) / 16 / 1e3          # seconds per image
a = step16 / 1e3 - 16 * c                  # seconds per step, whatever the batch
size = megabytes * 1e6
links = {"10 Gb/s (Ethernet, TCP; alpha 30 us)": (10e9 / 8, 30e-6),
         "100 Gb/s (InfiniBand or RoCE; alpha 3 us)": (100e9 / 8, 3e-6)}
print(f"compute per rank (1 core): {a * 1e3:.1f} ms + {c * 1e3:.2f} ms per image; allreduce of {megabytes:.2f} MB\n")
for name, (bandwidth, alpha) in links.items():
    print(f"{name}")
    print(f"| ranks | allreduce | 32 images a rank: step, images/s, communication | 256 images in all: per rank, step, images/s, communication |")
    print("|---|---|---|---|")
    for ranks in (8, 32, 128):
        t = 2 * (ranks - 1) / ranks * size / bandwidth + 2 * (ranks - 1) * alpha
        cells = []
        for per_rank in (32, 256 / ranks):
            compute = a + c * per_rank
            step = compute + t
            cells.append((per_rank, step, ranks * per_rank / step, t / step))
        weak, strong = cells
        print(f"| {ranks} | {t * 1e3:.1f} ms | {weak[1] * 1e3:.0f} ms, {weak[2]:,.0f}, {weak[3]:.1%} "
              f"| {strong[0]:g}, {strong[1] * 1e3:.0f} ms, {strong[2]:,.0f}, {strong[3]:.1%} |")
    print()
