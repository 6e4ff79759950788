# Stage image em2exm-evaluate: python -m stages.evaluate on the cpu runtime (images/base.Dockerfile).
# Generated from em2exm.specs.evaluate by `make generate`.
ARG BASE_IMAGE=em2exm-base-cpu:0.1.0
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="em2exm-evaluate" \
      org.opencontainers.image.description="score an instance segmentation against ground truth (ARE, VOI, F1/AP at IoU 0.5..0.95)." \
      org.opencontainers.image.source="em2exm/images/stages/evaluate.Dockerfile"
USER 10001
ENTRYPOINT ["python", "-m", "stages.evaluate"]
