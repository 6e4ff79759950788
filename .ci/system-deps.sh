#!/usr/bin/env bash
# Debian packages the tests use: Chromium + ChromeDriver (Neuroglancer screenshot test).
# Idempotent and quiet; does nothing where they are already installed.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
