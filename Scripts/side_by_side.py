#!/usr/bin/env python3
"""Glimpse against PyTorch on this machine, side by side, in one command:

    python3 Scripts/side_by_side.py [--quick] [--work DIR] [--trials N] [--images N] [--budget-minutes M]

Needs PyTorch, Pillow and safetensors (pip install torch pillow safetensors); CI does not run it.
It builds the release products (incrementally), makes the image set under --work (default
/tmp/glimpse-side-by-side; never inside the repository), checks that both sides caption alike,
then runs Glimpse and PyTorch trials interleaved (Glimpse, PyTorch, then PyTorch, Glimpse, ...),
each trial a process of its own, and prints one table (every trial's figures go to
WORK/results-TIME.json; the progress, trial by trial, to standard error).

Both sides use the same weights (the shipped default model, Sources/GlimpseCaptioning/Resources/
default-model.safetensors), the same images and the same token ids (the image set's captions,
tokenised once here into CAPTIONS.tsv), 2 threads each. The PyTorch side is
Scripts/side_by_side_torch.py (channels-last, torch.set_num_threads(2), THP_MEM_ALLOC_ENABLE=1).

What is measured (each figure the median of the trials kept):
- training: images/s over timed steps after warm-up, one fixed batch of 32 images with 1 or
  5 captions each (Glimpse: `glimpse-benchmarks --side-by-side train`, Trainer.step; PyTorch: the
  same loss, clipping and Adam), and the peak RSS of that process (ru_maxrss from wait4);
- latency: one image from its file, in-process, decode + preprocess + encode + search, the
  median over repeats after warm-up (`glimpse-benchmarks --side-by-side latency`), greedy and beam 3;
- batch captioning from files, decoding included: `glimpse batch DIR --output F --beam K`, the
  whole process, against PyTorch's plain loop in batches of 16 (its whole process is shown too);
- `glimpse caption IMAGE` (beam 3) as a whole process, against `python3 side_by_side_torch.py caption`;
- feature extraction for `glimpse train --encoder`: images/s of torchvision's ResNet-18 and ResNet-50 at
  224 x 224 (Resize 256 + CenterCrop 224), one fixed batch of 16 of the image set, the same state dict on
  both sides (torchvision's architecture with random weights, saved by Scripts/export_torchvision_resnet.py
  --random-weights under --work: the cost does not depend on the weights); Glimpse imports it as
  `glimpse import-encoder` does (`glimpse-benchmarks --side-by-side features`), PyTorch runs the model
  without its classifier, channels-last. Both print the sum of the features, which must agree.

A trial is discarded as disturbed when other processes used the CPU meanwhile. From /proc/stat,
before the trial's process starts and after it is reaped: busy time of all CPUs (user, nice,
system, irq, softirq) and steal time. Other processes' CPU time = busy - the trial process's own
CPU time (user + system, from wait4). Disturbed when that exceeds --threshold (default 5%) of the
machine's capacity over the trial (wall time x CPUs) or 0.03 s, whichever is larger (the /proc/stat
clock ticks every 10 ms), or when steal time exceeds the same share. Before each trial the runner
waits (up to --wait-for-quiet seconds) for half a second in which other processes stay under that
share. If every trial of a figure was disturbed, the figure is the median of them all and is marked
with '!'. Extra rounds are run for figures without a clean trial while the time budget lasts; no
round starts that would end past the budget (estimated from the last round), except the first.
"""
import argparse
import csv
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "Sources", "GlimpseCaptioning", "Resources", "default-model.safetensors")
TORCH_SCRIPT = os.path.join(ROOT, "Scripts", "side_by_side_torch.py")
RELEASE = os.path.join(ROOT, ".build", "release")
GLIMPSE = os.path.join(RELEASE, "glimpse")
BENCHMARKS = os.path.join(RELEASE, "glimpse-benchmarks")
SAMPLES = os.path.join(ROOT, "samples", "Images")
ONE_IMAGE = os.path.join(SAMPLES, "synth-000009.jpg")  # the quick start's image
CPUS = os.cpu_count() or 1
HZ = os.sysconf("SC_CLK_TCK")


SHIPPED_MODEL = MODEL


def glimpse_model_flags():
    """`glimpse caption` and `batch` find the shipped model by themselves; another one is named."""
    return [] if MODEL == SHIPPED_MODEL else ["--model", MODEL]


def log(message):
    print(message, file=sys.stderr, flush=True)


def cpu_ticks():
    """(busy, steal) clock ticks of all CPUs, from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal


def wait_for_quiet(limit_seconds, threshold):
    """Before a trial: wait (up to `limit_seconds`) until other processes use under `threshold` of the CPUs
    over half a second, so that fewer trials are lost to someone else's build. Returns the seconds waited."""
    waited = 0.0
    while True:
        busy0, _ = cpu_ticks()
        time.sleep(0.5)
        busy1, _ = cpu_ticks()
        if (busy1 - busy0) / HZ <= threshold * 0.5 * CPUS or waited >= limit_seconds:
            return waited
        waited += 0.5


class Trial:
    """One process, measured: wall time, its own CPU time and peak RSS (wait4), other processes' CPU time."""

    def __init__(self, command, environment=None, threshold=0.05):
        self.command = command
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            busy0, steal0 = cpu_ticks()
            start = time.perf_counter()
            process = subprocess.Popen(command, stdout=out, stderr=err, env=environment, cwd=ROOT)
            _, status, usage = os.wait4(process.pid, 0)
            self.wall = time.perf_counter() - start
            busy1, steal1 = cpu_ticks()
            process.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            self.stdout, self.stderr = out.read(), err.read()
        self.returncode = process.returncode
        self.own_cpu = usage.ru_utime + usage.ru_stime
        self.peak_rss_mb = usage.ru_maxrss / 1024
        self.other_cpu = max(0.0, (busy1 - busy0) / HZ - self.own_cpu)
        self.steal = (steal1 - steal0) / HZ
        limit = max(threshold * self.wall * CPUS, 0.03)
        self.disturbed = self.other_cpu > limit or self.steal > limit
        self.result = None
        for line in self.stdout.splitlines():
            if line.startswith("RESULT "):
                self.result = json.loads(line[len("RESULT "):])
        if self.returncode != 0:
            raise SystemExit(f"failed ({self.returncode}): {' '.join(command)}\n{self.stdout[-2000:]}\n{self.stderr[-2000:]}")

    @property
    def note(self):
        return (f"{self.wall:7.2f} s wall, {self.own_cpu:6.2f} s CPU, others {self.other_cpu:5.2f} s, steal {self.steal:4.2f} s"
                + (" DISTURBED" if self.disturbed else ""))


# MARK: The figures

class Metric:
    """A figure measured on both sides: per side a command and how to read the figure from its trial."""

    def __init__(self, key, label, unit, higher_is_better, glimpse, pytorch, prepare=None):
        self.key, self.label, self.unit, self.higher_is_better = key, label, unit, higher_is_better
        self.commands = {"glimpse": glimpse, "pytorch": pytorch}
        self.prepare = prepare
        self.trials = {"glimpse": [], "pytorch": []}


def build_metrics(args, images, captions_file):
    torch = [args.python, TORCH_SCRIPT]
    steps = ["--warmup", str(args.warmup), "--steps", str(args.steps)]
    outputs = os.path.join(args.work, "outputs")
    os.makedirs(outputs, exist_ok=True)

    def clear(paths):
        def run(side):
            if os.path.exists(paths[side]):
                os.remove(paths[side])  # glimpse batch resumes from an existing output: start afresh
        return run

    metrics = []
    for captions in (1, 5):
        metrics.append(Metric(
            f"train{captions}", f"training, 32 images x {captions} caption{'s' if captions > 1 else ''}", "images/s", True,
            [BENCHMARKS, "--side-by-side", "train", "--model", MODEL, "--images", images, "--captions-file", captions_file,
             "--captions-per-image", str(captions), "--batch", "32"] + steps,
            torch + ["--model", MODEL, "train", "--captions", str(captions), "--images", images,
                     "--captions-file", captions_file, "--batch", "32"] + steps))
    for beam in (1, 3):
        name = "greedy" if beam == 1 else f"beam {beam}"
        metrics.append(Metric(
            f"latency{beam}", f"one image from file, in-process, {name}", "ms", False,
            [BENCHMARKS, "--side-by-side", "latency", ONE_IMAGE, "--model", MODEL, "--beam", str(beam),
             "--warmup", "3", "--repeats", str(args.repeats)],
            torch + ["--model", MODEL, "latency", ONE_IMAGE, "--beam", str(beam), "--warmup", "3",
                     "--repeats", str(args.repeats)]))
    for beam in (1, 3):
        name = "greedy" if beam == 1 else f"beam {beam}"
        g_out, p_out = os.path.join(outputs, f"glimpse-beam{beam}.jsonl"), os.path.join(outputs, f"pytorch-beam{beam}.jsonl")
        metrics.append(Metric(
            f"batch{beam}", f"batch captioning from files, {name}", "images/s", True,
            [GLIMPSE, "batch", images, "--output", g_out, "--beam", str(beam)] + glimpse_model_flags(),
            torch + ["--model", MODEL, "batch", images, "--beam", str(beam), "--output", p_out],
            prepare=clear({"glimpse": g_out, "pytorch": p_out})))
    metrics.append(Metric(
        "caption", "caption one image, whole process, beam 3", "ms", False,
        [GLIMPSE, "caption", ONE_IMAGE] + glimpse_model_flags(), torch + ["--model", MODEL, "caption", ONE_IMAGE]))
    for arch in ("resnet18", "resnet50"):
        state_dict = os.path.join(args.work, f"{arch}-random.safetensors")
        flags = ["--state-dict", state_dict, "--images", images, "--batch", "16", "--repeats", "5"]
        metrics.append(Metric(
            f"features{arch[6:]}", f"{arch} features at 224, batch 16", "images/s", True,
            [BENCHMARKS, "--side-by-side", "features"] + flags, torch + ["features"] + flags,
            prepare=export_state_dict(args, arch, state_dict)))
    if args.only:
        wanted = set(args.only.split(","))
        metrics = [m for m in metrics if m.key in wanted]
    return metrics


def export_state_dict(args, arch, path):
    """Before a features trial: torchvision's random-weight state dict, written once."""
    def run(side):
        if not os.path.exists(path):
            subprocess.run([args.python, os.path.join(ROOT, "Scripts", "export_torchvision_resnet.py"), arch, path,
                            "--random-weights"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return run


def value(metric, side, trial, image_count):
    """The figure a trial gives."""
    r = trial.result
    if metric.key.startswith("train") or metric.key.startswith("features"):
        return r["images_per_second"]
    if metric.key.startswith("latency"):
        return r["median_ms"]
    if metric.key.startswith("batch"):
        # Glimpse: the whole `glimpse batch` process. PyTorch: its captioning loop (the whole process is shown apart).
        return image_count / trial.wall if side == "glimpse" else r["images_per_second"]
    return trial.wall * 1000  # caption: the whole process


def kept(trials):
    clean = [t for t in trials if not t.disturbed]
    return (clean, False) if clean else (trials, True)


# MARK: Set-up

def run(command, **kwargs):
    return subprocess.run(command, check=True, text=True, capture_output=True, cwd=ROOT, **kwargs).stdout


def make_image_set(args):
    """`glimpse synth`: JPEG and PNG scenes of about 160-400 px a side, with 5 captions each; then CAPTIONS.tsv."""
    folder = os.path.join(args.work, f"synth-{args.images}")
    images = os.path.join(folder, "Images")
    captions_file = os.path.join(folder, "CAPTIONS.tsv")
    if not (os.path.isdir(images) and len(os.listdir(images)) == args.images and os.path.exists(captions_file)):
        shutil.rmtree(folder, ignore_errors=True)
        log(f"making {args.images} images in {folder} (glimpse synth --seed 2)")
        run([GLIMPSE, "synth", folder, "--count", str(args.images), "--seed", "2"])
        # Token ids for both sides: CaptionTokenizer's rule (lowercase runs of letters and digits) and the
        # model's vocabulary, unknown words as <unk>.
        from safetensors import safe_open
        with safe_open(MODEL, framework="pt") as handle:
            vocabulary = json.loads(handle.metadata()["vocabulary"])
        ids = {word: index for index, word in enumerate(vocabulary)}
        with open(os.path.join(folder, "captions.txt")) as source, open(captions_file, "w") as out:
            for row in list(csv.reader(source))[1:]:
                tokens = [str(ids.get(word, 3)) for word in re.findall(r"[a-z0-9]+", row[1].lower())]
                out.write(f"{row[0]}\t{' '.join(tokens)}\n")
    return images, captions_file


def describe_images(images):
    from PIL import Image
    sides, kinds = [], {}
    for name in os.listdir(images):
        with Image.open(os.path.join(images, name)) as image:
            sides += list(image.size)
            kinds[image.format] = kinds.get(image.format, 0) + 1
    return (", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
            + f", {min(sides)}-{max(sides)} px a side")


def machine_description():
    fields = {}
    for line in run(["lscpu"]).splitlines():
        key, _, rest = line.partition(":")
        fields.setdefault(key.strip(), rest.strip())
    family, model = fields.get("CPU family", "?"), fields.get("Model", "?")
    text = (f"{fields.get('Model name', '?')} ({fields.get('Vendor ID', '?')} family {family} model {model}"
            + (f" = {int(family):#x}h/{int(model):#x}" if family.isdigit() and model.isdigit() else "")
            + f"), {CPUS} CPUs")
    if fields.get("Hypervisor vendor"):
        text += f", {fields['Hypervisor vendor']} guest"
    return text


def pytorch_description(args):
    """Versions, BLAS, and what oneDNN says it runs (ONEDNN_VERBOSE in the info mode)."""
    trial = Trial([args.python, TORCH_SCRIPT, "info"], torch_environment())
    r = trial.result
    isa = re.search(r"isa:([^\n]*)", trial.stdout)
    kernels = {}
    for line in trial.stdout.splitlines():
        parts = line.split(",")
        if len(parts) > 7 and parts[2] == "primitive" and parts[3] == "exec" and parts[5] == "convolution":
            kernels.setdefault(parts[7], parts[6])
    mkl = re.search(r"MKL_VERBOSE (oneMKL [^,]*?) Product", trial.stdout)
    conv = "; ".join(f"{kind} {impl}" for kind, impl in kernels.items())
    return (f"PyTorch {r['torch']}, {r['threads']} threads, ATen CPU capability {r['cpu_capability']}; "
            f"oneDNN {r['onednn']} (ISA: {isa.group(1).strip() if isa else '?'}; convolutions: {conv or '?'}); "
            f"BLAS {r['blas']} ({mkl.group(1) if mkl else 'MKL ' + r['mkl']})")


def torch_environment():
    environment = dict(os.environ)
    environment["THP_MEM_ALLOC_ENABLE"] = "1"
    return environment


def check_captions(args, images):
    """Greedy and beam-3 captions of samples/Images from both sides: how many agree."""
    lines = []
    for beam in (1, 3):
        glimpse = run([GLIMPSE, "caption", SAMPLES, "--beam", str(beam)]).splitlines()
        pytorch = run([args.python, TORCH_SCRIPT, "--model", MODEL, "captions", SAMPLES, "--beam", str(beam)],
                      env=torch_environment()).splitlines()
        same = sum(1 for a, b in zip(glimpse, pytorch) if a == b)
        lines.append(f"{'greedy' if beam == 1 else 'beam 3'} {same}/{len(glimpse)}")
        for a, b in zip(glimpse, pytorch):
            if a != b:
                log(f"  differ (beam {beam}): glimpse '{a}' / pytorch '{b}'")
    return lines


def compare_batch_outputs(args):
    parts = []
    for beam in (1, 3):
        def read(path):
            with open(path) as handle:
                return {r["path"]: r.get("caption") for r in map(json.loads, handle)}
        paths = [os.path.join(args.work, "outputs", f"{side}-beam{beam}.jsonl") for side in ("glimpse", "pytorch")]
        if not all(os.path.exists(p) for p in paths):
            continue
        glimpse, pytorch = read(paths[0]), read(paths[1])
        same = sum(1 for key, caption in glimpse.items() if pytorch.get(key) == caption)
        parts.append(f"{'greedy' if beam == 1 else 'beam 3'} {same}/{len(glimpse)}")
    return parts


# MARK: Main

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 round, 200 images, 3 training steps, 5-minute budget")
    parser.add_argument("--work", default="/tmp/glimpse-side-by-side", help="images and outputs (never the repository)")
    parser.add_argument("--trials", type=int, help="rounds of trials (default 3; --quick 1)")
    parser.add_argument("--images", type=int, help="images in the set (default 500; --quick 200)")
    parser.add_argument("--steps", type=int, help="timed training steps per trial (default 5; --quick 3)")
    parser.add_argument("--warmup", type=int, default=2, help="training steps before timing (default 2)")
    parser.add_argument("--repeats", type=int, default=30, help="latency repeats per trial (default 30)")
    parser.add_argument("--threshold", type=float, default=0.05,
                        help="share of the machine other processes may use before a trial is discarded (default 0.05)")
    parser.add_argument("--wait-for-quiet", type=float, default=10,
                        help="before each trial, wait up to this many seconds for other processes to go quiet (default 10)")
    parser.add_argument("--budget-minutes", type=float,
                        help="start no round that would end past this (default 14; --quick 5); the first always runs")
    parser.add_argument("--python", default=sys.executable, help="the Python with PyTorch")
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--model", help="the checkpoint both sides run (default: the shipped default model)")
    parser.add_argument("--only", help="measure only these figures, comma-separated keys "
                        "(train1, train5, latency1, latency3, batch1, batch3, caption, features18, features50)")
    args = parser.parse_args()
    global MODEL
    if args.model:
        MODEL = os.path.abspath(args.model)
    args.trials = args.trials or (1 if args.quick else 3)
    args.images = args.images or (200 if args.quick else 500)
    args.steps = args.steps or (3 if args.quick else 5)
    args.budget_minutes = args.budget_minutes or (5 if args.quick else 14)
    if os.path.realpath(args.work).startswith(os.path.realpath(ROOT) + os.sep):
        raise SystemExit("--work must be outside the repository")
    began = time.perf_counter()

    try:
        run([args.python, "-c", "import torch, PIL, safetensors"])
    except subprocess.CalledProcessError:
        raise SystemExit(f"{args.python} cannot import torch, PIL and safetensors: pip install torch pillow safetensors")
    if not args.skip_build:
        # The release build as the README builds it (the Swift runtime inside the executables).
        for product in ("glimpse", "glimpse-benchmarks"):
            log(f"swift build -c release --static-swift-stdlib --product {product} (incremental)")
            subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", product],
                           check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    shipped = os.path.join(RELEASE, "glimpse_GlimpseCaptioning.resources", "Resources", "default-model.safetensors")
    with open(shipped, "rb") as a, open(SHIPPED_MODEL, "rb") as b:
        if a.read() != b.read():
            raise SystemExit(f"{shipped} differs from {MODEL}: rebuild")
    os.makedirs(args.work, exist_ok=True)
    images, captions_file = make_image_set(args)
    image_count = len(os.listdir(images))

    log("what each side runs on")
    info = run([GLIMPSE, "info", "--system"])
    openblas = next((l for l in info.splitlines() if l.startswith("OpenBLAS") and "kernels" in l), "OpenBLAS ?")
    torch_text = pytorch_description(args)
    commit = run(["git", "rev-parse", "--short", "HEAD"]).strip()
    dirty = " + uncommitted changes" if run(["git", "status", "--porcelain", "--untracked-files=no"]).strip() else ""
    log("captions of samples/Images on both sides")
    agreement = check_captions(args, images)

    metrics = build_metrics(args, images, captions_file)
    environments = {"glimpse": None, "pytorch": torch_environment()}

    def round_of(number, wanted):
        order = ("glimpse", "pytorch") if number % 2 == 0 else ("pytorch", "glimpse")
        for metric in wanted:
            for side in order:
                if metric.prepare:
                    metric.prepare(side)
                waited = wait_for_quiet(args.wait_for_quiet, args.threshold)
                trial = Trial(metric.commands[side], environments[side], args.threshold)
                metric.trials[side].append(trial)
                log(f"  round {number + 1} {metric.key:9} {side:8} {value(metric, side, trial, image_count):9.2f} "
                    f"{metric.unit:9} {trial.note}" + (f" (waited {waited:.0f} s for quiet)" if waited else ""))

    # Rounds while the budget lasts (the first always): the planned ones, then extra ones for the
    # figures that have no clean trial yet on one side. A round's cost is estimated from the last one.
    rounds, round_seconds = 0, 0.0
    def fits(share):
        return (time.perf_counter() - began + round_seconds * share) / 60 <= args.budget_minutes
    while rounds < args.trials and (rounds == 0 or fits(1)):
        log(f"round {rounds + 1} of {args.trials}")
        start = time.perf_counter()
        round_of(rounds, metrics)
        round_seconds = time.perf_counter() - start
        rounds += 1
    planned = rounds
    while rounds < 3 * args.trials:
        short = [m for m in metrics if any(kept(m.trials[s])[1] for s in m.trials)]
        if not short or not fits(len(short) / len(metrics)):
            break
        log(f"extra round {rounds + 1}: {', '.join(m.key for m in short)} had only disturbed trials")
        round_of(rounds, short)
        rounds += 1
    batch_agreement = compare_batch_outputs(args) if any(m.key.startswith("batch") for m in metrics) else ["not measured"]

    # MARK: The table
    def figure(metric, side):
        trials, all_disturbed = kept(metric.trials[side])
        return (statistics.median(value(metric, side, t, image_count) for t in trials),
                0 if all_disturbed else len(trials), all_disturbed)

    def number_text(x):
        return f"{x:.0f}" if x >= 100 else f"{x:.1f}"

    now = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    for metric in metrics:
        (g, gn, gd), (p, pn, pd) = figure(metric, "glimpse"), figure(metric, "pytorch")
        ratio = g / p if metric.higher_is_better else p / g
        rows.append((f"{metric.label} ({metric.unit})", number_text(g) + ("!" if gd else ""),
                     number_text(p) + ("!" if pd else ""), f"{ratio:.2f}",
                     f"{gn}/{len(metric.trials['glimpse'])} {pn}/{len(metric.trials['pytorch'])}"))
        if metric.key.startswith("batch"):
            trials, disturbed = kept(metric.trials["pytorch"])
            whole = statistics.median(image_count / t.wall for t in trials)
            rows.append(("  PyTorch as a whole process too", "", number_text(whole) + ("!" if disturbed else ""),
                         f"{g / whole:.2f}", ""))
        if metric.key.startswith("train"):
            g_rss = statistics.median(t.peak_rss_mb for t in metric.trials["glimpse"])
            p_rss = statistics.median(t.peak_rss_mb for t in metric.trials["pytorch"])
            rows.append((f"  peak RSS of that training process (MB)", f"{g_rss:.0f}", f"{p_rss:.0f}", f"{p_rss / g_rss:.2f}",
                         "all trials"))
            g_cpu = statistics.median(t.result["cpu_ms_per_step"] for t in kept(metric.trials["glimpse"])[0])
            p_cpu = statistics.median(t.result["cpu_ms_per_step"] for t in kept(metric.trials["pytorch"])[0])
            rows.append((f"  CPU time per training step (ms, both threads)", f"{g_cpu:.0f}", f"{p_cpu:.0f}",
                         f"{p_cpu / g_cpu:.2f}", ""))

    print()
    print(f"Glimpse against PyTorch, side by side (Scripts/side_by_side.py{' --quick' if args.quick else ''}), "
          f"{now:%Y-%m-%d %H:%M} UTC")
    print(f"CPU: {machine_description()}")
    print(f"Glimpse: release build of {commit}{dirty}; {openblas}; 2 cores as glimpse uses them (2 Swift workers on single-threaded OpenBLAS)")
    print(f"PyTorch: {torch_text}; THP_MEM_ALLOC_ENABLE=1, "
          f"transparent huge pages '{open('/sys/kernel/mm/transparent_hugepage/enabled').read().strip()}'")
    from safetensors import safe_open
    with safe_open(MODEL, framework="pt") as handle:
        c = json.loads(handle.metadata()["configuration"])
    extras = (", position features" if c.get("positionFeatures") else "") + \
        (f", word-detection head (beta {c['wordLossWeight']}: Glimpse's training steps include its loss, PyTorch's do not)"
         if c.get("wordLossWeight") else "")
    print(f"Model: {'the shipped default model' if MODEL == SHIPPED_MODEL else MODEL} (S {c['imageSize']}, stages "
          f"{'/'.join(map(str, c['stageChannels']))}, E/A/H {c['embeddingSize']}/{c['attentionSize']}/{c['hiddenSize']}, "
          f"V {c['vocabularySize']}{extras}), same file both sides")
    print(f"Images: {image_count} from glimpse synth --seed 2 ({describe_images(images)}); latency and caption on "
          f"samples/Images/{os.path.basename(ONE_IMAGE)}")
    print(f"Captions agree, samples/Images: {', '.join(agreement)}; the batch set: {', '.join(batch_agreement)}")
    losses = []
    for metric in (m for m in metrics if m.key.startswith("train")):
        first = {side: statistics.median(t.result["first_loss"] for t in metric.trials[side]) for side in metric.trials}
        losses.append(f"{metric.label.split(', ')[1]} {first['glimpse']:.3f} / {first['pytorch']:.3f}")
    if losses:
        print(f"First training loss, Glimpse / PyTorch (dropout draws differ, so close, not equal): {'; '.join(losses)}")
    sums = []
    for metric in (m for m in metrics if m.key.startswith("features")):
        g, p = (metric.trials[side][0].result["feature_sum"] for side in ("glimpse", "pytorch"))
        sums.append(f"{metric.label.split(' ')[0]} {g:.6g} / {p:.6g} (relative difference {abs(g - p) / abs(p):.1e})")
    if sums:
        print(f"Sum of the features, Glimpse / PyTorch (same weights and images): {'; '.join(sums)}")
    print(f"Trials: {planned} round{'s' if planned > 1 else ''}"
          + (f" and {rounds - planned} extra for figures without a clean trial" if rounds > planned else "")
          + f", interleaved; a trial is kept when other processes used under "
          f"{args.threshold:.0%} of the 2 CPUs; '!' = every trial disturbed, median of all")
    print()
    header = ("figure", "Glimpse", "PyTorch", "ratio", "clean trials G P")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(5)]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print()
    print("ratio > 1: Glimpse is better (throughput Glimpse/PyTorch; times and memory PyTorch/Glimpse).")
    print("Training: one fixed batch, 2 warm-up steps, then the timed steps; images/s = images x steps / their wall time.")
    print("Batch: Glimpse is the whole `glimpse batch` process (start-up, model load, 2 decoding workers, batches of 16);")
    print("PyTorch is its captioning loop (decoding in the loop, batches of 16), without import and model load.")
    print("Caption, whole process: `glimpse caption IMAGE` against `python3 Scripts/side_by_side_torch.py caption IMAGE`.")
    print(f"Took {(time.perf_counter() - began) / 60:.1f} minutes.")

    raw = {metric.key: {side: [dict(command=t.command, wall=t.wall, own_cpu=t.own_cpu, other_cpu=t.other_cpu, steal=t.steal,
                                     peak_rss_mb=t.peak_rss_mb, disturbed=t.disturbed, result=t.result)
                               for t in trials] for side, trials in metric.trials.items()} for metric in metrics}
    path = os.path.join(args.work, f"results-{now:%Y%m%dT%H%M%S}.json")
    with open(path, "w") as handle:
        json.dump(raw, handle, indent=1)
    print(f"Every trial: {path}")


if __name__ == "__main__":
    main()
