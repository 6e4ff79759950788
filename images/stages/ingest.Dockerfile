# Stage image em2exm-ingest: python -m stages.ingest on the cpu runtime (images/base.Dockerfile).
# Generated from em2exm.specs.ingest by `make generate`.
ARG BASE_IMAGE=em2exm-base-cpu:0.1.0
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="em2exm-ingest" \
      org.opencontainers.image.description="raw EM/ExM volumes (tiff, h5, zarr, slice folders) -> normalised OME-Zarr at a common voxel size." \
      org.opencontainers.image.source="em2exm/images/stages/ingest.Dockerfile"
USER 10001
ENTRYPOINT ["python", "-m", "stages.ingest"]
