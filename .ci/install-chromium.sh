#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the test that renders `glimpse report`'s page
# and checks a screenshot (ReportCommandTests). .ci/run then sets GLIMPSE_REQUIRE_CHROMIUM=1, so
# that test fails rather than skips when the browser is missing. Quiet; without the recommended
# packages (a desktop's systemd, printing and Samba) and with one font family for the text.
set -euo pipefail

for name in chromium chromium-headless-shell; do
    if command -v "$name" >/dev/null 2>&1; then
        echo "chromium: present ($(command -v "$name"))"
        exit 0
    fi
done

run_as_root=()
if [ "$(id -u)" -ne 0 ]; then
    run_as_root=(sudo)
fi
started=$(date +%s)
"${run_as_root[@]}" apt-get update -qq
"${run_as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-liberation >/dev/null
echo "chromium: installed in $(( $(date +%s) - started )) s ($(chromium --version 2>/dev/null))"
