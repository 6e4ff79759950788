# Stage image em2exm-build-dataset: python -m stages.build_dataset on the cpu runtime (images/base.Dockerfile).
# Generated from em2exm.specs.build_dataset by `make generate`.
ARG BASE_IMAGE=em2exm-base-cpu:0.1.0
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="em2exm-build-dataset" \
      org.opencontainers.image.description="pair an image volume (e.g. CCGAN-transferred EM) with instance labels, split train/val." \
      org.opencontainers.image.source="em2exm/images/stages/build-dataset.Dockerfile"
USER 10001
ENTRYPOINT ["python", "-m", "stages.build_dataset"]
