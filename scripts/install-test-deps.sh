#!/usr/bin/env bash
# Everything the test suite needs on a fresh Debian machine: the Debian tools the tests run for real
# (nginx, Prometheus + promtool, Alertmanager + amtool, Chromium, htpasswd, the Go exporters and wrk
# for the side-by-side benchmark smoke test, systemd-analyze) and the Python packages.
set -euo pipefail
DEBS=(nginx prometheus prometheus-alertmanager chromium fonts-noto-cjk fonts-noto-color-emoji apache2-utils
      prometheus-blackbox-exporter prometheus-node-exporter wrk systemd goaccess)
missing=()
for pkg in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
python3 -m pip install -q -e '.[test]'
