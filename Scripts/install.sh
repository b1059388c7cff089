#!/usr/bin/env bash
# Builds the release `glimpse` and installs it with the shipped default model:
#
#   Scripts/install.sh [PREFIX]               PREFIX/bin/glimpse, PREFIX/share/glimpse/default-model.safetensors
#   Scripts/install.sh --uninstall [PREFIX]   removes exactly those two files (and the empty share/glimpse)
#
# PREFIX defaults to /usr/local. An installed `glimpse` finds the model at <its folder>/../share/glimpse/
# (ModelLocator), so the two must stay side by side; $GLIMPSE_MODEL or --model still override it.
# The binary is built with --static-swift-stdlib: the Swift runtime and Foundation are linked in, so it
# runs without the toolchain (it still needs libjpeg, libpng and OpenBLAS, which Scripts/setup.sh installs).
# sudo is used only when PREFIX is not writable and we are not root, as in Scripts/setup.sh.
set -euo pipefail

usage() {
    echo "usage: Scripts/install.sh [PREFIX]              build and install glimpse (PREFIX defaults to /usr/local)"
    echo "       Scripts/install.sh --uninstall [PREFIX]  remove what the install put there"
}

mode=install
case "${1:-}" in
    --uninstall) mode=uninstall; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "install: unknown option $1" >&2; usage >&2; exit 64 ;;
esac
if [ $# -gt 1 ]; then
    usage >&2
    exit 64
fi
prefix="${1:-/usr/local}"
case "$prefix" in
    /*) ;;
    *) prefix="$PWD/$prefix" ;;  # relative to where the user stands, not to the repository
esac
prefix="${prefix%/}"
[ -n "$prefix" ] || prefix=/
cd "$(dirname "$0")/.."
bin_dir="$prefix/bin"
share_dir="$prefix/share/glimpse"
model_name=default-model.safetensors
model_source=Sources/GlimpseCaptioning/Resources/$model_name

# The nearest folder that exists decides whether we need sudo to write under PREFIX.
writable_prefix() {
    local folder="$prefix"
    while [ ! -e "$folder" ]; do
        folder="$(dirname "$folder")"
    done
    [ -w "$folder" ] && { [ ! -e "$bin_dir" ] || [ -w "$bin_dir" ]; } && { [ ! -e "$share_dir" ] || [ -w "$share_dir" ]; }
}
as_root=()
if [ "$(id -u)" -ne 0 ] && ! writable_prefix; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install: $prefix is not writable and sudo is missing; choose a PREFIX you can write, e.g. Scripts/install.sh ~/.local" >&2
        exit 1
    fi
    as_root=(sudo)
    echo "install: $prefix is not writable by $(id -un): using sudo"
fi

if [ "$mode" = uninstall ]; then
    removed=0
    for file in "$bin_dir/glimpse" "$share_dir/$model_name"; do
        if [ -e "$file" ] || [ -L "$file" ]; then
            "${as_root[@]}" rm -f "$file"
            echo "install: removed $file"
            removed=$((removed + 1))
        fi
    done
    # Only the folder we made, and only when nothing else was put in it.
    if [ -d "$share_dir" ] && "${as_root[@]}" rmdir "$share_dir" 2>/dev/null; then
        echo "install: removed $share_dir/"
    fi
    if [ "$removed" -eq 0 ]; then
        echo "install: nothing to remove under $prefix (no bin/glimpse, no share/glimpse/$model_name)"
    fi
    exit 0
fi

if [ ! -f "$model_source" ]; then
    echo "install: $model_source is missing (run this from a clone of Glimpse)" >&2
    exit 1
fi

echo "install: building the release glimpse (swift build -c release --static-swift-stdlib --product glimpse)"
swift build -c release --static-swift-stdlib --product glimpse
binary="$(swift build -c release --static-swift-stdlib --product glimpse --show-bin-path)/glimpse"

# install(1) unlinks an old file before copying, so a glimpse that is running keeps its own copy.
"${as_root[@]}" install -d -m 755 "$bin_dir" "$share_dir"
"${as_root[@]}" install -m 755 "$binary" "$bin_dir/glimpse"
"${as_root[@]}" install -m 644 "$model_source" "$share_dir/$model_name"

echo "install: $bin_dir/glimpse ($(du -h "$bin_dir/glimpse" | cut -f1))"
echo "install: $share_dir/$model_name ($(du -h "$share_dir/$model_name" | cut -f1), the default model)"
if ! "$bin_dir/glimpse" --version >/dev/null 2>&1; then
    echo "install: warning: $bin_dir/glimpse --version failed; run Scripts/setup.sh for libjpeg, libpng and OpenBLAS" >&2
fi
case ":$PATH:" in
    *":$bin_dir:"*) echo "install: done; try: glimpse caption $PWD/samples/Images/synth-000009.jpg" ;;
    *) echo "install: done; $bin_dir is not on your PATH: add it (export PATH=\"$bin_dir:\$PATH\") or run $bin_dir/glimpse" ;;
esac
echo "install: to remove: Scripts/install.sh --uninstall $prefix"
