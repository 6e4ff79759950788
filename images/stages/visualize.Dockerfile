# Stage image em2exm-visualize: python -m stages.visualize on the cpu runtime (images/base.Dockerfile).
# Generated from em2exm.specs.visualize by `make generate`.
ARG BASE_IMAGE=em2exm-base-cpu:0.1.0
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="em2exm-visualize" \
      org.opencontainers.image.description="PNG previews, loss curves, a Neuroglancer state and report.md for a run store." \
      org.opencontainers.image.source="em2exm/images/stages/visualize.Dockerfile"
USER 10001
ENTRYPOINT ["python", "-m", "stages.visualize"]
