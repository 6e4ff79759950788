#!/usr/bin/env bash
# Build the em2exm images with docker or podman: two runtimes (cpu, gpu), then one thin image per stage,
# tagged <registry>/em2exm-<stage>:<tag>.  Optionally push them and/or convert them to Singularity images.
#
#   images/build.sh [--registry R] [--tag T] [--push] [--sif DIR] [STAGE ...]
#
# Environment: ENGINE (docker|podman, default: whichever is installed), CPU_BASE_IMAGE, GPU_BASE_IMAGE,
# TORCH_VERSION (CPU runtime), SINGULARITY (singularity|apptainer).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

registry=registry.example.com/em2exm
tag=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
push=0
sif=""
stages=()
while [ $# -gt 0 ]; do
  case "$1" in
    --registry) registry=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --push) push=1; shift ;;
    --sif) sif=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$here/build.sh"; exit 0 ;;
    -*) echo "error: unknown option $1 -- fix: see images/build.sh --help" >&2; exit 2 ;;
    *) stages+=("$1"); shift ;;
  esac
done
engine=${ENGINE:-$(command -v docker || command -v podman || true)}
if [ -z "$engine" ]; then
  echo "error: neither docker nor podman is installed -- fix: install one or set ENGINE" >&2
  exit 2
fi
if [ ${#stages[@]} -eq 0 ]; then
  for file in images/stages/*.Dockerfile; do stages+=("$(basename "$file" .Dockerfile)"); done
fi

"$engine" build -f images/base.Dockerfile -t "em2exm-base-cpu:$tag" \
  --build-arg BASE_IMAGE="${CPU_BASE_IMAGE:-python:3.11.7-slim-bookworm}" \
  --build-arg TORCH_VERSION="${TORCH_VERSION:-2.9.1}" .
"$engine" build -f images/base.Dockerfile -t "em2exm-base-gpu:$tag" \
  --build-arg BASE_IMAGE="${GPU_BASE_IMAGE:-pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime}" \
  --build-arg TORCH_VERSION="" .

for stage in "${stages[@]}"; do
  dockerfile=images/stages/$stage.Dockerfile
  kind=$(sed -n 's/^ARG BASE_IMAGE=em2exm-base-\([a-z]*\):.*/\1/p' "$dockerfile")
  image=$registry/em2exm-$stage:$tag
  "$engine" build -f "$dockerfile" -t "$image" --build-arg BASE_IMAGE="em2exm-base-$kind:$tag" images
  if [ "$push" = 1 ]; then "$engine" push "$image"; fi
  if [ -n "$sif" ]; then
    mkdir -p "$sif"
    # singularity reads the local docker daemon; with podman, go through an archive.
    if [ "$(basename "$engine")" = podman ]; then
      archive=$(mktemp --suffix=.tar)
      "$engine" save -o "$archive" "$image"
      "${SINGULARITY:-singularity}" build --force "$sif/em2exm-${stage}_$tag.sif" "docker-archive://$archive"
      rm -f "$archive"
    else
      "${SINGULARITY:-singularity}" build --force "$sif/em2exm-${stage}_$tag.sif" "docker-daemon://$image"
    fi
  fi
  echo "built $image"
done
