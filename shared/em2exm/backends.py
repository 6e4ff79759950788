"""Backend settings: the ``argo:`` and ``slurm:`` sections of the pipeline YAML (strict, defaults everywhere)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from em2exm import __version__
from em2exm.config import StrictModel


class Toleration(StrictModel):
    """A Kubernetes toleration (lets pods onto a tainted node pool)."""

    key: str
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class NodePool(StrictModel):
    """Where pods of one kind land: node labels to select and taints to tolerate."""

    node_selector: dict[str, str] = {}
    tolerations: tuple[Toleration, ...] = ()


GPU_POOL = NodePool(
    node_selector={"nvidia.com/gpu.present": "true"},
    tolerations=(Toleration(key="nvidia.com/gpu", effect="NoSchedule"),),
)


class ArgoSettings(StrictModel):
    """How the pipeline runs on Argo Workflows: images, namespace, node pools, retries, limits, storage."""

    registry: str = Field("registry.example.com/em2exm", description="images are <registry>/em2exm-<stage>:<tag>")
    tag: str = __version__
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    namespace: str = "em2exm"
    service_account: str = "em2exm"
    cpu_pool: NodePool = NodePool()
    gpu_pool: NodePool = GPU_POOL
    parallelism: int = Field(16, ge=1, description="pods of one workflow running at once")
    fanout_parallelism: int = Field(8, ge=1, description="block tasks of one blockwise step running at once")
    retries: int = Field(3, ge=0, description="retries of a failed pod (not of exit code 2: bad input)")
    backoff: str = "30s"
    backoff_factor: int = Field(2, ge=1)
    backoff_max: str = "30m"
    step_timeout: str = Field("24h", description="per pod, Pending time included (bounds pods stuck unscheduled)")
    active_deadline_seconds: int = Field(7 * 86400, ge=1, description="the whole workflow")
    ttl_seconds: int = Field(7 * 86400, ge=0, description="keep a finished workflow this long")
    shm_gib: int = Field(8, ge=1, description="/dev/shm (memory-backed) for data loaders on GPU pods")
    storage_configmap: str = Field("em2exm-storage", description="ConfigMap with key 'endpoint' (S3 endpoint URL)")
    storage_secret: str = Field("em2exm-s3", description="Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")


class SlurmSettings(StrictModel):
    """How the pipeline runs on SLURM: partitions, time limit, Singularity images and binds."""

    partition: str | None = None
    gpu_partition: str | None = Field(None, description="partition of GPU steps (default: partition)")
    account: str | None = None
    time: str = "24:00:00"
    images: str = Field("images", description="folder holding em2exm-<stage>_<tag>.sif")
    tag: str = __version__
    runtime: Literal["singularity", "apptainer"] = "singularity"
    binds: tuple[str, ...] = Field((), description="extra --bind paths; local inputs and the store are bound anyway")
    array_tasks: int = Field(16, ge=1, description="array tasks of a blockwise step; each takes every n-th range")
    array_parallelism: int | None = Field(None, ge=1, description="array tasks running at once (%N)")
    extra: tuple[str, ...] = Field((), description="extra sbatch options, e.g. '--qos=normal'")
