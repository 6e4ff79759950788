# Stage image em2exm-seg-train: python -m stages.seg_train on the gpu runtime (images/base.Dockerfile).
# Generated from em2exm.specs.seg_train by `make generate`.
ARG BASE_IMAGE=em2exm-base-gpu:0.1.0
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="em2exm-seg-train" \
      org.opencontainers.image.description="train the 3D U-Net on B/C(/D) targets from a build-dataset output; resumable." \
      org.opencontainers.image.source="em2exm/images/stages/seg-train.Dockerfile"
USER 10001
ENTRYPOINT ["python", "-m", "stages.seg_train"]
