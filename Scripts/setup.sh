#!/usr/bin/env bash
# Installs the system libraries Glimpse builds against, when they are missing:
# libjpeg (libjpeg-turbo), libpng and OpenBLAS, plus pkg-config to find them.
# With --mpi, also Open MPI (libopenmpi-dev, openmpi-bin), for data-parallel training
# (mpirun -np N glimpse train; the next swift build picks it up: Docs/scaling.md).
# Safe to run again: it installs nothing when everything is present.
set -euo pipefail

packages=(pkg-config libjpeg-dev libpng-dev libopenblas-dev)
if [ "${1:-}" = "--mpi" ]; then
    packages+=(libopenmpi-dev openmpi-bin)
elif [ -n "${1:-}" ]; then
    echo "usage: bash Scripts/setup.sh [--mpi]" >&2
    exit 64
fi
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: system libraries present (${packages[*]})"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: please install the equivalents of: ${missing[*]} (this script knows Debian/Ubuntu's apt-get)" >&2
    exit 1
fi

run_as_root=()
if [ "$(id -u)" -ne 0 ]; then
    run_as_root=(sudo)
fi
echo "setup: installing ${missing[*]}"
"${run_as_root[@]}" apt-get update -qq
"${run_as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
