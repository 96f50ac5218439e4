#!/usr/bin/env bash
# The TLS test (tests/integration/test_kafka_tls.py) puts Debian's stunnel in front of the
# embedded broker, which speaks plaintext only: install it when missing.
set -euo pipefail
if command -v stunnel4 >/dev/null 2>&1 || command -v stunnel >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "stunnel is missing: install Debian's stunnel4 package (apt-get install stunnel4)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq stunnel4 >/dev/null
