#!/usr/bin/env bash
# Measures data-parallel training on this machine (Docs/scaling.md): the default model's recipe,
# 60 optimizer steps of 32 images, as one process on 2 threads, one process on 1 thread (one
# rank's compute, and on 16 images, one rank's share of two) and mpirun -np 2 with 1 thread each,
# ROUNDS times (default 3). Prints the median step time, images/s and, for 2 ranks, the time in
# the gradient allreduce (median, its share of the step, and the fastest, when neither rank
# waited for the other), from each run's log.jsonl (steps 11-60; the first ten warm up).
#   [ROUNDS=3] bash Scripts/scaling.sh [GLIMPSE] [WORK_DIR]
# GLIMPSE: default .build/release/glimpse (swift build -c release --product glimpse, Open MPI installed).
set -euo pipefail
G="$(realpath "${1:-.build/release/glimpse}")"
work="${2:-/tmp/glimpse-scaling}"
mkdir -p "$work"
[ -d "$work/data" ] || "$G" synth "$work/data" --count 2000 --seed 11 >/dev/null 2>&1
recipe=(--image-size 64 --word-loss 1 --position-features --captions-per-image 1 --attention-regularization 0
        --learning-rate 2e-3 --dropout 0.1 --batch-size 32 --max-steps 60 --cache-dir "$work/cache")
root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)

rounds="${ROUNDS:-3}"
rm -rf "$work"/run-* "$work"/round-*
"$G" train "$work/data" --out "$work/run-cache" "${recipe[@]}" --max-steps 1 >/dev/null 2>&1   # fills the cache
# The configurations take turns, round after round, so that a slow spell of a shared machine
# falls on all of them alike; each figure is the median over the rounds of each run's median step.
for round in $(seq 1 "$rounds"); do
    out="$work/round-$round"
    mkdir -p "$out"
    "$G" train "$work/data" --out "$out/1-rank-2-threads" "${recipe[@]}" --threads 2 >/dev/null 2>&1
    "$G" train "$work/data" --out "$out/1-rank-1-thread" "${recipe[@]}" --threads 1 >/dev/null 2>&1
    # One rank's share of the two-rank step: 16 images on one thread.
    "$G" train "$work/data" --out "$out/1-rank-1-thread-16-images" "${recipe[@]}" --threads 1 --batch-size 16 >/dev/null 2>&1
    mpirun "${root[@]}" -np 2 --bind-to core "$G" train "$work/data" --out "$out/2-ranks-1-thread" "${recipe[@]}" --threads 1 \
        >/dev/null 2>&1
done

python3 - "$work" <<'PY'
import json, statistics, sys, glob, os
rows = {}
for folder in sorted(glob.glob(sys.argv[1] + "/round-*/*")):
    steps = [json.loads(l) for l in open(folder + "/log.jsonl") if '"step"' in l]
    steps = [s for s in steps if s.get("kind") == "step" and s["step"] > 10]
    images = 16 if folder.endswith("16-images") else 32
    step = statistics.median(images / s["images_per_second"] for s in steps)
    allreduce = [s["allreduce_seconds"] for s in steps if "allreduce_seconds" in s]
    rows.setdefault(os.path.basename(folder), []).append(
        (step, images, statistics.median(allreduce) if allreduce else None, min(allreduce) if allreduce else None))
print(f"{'run':<28} {'step (ms)':>10} {'images/s':>9} {'allreduce (ms)':>15} {'share':>7} {'fastest (ms)':>13}   rounds' steps (ms)")
for name, runs in sorted(rows.items()):
    step = statistics.median(r[0] for r in runs)
    line = f"{name:<28} {step * 1e3:>10.1f} {runs[0][1] / step:>9.1f}"
    if runs[0][2] is not None:
        allreduce = statistics.median(r[2] for r in runs)
        line += f" {allreduce * 1e3:>15.2f} {allreduce / step:>7.1%} {min(r[3] for r in runs) * 1e3:>13.2f}"
    else:
        line += " " * 38
    print(line + "   " + ", ".join(f"{r[0] * 1e3:.0f}" for r in runs))
PY
python3 - "$work" <<'PY'
import json, struct, sys
b = open(sys.argv[1] + "/round-1/1-rank-2-threads/last.safetensors", "rb").read()
header = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])
count = sum(eval("*".join(map(str, v["shape"])) or "1") for k, v in header.items()
            if k != "__metadata__" and v["dtype"] == "F32" and "running" not in k)
print(f"parameters: {count} ({count * 4 / 1e6:.2f} MB of float32 gradients per allreduce)")
PY
