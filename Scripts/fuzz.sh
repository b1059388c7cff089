#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of the image decoder shim and the safetensors reader.
#
#   bash Scripts/fuzz.sh [seconds-per-target]     (default 60)
#
# Builds both fuzzers into .build-fuzz/ with AddressSanitizer (plus UndefinedBehaviorSanitizer
# for the C shim), runs each for the given time over a copy of its seed corpus in Fuzz/corpus/,
# and exits non-zero on any crash, leak, timeout (one input over 10 s) or out-of-memory, naming
# the file that reproduces it (out of memory: over 2 GB in all, or one allocation over 256 MB).
# The committed corpus is never written. See Fuzz/README.md.
# Needs the system libraries of Scripts/setup.sh and the Swift toolchain's clang (libFuzzer).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: bash Scripts/fuzz.sh [seconds-per-target], a positive whole number (got '$seconds')" >&2
    exit 2
fi

scratch=.build-fuzz
mkdir -p "$scratch/bin"

# The clang beside swiftc ships libFuzzer; a system clang may not.
swiftc="$(command -v swiftc)" || { echo "fuzz: swiftc not found on PATH" >&2; exit 1; }
clang="$(dirname "$(readlink -f "$swiftc")")/clang"
[ -x "$clang" ] || clang="$(command -v clang)"

# Runs a compiler, printing its output without the linker's harmless
# "Cannot export local symbol" notes (the sanitizer runtimes trigger them with gold).
compile() {
    local log="$scratch/build.log"
    if ! "$@" >"$log" 2>&1; then
        grep -v "Cannot export local symbol" "$log" >&2 || true
        echo "fuzz: build failed: $*" >&2
        exit 1
    fi
    grep -v "Cannot export local symbol" "$log" || true
}

echo "fuzz: building codec_fuzzer and safetensors_fuzzer in $scratch/"
# shellcheck disable=SC2046  # pkg-config's flags are meant to split
compile "$clang" -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I Sources/CGlimpseCodec/include $(pkg-config --cflags libjpeg libpng zlib) \
    Fuzz/codec_fuzzer.c Sources/CGlimpseCodec/jpeg_codec.c Sources/CGlimpseCodec/png_codec.c \
    $(pkg-config --libs libjpeg libpng zlib) -o "$scratch/bin/codec_fuzzer"
# The harness joins the module's own sources (and GlimpseSupport's, which it imports), so that internal API is visible.
compile "$swiftc" -sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 \
    -module-name GlimpseSafeTensors Sources/GlimpseSupport/*.swift Sources/GlimpseSafeTensors/*.swift Fuzz/SafeTensorsFuzzer.swift \
    -o "$scratch/bin/safetensors_fuzzer"

# Runs one fuzzer for `seconds`; prints one summary line, or the failure and its reproducer.
run() {
    local target="$1" corpus="$2"
    local work="$scratch/$target"
    rm -rf "$work"
    mkdir -p "$work/artifacts"
    cp -R "Fuzz/corpus/$corpus" "$work/corpus"
    # One allocation over 256 MB fails the run: at the harnesses' limits (4 megapixels, 4 KB
    # inputs) nothing legitimate comes near it, so a larger one is sized by untrusted data.
    local limits=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 -detect_leaks=1)
    local status=0
    "$scratch/bin/$target" "$work/corpus" "${limits[@]}" -dict="Fuzz/$corpus.dict" -max_total_time="$seconds" \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" >"$work/log" 2>&1 || status=$?

    local executions speed coverage features corpus_size
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
    coverage=$(grep -oE 'cov: [0-9]+' "$work/log" | tail -1 | cut -d' ' -f2)
    features=$(grep -oE 'ft: [0-9]+' "$work/log" | tail -1 | cut -d' ' -f2)
    corpus_size=$(grep -oE 'corp: [0-9]+' "$work/log" | tail -1 | cut -d' ' -f2)
    if [ "$status" -eq 0 ]; then
        echo "fuzz: $target: ok, ${executions:-?} inputs in ${seconds} s (${speed:-?}/s), coverage ${coverage:-?} edges, ${features:-?} features, corpus ${corpus_size:-?}"
        return 0
    fi
    echo "fuzz: $target: FAILED (exit $status) after ${executions:-?} inputs; the end of its log ($work/log):" >&2
    grep -vE '^#[0-9]+ +(NEW|REDUCE|pulse)|Cannot export local symbol' "$work/log" | tail -n 60 >&2
    local artifact
    for artifact in "$work"/artifacts/*; do
        [ -e "$artifact" ] || continue
        echo "fuzz: $target: reproducer: $artifact (replay: $scratch/bin/$target ${limits[*]} $artifact)" >&2
    done
    return 1
}

failed=0
run codec_fuzzer codec || failed=1
run safetensors_fuzzer safetensors || failed=1
exit "$failed"
