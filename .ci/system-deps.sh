#!/usr/bin/env bash
# Debian packages the tests use: Chromium + ChromeDriver (Neuroglancer screenshot test), slurm-wlm (a real
# single-node SLURM for the sbatch chain test).
# Idempotent and quiet; does nothing where they are already installed.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v slurmctld >/dev/null || need+=(slurm-wlm)
[ ${#need[@]} -eq 0 ] && exit 0
as_root=()
if [ "$(id -u)" != 0 ]; then
  sudo -n true 2>/dev/null || { echo "system-deps: not root and no sudo; tests needing ${need[*]} will skip" >&2; exit 0; }
  as_root=(sudo -n)
fi
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
