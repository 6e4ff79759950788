# Stage image em2exm-simulate-exm: python -m stages.simulate_exm on the cpu runtime (images/base.Dockerfile).
# Generated from em2exm.specs.simulate_exm by `make generate`.
ARG BASE_IMAGE=em2exm-base-cpu:0.1.0
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="em2exm-simulate-exm" \
      org.opencontainers.image.description="render an ExM-like membrane image (uint8 OME-Zarr + labels/groundtruth) from instance labels." \
      org.opencontainers.image.source="em2exm/images/stages/simulate-exm.Dockerfile"
USER 10001
ENTRYPOINT ["python", "-m", "stages.simulate_exm"]
