# Stage image em2exm-ccgan-train: python -m stages.ccgan_train on the gpu runtime (images/base.Dockerfile).
# Generated from em2exm.specs.ccgan_train by `make generate`.
ARG BASE_IMAGE=em2exm-base-gpu:0.1.0
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="em2exm-ccgan-train" \
      org.opencontainers.image.description="train the CycleGAN with segmentation heads that translates EM (domain A) into ExM (domain B)." \
      org.opencontainers.image.source="em2exm/images/stages/ccgan-train.Dockerfile"
USER 10001
ENTRYPOINT ["python", "-m", "stages.ccgan_train"]
