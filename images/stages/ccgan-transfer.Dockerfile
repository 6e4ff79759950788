# Stage image em2exm-ccgan-transfer: python -m stages.ccgan_transfer on the gpu runtime (images/base.Dockerfile).
# Generated from em2exm.specs.ccgan_transfer by `make generate`.
ARG BASE_IMAGE=em2exm-base-gpu:0.1.0
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="em2exm-ccgan-transfer" \
      org.opencontainers.image.description="translate an EM volume into the ExM domain with the trained generator G_A (or ExM into EM with G_B), blockwise." \
      org.opencontainers.image.source="em2exm/images/stages/ccgan-transfer.Dockerfile"
USER 10001
ENTRYPOINT ["python", "-m", "stages.ccgan_transfer"]
