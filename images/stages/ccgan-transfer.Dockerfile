# Stage image em2exm-ccgan-transfer: python -m stages.ccgan_transfer on the gpu runtime (images/base.Dockerfile).
ARG BASE_IMAGE=em2exm-base-gpu:0.1.0
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="em2exm-ccgan-transfer" \
      org.opencontainers.image.source="em2exm/images/stages/ccgan-transfer.Dockerfile"
USER 10001
ENTRYPOINT ["python", "-m", "stages.ccgan_transfer"]
