#!/bin/sh
# Install promtool (Debian's `prometheus` package) when it is missing: the
# tests in tests/ops lint metrics, alert rules and the Prometheus config with it.
# The package does not start the server in a container; on a host with systemd
# the service is stopped and disabled again, since only promtool is wanted.
set -eu

if command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "promtool is missing; run this script as root to install Debian's prometheus package" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl disable --now --quiet prometheus
fi
command -v promtool >/dev/null
