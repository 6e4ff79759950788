# Stage image em2exm-decode: python -m stages.decode on the cpu runtime (images/base.Dockerfile).
# Generated from em2exm.specs.decode by `make generate`.
ARG BASE_IMAGE=em2exm-base-cpu:0.1.0
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="em2exm-decode" \
      org.opencontainers.image.description="network maps (uint8 C,Z,Y,X OME-Zarr from seg-infer) -> instance labels, blockwise with stitching." \
      org.opencontainers.image.source="em2exm/images/stages/decode.Dockerfile"
USER 10001
ENTRYPOINT ["python", "-m", "stages.decode"]
