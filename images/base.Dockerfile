# The em2exm runtime shared by every stage image: the package with pinned dependencies on BASE_IMAGE.
#   CPU: BASE_IMAGE=python:3.11.7-slim-bookworm, torch TORCH_VERSION (CPU wheels) from TORCH_INDEX_URL
#   GPU: BASE_IMAGE=pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime (brings CUDA torch), TORCH_VERSION=""
# Build from the repository root: images/build.sh does it.
ARG BASE_IMAGE=python:3.11.7-slim-bookworm
FROM ${BASE_IMAGE}

ARG TORCH_VERSION=2.9.1
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PYTHONNOUSERSITE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /opt/em2exm
COPY images/constraints.txt ./constraints.txt
RUN if [ -n "${TORCH_VERSION}" ]; then \
      python -m pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"; \
    fi
COPY pyproject.toml README.md ./src/
COPY shared ./src/shared
COPY stages ./src/stages
COPY workflows ./src/workflows
RUN python -m pip install --no-cache-dir --constraint constraints.txt ./src \
    && rm -rf ./src \
    && useradd --no-log-init --create-home --uid 10001 em2exm

USER 10001
WORKDIR /home/em2exm
