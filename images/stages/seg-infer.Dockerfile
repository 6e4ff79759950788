# Stage image em2exm-seg-infer: python -m stages.seg_infer on the gpu runtime (images/base.Dockerfile).
# Generated from em2exm.specs.seg_infer by `make generate`.
ARG BASE_IMAGE=em2exm-base-gpu:0.1.0
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="em2exm-seg-infer" \
      org.opencontainers.image.description="blockwise sliding-window inference of a trained U-Net -> uint8 maps (C, Z, Y, X) OME-Zarr." \
      org.opencontainers.image.source="em2exm/images/stages/seg-infer.Dockerfile"
USER 10001
ENTRYPOINT ["python", "-m", "stages.seg_infer"]
