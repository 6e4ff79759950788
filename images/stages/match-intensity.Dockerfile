# Stage image em2exm-match-intensity: python -m stages.match_intensity on the cpu runtime (images/base.Dockerfile).
# Generated from em2exm.specs.match_intensity by `make generate`.
ARG BASE_IMAGE=em2exm-base-cpu:0.1.0
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="em2exm-match-intensity" \
      org.opencontainers.image.description="the no-learning baseline -- EM inverted, blurred and histogram-matched to an ExM volume, blockwise." \
      org.opencontainers.image.source="em2exm/images/stages/match-intensity.Dockerfile"
USER 10001
ENTRYPOINT ["python", "-m", "stages.match_intensity"]
