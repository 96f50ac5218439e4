#!/usr/bin/env bash
# The page tests drive Debian's Chromium (no browser download): install it when missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && fc-list :lang=zh | grep -q .; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "chromium is missing: install Debian's chromium package (apt-get install chromium)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
