"""Where a run keeps its data products: every URL under the run's store, in one place.

    <store>/em.zarr, exm.zarr                     ingested volumes (+ labels/groundtruth)
    <store>/exm_source.zarr                        the labelled volume a simulated ExM volume is rendered from
    <store>/em_source.zarr                         the EM at its own voxel size (the rendered experiment's labels)
    <store>/models/<ccgan>/                        ccgan-train output (checkpoint, losses, samples)
    <store>/transferred/<ccgan>.zarr               EM translated to ExM (+ labels carried over)
    <store>/experiments/<name>/dataset/            build-dataset output (train.zarr, val.zarr)
    <store>/experiments/<name>/model/              seg-train output
    <store>/experiments/<name>/predictions.zarr    seg-infer maps (+ labels/instances from decode)
    <store>/experiments/seghead/transfer.zarr      G_B of the ExM volume; its seg_probability are seghead's maps
    <store>/experiments/<name>/evaluation/         evaluate output (metrics.json, metrics.md)
    <store>/report/                                visualize output (report.md, PNGs, Neuroglancer state)
"""

from __future__ import annotations

from dataclasses import dataclass

from em2exm import storage

INSTANCES = "instances"
GROUNDTRUTH = "groundtruth"
SEGHEAD = "seghead"
SEG_PROBABILITY = "seg_probability"


@dataclass(frozen=True)
class RunLayout:
    """URLs of one run's products."""

    store: str

    def _at(self, *parts: str) -> str:
        return storage.join(self.store, *parts)

    @property
    def em(self) -> str:
        return self._at("em.zarr")

    @property
    def exm(self) -> str:
        return self._at("exm.zarr")

    @property
    def exm_source(self) -> str:
        return self._at("exm_source.zarr")

    @property
    def em_source(self) -> str:
        return self._at("em_source.zarr")

    @property
    def report(self) -> str:
        return self._at("report")

    def labels(self, image: str, name: str = GROUNDTRUTH) -> str:
        """A label image inside an image's NGFF ``labels`` group."""
        return storage.join(image, "labels", name)

    def ccgan_model(self, name: str) -> str:
        return self._at("models", name)

    def transferred(self, name: str) -> str:
        return self._at("transferred", f"{name}.zarr")

    def experiment(self, name: str) -> str:
        return self._at("experiments", name)

    def dataset(self, experiment: str) -> str:
        return self._at("experiments", experiment, "dataset")

    def seg_model(self, experiment: str) -> str:
        return self._at("experiments", experiment, "model")

    def seghead_transfer(self) -> str:
        """The seghead experiment's ccgan-transfer (G_B) of the ExM volume; its seg maps are the predictions."""
        return self._at("experiments", SEGHEAD, "transfer.zarr")

    def predictions(self, experiment: str) -> str:
        if experiment == SEGHEAD:
            return storage.join(self.seghead_transfer(), SEG_PROBABILITY)
        return self._at("experiments", experiment, "predictions.zarr")

    def instances(self, experiment: str) -> str:
        return self.labels(self.predictions(experiment), INSTANCES)

    def evaluation(self, experiment: str) -> str:
        return self._at("experiments", experiment, "evaluation")

    def metrics(self, experiment: str) -> str:
        return storage.join(self.evaluation(experiment), "metrics.json")

    def experiments(self) -> list[str]:
        """Names of the experiments present in the store."""
        return storage.list_names(self._at("experiments"))

    def ccgan_models(self) -> list[str]:
        """Names of the CCGAN models present in the store."""
        return storage.list_names(self._at("models"))

    def transferred_names(self) -> list[str]:
        """Names of the transferred volumes present in the store."""
        return [name.removesuffix(".zarr") for name in storage.list_names(self._at("transferred"))]
