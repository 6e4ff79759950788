"""Bad input to every stage and to ``em2exm run``: exit 2, exactly one ``error:`` line, no traceback, and nothing
created or changed on disk (neither the output nor the inputs).

Stages run in-process through ``stagekit.run_stage``; stderr is captured at the file descriptor (``capfd``), so
the error lines of the steps ``em2exm run`` starts as subprocesses count too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import zarr
from em2exm import ome, runner
from em2exm.ccgan.config import CCGANConfig
from em2exm.ccgan.trainer import CCGANTrainer
from em2exm.checkpoints import checkpoint_bytes
from em2exm.seg.checkpoint import build_model
from em2exm.seg.config import SegTrainConfig
from em2exm.stagekit import run_stage
from test_ccgan_stages import write_volumes
from test_ccgan_training import SMALL
from test_decode_stage import ball_maps, write_maps
from test_evaluate_stage import label_pair, write_pair

from stages import (
    build_dataset,
    ccgan_train,
    ccgan_transfer,
    decode,
    evaluate,
    ingest,
    seg_infer,
    seg_train,
    simulate_exm,
    visualize,
)

VOXEL = ["--voxel-size", "1", "1", "1"]


def _seg_checkpoints(root: Path) -> None:
    """A light BC U-Net checkpoint and broken variants of it, as .pt files."""
    config = SegTrainConfig(preset="light", target="bc", patch=(5, 17, 17))
    good = {"config": config.model_dump(mode="json"), "model": build_model(config).state_dict()}
    bcd = config.model_copy(update={"target": "bcd"}).model_dump(mode="json")
    variants = {
        "seg": good,
        "seg-wrong-shapes": {**good, "config": bcd},  # BCD has one output channel more than the weights
        "seg-model-list": {**good, "model": [1, 2, 3]},
        "seg-no-config": {"model": good["model"]},
    }
    _write_checkpoints(root, variants)


def _ccgan_checkpoints(root: Path) -> None:
    """A tiny 2D CCGAN trainer checkpoint and broken variants of it, as .pt files."""
    good = CCGANTrainer(CCGANConfig(**SMALL), "cpu").state_dict()
    variants = {
        "ccgan": good,
        "ccgan-wrong-shapes": {**good, "config": {**good["config"], "ngf": 8}},
        "ccgan-nets-list": {**good, "nets": [1, 2]},
        "ccgan-G_A-string": {**good, "nets": {**good["nets"], "G_A": "weights"}},
    }
    _write_checkpoints(root, variants)


def _write_checkpoints(root: Path, states: dict[str, dict]) -> None:
    for name, state in states.items():
        (root / f"{name}.pt").write_bytes(checkpoint_bytes(state))


def _raw_files(root: Path) -> None:
    """Image, label and config files for ingest and ``em2exm run``."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 4000, (12, 20, 24), dtype=np.uint16)
    tifffile.imwrite(root / "img.tif", image)
    nan = image.astype(np.float32)
    nan[3, 4, 5], nan[7, 0, 0] = np.nan, np.inf
    tifffile.imwrite(root / "nan.tif", nan)
    tifffile.imwrite(root / "rgb.tif", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    tifffile.imwrite(root / "rgba.tif", rng.integers(0, 255, (64, 64, 4), dtype=np.uint8))
    tifffile.imwrite(root / "rgb_stack.tif", rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8))
    tifffile.imwrite(root / "voxel.tif", np.zeros((1, 1, 1), np.uint8))
    tifffile.imwrite(root / "flat.tif", image[0])
    tifffile.imwrite(root / "raw_labels.tif", rng.integers(0, 65535, image.shape, dtype=np.uint16))
    tifffile.imwrite(root / "float_labels.tif", rng.random(image.shape, dtype=np.float32) * 9)
    with h5py.File(root / "zero_voxel.h5", "w") as f:
        f["raw"] = image
        f["raw"].attrs["resolution"] = [0.0, 4.0, 4.0]
    zarr.create_array(str(root / "huge.zarr"), shape=(10**5,) * 3, chunks=(64,) * 3, dtype="uint8")
    (root / "scalar_section.yaml").write_text("ingest: 5\n")
    (root / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00")
    (root / "config_folder").mkdir()
    em = f"{{image: {root / 'flat.tif'}, voxel_size: [1, 1, 1]}}"
    exm = f"{{image: {root / 'img.tif'}, voxel_size: [1, 1, 1]}}"
    pipelines = {
        "failing_step": f"inputs: {{em: {em}, exm: {exm}}}\nexperiments: {{names: [raw]}}\n",
        "zero_expansion": f"inputs:\n  em: {em}\n  exm: {{image: img.tif, voxel_size: [1, 1, 1], expansion_factor: 0}}\n",
        "negative_voxel": f"inputs:\n  em: {em}\n  exm: {{image: img.tif, voxel_size: [-40, 16, 16]}}\n",
        "bucketless_store": f"run: {{store: 's3:///runs/demo'}}\ninputs: {{em: {em}, exm: {exm}}}\n",
        "scalar_pipeline_section": f"inputs: {{em: {em}, exm: {exm}}}\ningest: 5\n",
    }
    for name, text in pipelines.items():
        (root / f"{name}.yaml").write_text(text + f"run: {{store: {root / 'store'}}}\n" * ("run:" not in text))


def _volumes(root: Path) -> None:
    """OME-Zarr inputs for the later stages."""
    write_volumes(root)  # em.zarr (+ labels/groundtruth), exm.zarr
    ome.create_image(str(root / "float.zarr"), (14, 40, 48), np.float32, (40, 16, 16))
    ome.create_image(str(root / "maps.zarr"), (2, 14, 40, 48), np.uint8, (40, 16, 16), axes="czyx")
    ome.create_image(str(root / "thin.zarr"), (14, 40, 1), np.uint8, (40, 16, 16))
    ome.create_labels(str(root / "thin.zarr"), "groundtruth", np.uint32)
    gt, seg = label_pair()
    write_pair(root / "pair", gt, seg)
    ids = np.random.default_rng(0).permutation(gt.size).reshape(gt.shape).astype(np.uint32)
    write_pair(root / "noise", ids, ids)
    write_pair(root / "small", gt[:, :, :40], seg[:, :, :40])
    (root / "empty_run").mkdir()


@dataclass(frozen=True)
class World:
    """Every input of the cases, written once."""

    root: Path

    def __truediv__(self, name: str) -> str:
        return str(self.root / name)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("bad_inputs")
    _raw_files(root)
    _volumes(root)
    _seg_checkpoints(root)
    _ccgan_checkpoints(root)
    (root / "truncated.pt").write_bytes((root / "seg.pt").read_bytes()[:500])
    _write_checkpoints(root, {"pickled": {"config": {}, "model": np.zeros(3)}})  # numpy: refused by weights_only
    return World(root)


Argv = Callable[[World, str], list[str]]


@dataclass(frozen=True)
class Case:
    """One bad call: the stage, its arguments (given the inputs and an output URL) and words of the error."""

    main: Callable
    argv: Argv
    expect: str


def _ingest(*args: str, image: str = "img.tif") -> Argv:
    """ingest arguments; an argument ``@name`` is the input file ``name``."""
    return lambda w, out: ["--image", w / image, *(w / a[1:] if a.startswith("@") else a for a in args), "--output", out]


def _transfer(checkpoint: str, *args: str, image: str = "em.zarr") -> Argv:
    return lambda w, out: ["--checkpoint", w / checkpoint, "--image", w / image, "--output", out,
                           "--set", "block=[16,16,32]", *args]


def _train(*args: str, a: str = "em.zarr", labels: str = "em.zarr/labels/groundtruth", b: str = "exm.zarr") -> Argv:
    return lambda w, out: ["--a", w / a, "--a-labels", w / labels, "--b", w / b, "--output", out, *args]


def _dataset(*args: str, image: str = "em.zarr", labels: str = "em.zarr/labels/groundtruth") -> Argv:
    return lambda w, out: ["--image", w / image, "--labels", w / labels, "--output", out, *args]


def _infer(checkpoint: str, *args: str, image: str = "exm.zarr") -> Argv:
    return lambda w, out: ["--checkpoint", w / checkpoint, "--image", w / image, "--output", out,
                           "--set", "device=cpu", *args]


def _evaluate(seg: str, gt: str = "pair/vol.zarr/labels/groundtruth", *args: str) -> Argv:
    return lambda w, out: ["--segmentation", w / seg, "--groundtruth", w / gt, "--output", out, *args]


def _decode(make: Callable[[str], str], *args: str) -> Argv:
    """Decode makes its input in the output location: labels are written under the predictions."""
    return lambda w, out: ["--predictions", make(out), *args]


def _run(config: str, *args: str) -> Argv:
    return lambda w, out: [w / config, "--set", f"run.store={out}", *args]


CASES: dict[str, Case] = {
    # ingest
    "ingest: NaN and inf voxels": Case(ingest.main, _ingest(*VOXEL, image="nan.tif"), "2 NaN/inf voxels, the first at (z, y, x) (3, 4, 5)"),
    "ingest: unknown nan_policy": Case(ingest.main, _ingest(*VOXEL, "--set", "nan_policy=zero", image="nan.tif"), "nan_policy"),
    "ingest: 2D RGB tif": Case(ingest.main, _ingest(*VOXEL, image="rgb.tif"), "2D image with 3 colour channels"),
    "ingest: 2D RGBA tif": Case(ingest.main, _ingest(*VOXEL, image="rgba.tif"), "2D image with 4 colour channels"),
    "ingest: RGB stack without --channel": Case(ingest.main, _ingest(*VOXEL, image="rgb_stack.tif"), "--channel 0..2"),
    "ingest: --channel out of range": Case(ingest.main, _ingest(*VOXEL, "--channel", "3", image="rgb_stack.tif"), "out of range 0..2"),
    "ingest: --channel of a grey volume": Case(ingest.main, _ingest(*VOXEL, "--channel", "0"), "no channel axis"),
    "ingest: negative --channel": Case(ingest.main, _ingest(*VOXEL, "--channel", "-1", image="rgb_stack.tif"), "'channel'"),
    "ingest: 2D image": Case(ingest.main, _ingest(*VOXEL, image="flat.tif"), "3D"),
    "ingest: negative voxel size": Case(ingest.main, _ingest("--voxel-size", "-40", "16", "16"), "> 0"),
    "ingest: zero voxel size": Case(ingest.main, _ingest("--voxel-size", "0", "16", "16"), "'voxel_size'"),
    "ingest: NaN voxel size": Case(ingest.main, _ingest("--voxel-size", "nan", "16", "16"), "finite"),
    "ingest: zero target voxel size": Case(ingest.main, _ingest(*VOXEL, "--target-voxel-size", "0", "1", "1"), "'target_voxel_size'"),
    "ingest: zero voxel size in the file": Case(ingest.main, _ingest(image="zero_voxel.h5:/raw"), "declares a bad voxel size"),
    "ingest: zero expansion factor": Case(ingest.main, _ingest(*VOXEL, "--expansion-factor", "0"), "'expansion_factor'"),
    "ingest: raw image as labels": Case(ingest.main, _ingest(*VOXEL, "--labels", "@raw_labels.tif"), "looks like an image"),
    "ingest: float image as labels": Case(ingest.main, _ingest(*VOXEL, "--labels", "@float_labels.tif"), "not non-negative integers"),
    "ingest: 1x1x1 volume": Case(ingest.main, _ingest(*VOXEL, image="voxel.tif"), "at least 2 voxels per axis"),
    "ingest: resampled to one plane": Case(ingest.main, _ingest(*VOXEL, "--target-voxel-size", "100", "1", "1"), "at least 2 voxels"),
    "ingest: 10^15 voxels": Case(ingest.main, _ingest(*VOXEL, image="huge.zarr"), "GiB of memory available"),
    "ingest: bucket-less output": Case(ingest.main, lambda w, out: ["--image", w / "img.tif", *VOXEL, "--output", "s3:///out.zarr"], "names no bucket"),
    "ingest: bucket-less input": Case(ingest.main, lambda w, out: ["--image", "s3:///in.tif", *VOXEL, "--output", out], "names no bucket"),
    "ingest: unknown protocol": Case(ingest.main, lambda w, out: ["--image", w / "img.tif", *VOXEL, "--output", "s4://b/o.zarr"], "unknown storage protocol"),
    "ingest: unwritable output": Case(ingest.main, lambda w, out: _ingest(*VOXEL)(w, "/sys/em2exm-test/out.zarr"), "cannot write to the output"),
    "ingest: output is an existing file": Case(ingest.main, lambda w, out: _ingest(*VOXEL)(w, w / "binary.yaml"), "is an existing file"),
    "ingest: output under a file": Case(ingest.main, lambda w, out: _ingest(*VOXEL)(w, w / "binary.yaml" + "/out.zarr"), "cannot write to the output"),
    "ingest: output is the input": Case(ingest.main, lambda w, out: _ingest(*VOXEL)(w, w / "img.tif"), "is the input image"),
    "ingest: config section is a scalar": Case(ingest.main, _ingest(*VOXEL, "--config", "@scalar_section.yaml"), "section 'ingest'"),
    "ingest: binary config file": Case(ingest.main, _ingest(*VOXEL, "--config", "@binary.yaml"), "is not text"),
    "ingest: config path is a folder": Case(ingest.main, _ingest(*VOXEL, "--config", "@config_folder"), "is a folder"),
    # ccgan-train
    "ccgan-train: float labels": Case(ccgan_train.main, _train(labels="float.zarr"), "not an integer type"),
    "ccgan-train: maps as domain B": Case(ccgan_train.main, _train(b="maps.zarr"), "not (z, y, x)"),
    "ccgan-train: missing domain A": Case(ccgan_train.main, _train(a="nothing.zarr"), "no OME-Zarr image"),
    "ccgan-train: unknown option": Case(ccgan_train.main, _train("--set", "ngff=4"), "unknown config key 'ngff'"),
    "ccgan-train: bucket-less output": Case(ccgan_train.main, lambda w, out: _train()(w, "s3:///m"), "names no bucket"),
    # ccgan-transfer
    "ccgan-transfer: weights of other shapes": Case(ccgan_transfer.main, _transfer("ccgan-wrong-shapes.pt"), "do not fit"),
    "ccgan-transfer: nets not a mapping": Case(ccgan_transfer.main, _transfer("ccgan-nets-list.pt"), "no 'nets' mapping"),
    "ccgan-transfer: G_A not a mapping": Case(ccgan_transfer.main, _transfer("ccgan-G_A-string.pt"), "not a mapping of tensors"),
    "ccgan-transfer: pickled objects": Case(ccgan_transfer.main, _transfer("pickled.pt"), "refuses to load"),
    "ccgan-transfer: truncated checkpoint": Case(ccgan_transfer.main, _transfer("truncated.pt"), "not a readable checkpoint"),
    "ccgan-transfer: seg checkpoint": Case(ccgan_transfer.main, _transfer("seg.pt"), "not an em2exm CCGAN checkpoint"),
    "ccgan-transfer: float image": Case(ccgan_transfer.main, _transfer("ccgan.pt", image="float.zarr"), "not uint8"),
    # build-dataset
    "build-dataset: shape mismatch": Case(build_dataset.main, _dataset(labels="pair/vol.zarr/labels/groundtruth"), "differ in shape"),
    "build-dataset: float image": Case(build_dataset.main, _dataset(image="float.zarr"), "not uint8"),
    "build-dataset: axis too thin to split": Case(build_dataset.main, _dataset(image="thin.zarr", labels="thin.zarr/labels/groundtruth"), "too small to split"),
    "build-dataset: val_fraction 1.5": Case(build_dataset.main, _dataset("--set", "val_fraction=1.5"), "val_fraction"),
    "build-dataset: bucket-less output": Case(build_dataset.main, lambda w, out: _dataset()(w, "s3:///ds"), "names no bucket"),
    # seg-train
    "seg-train: no dataset": Case(seg_train.main, lambda w, out: ["--dataset", w / "nothing", "--output", out], "no complete dataset"),
    "seg-train: unknown option": Case(seg_train.main, lambda w, out: ["--dataset", w / "x", "--output", out, "--set", "epochs=3"], "epochs"),
    "seg-train: zero patch": Case(seg_train.main, lambda w, out: ["--dataset", w / "x", "--output", out, "--set", "patch=[0,5,5]"], "patch"),
    "seg-train: config is a folder": Case(seg_train.main, lambda w, out: ["--dataset", w / "x", "--output", out, "--config", w / "config_folder"], "is a folder"),
    # seg-infer
    "seg-infer: weights of other shapes": Case(seg_infer.main, _infer("seg-wrong-shapes.pt"), "do not fit"),
    "seg-infer: model entry is a list": Case(seg_infer.main, _infer("seg-model-list.pt"), "not a mapping of tensors"),
    "seg-infer: no config in checkpoint": Case(seg_infer.main, _infer("seg-no-config.pt"), "lacks 'config'"),
    "seg-infer: pickled objects": Case(seg_infer.main, _infer("pickled.pt"), "refuses to load"),
    "seg-infer: truncated checkpoint": Case(seg_infer.main, _infer("truncated.pt"), "not a readable checkpoint"),
    "seg-infer: maps as image": Case(seg_infer.main, _infer("seg.pt", image="maps.zarr"), "not (z, y, x)"),
    "seg-infer: tta=3": Case(seg_infer.main, _infer("seg.pt", "--set", "tta=3"), "tta"),
    "seg-infer: --plan-blocks 0": Case(seg_infer.main, _infer("seg.pt", "--plan-blocks", "0"), "--plan-blocks 0 must be >= 1"),
    "seg-infer: --blocks before --plan-blocks": Case(seg_infer.main, _infer("seg.pt", "--blocks", "0:1"), "has not been planned"),
    "seg-infer: output is the image": Case(seg_infer.main, lambda w, out: _infer("seg.pt")(w, w / "exm.zarr"), "is the input image"),
    "seg-infer: bucket-less output": Case(seg_infer.main, lambda w, out: _infer("seg.pt")(w, "s3:///p.zarr"), "names no bucket"),
    # decode
    "decode: 3D maps": Case(decode.main, _decode(lambda d: write_maps(d, ball_maps()[0])), "not (C, Z, Y, X)"),
    "decode: float maps": Case(decode.main, _decode(lambda d: write_maps(d, ball_maps().astype(np.float32))), "float_scale"),
    "decode: too few channels": Case(decode.main, _decode(lambda d: write_maps(d, ball_maps()), "--set", "mode=bcd_watershed"), "needs 3 channel"),
    "decode: unknown option": Case(decode.main, _decode(lambda d: write_maps(d, ball_maps()), "--set", "colour=red"), "unknown config key 'colour'"),
    "decode: --blocks before --plan-blocks": Case(decode.main, _decode(lambda d: write_maps(d, ball_maps()), "--blocks", "0:1"), "has not been planned"),
    "decode: --overwrite with --finalise": Case(decode.main, _decode(lambda d: write_maps(d, ball_maps()), "--finalise", "--overwrite"), "--overwrite/--update cannot be combined"),
    "decode: --blocks out of range": Case(decode.main, _decode(lambda d: write_maps(d, ball_maps()), "--blocks", "0:99"), "outside 0:"),
    # simulate-exm
    "simulate-exm: float labels": Case(simulate_exm.main, lambda w, out: ["--labels", w / "float.zarr", "--output", out], "not an integer type"),
    "simulate-exm: maps as labels": Case(simulate_exm.main, lambda w, out: ["--labels", w / "maps.zarr", "--output", out], "not (z, y, x)"),
    "simulate-exm: block off the noise tile": Case(simulate_exm.main, lambda w, out: ["--labels", w / "em.zarr/labels/groundtruth", "--output", out, "--set", "block=[20,32,32]"], "noise tile"),
    # evaluate
    "evaluate: float segmentation": Case(evaluate.main, _evaluate("float.zarr"), "not (Z, Y, X) ids"),
    "evaluate: noise as segmentation": Case(evaluate.main, _evaluate("noise/vol.zarr/labels/instances"), "looks like an image"),
    "evaluate: noise as ground truth": Case(evaluate.main, _evaluate("pair/vol.zarr/labels/instances", "noise/vol.zarr/labels/groundtruth"), "looks like an image"),
    "evaluate: shape mismatch": Case(evaluate.main, _evaluate("small/vol.zarr/labels/instances"), "differ in shape"),
    "evaluate: bucket-less output": Case(evaluate.main, lambda w, out: _evaluate("pair/vol.zarr/labels/instances")(w, "s3:///e"), "names no bucket"),
    # visualize
    "visualize: empty run": Case(visualize.main, lambda w, out: ["--run", w / "empty_run", "--output", out], "holds no em2exm volumes"),
    "visualize: unknown option": Case(visualize.main, lambda w, out: ["--run", w / "empty_run", "--output", out, "--set", "slice=2"], "unknown config key 'slice'"),
    "visualize: bucket-less run": Case(visualize.main, lambda w, out: ["--run", "s3:///run", "--output", out], "names no bucket"),
    # em2exm run
    "run: zero expansion factor": Case(runner.main, _run("zero_expansion.yaml"), "'inputs.exm.expansion_factor'"),
    "run: negative voxel size": Case(runner.main, _run("negative_voxel.yaml"), "'inputs.exm.voxel_size'"),
    "run: bucket-less store": Case(runner.main, lambda w, out: [w / "bucketless_store.yaml"], "names no bucket"),
    "run: scalar section": Case(runner.main, _run("scalar_pipeline_section.yaml"), "'ingest'"),
    "run: binary config": Case(runner.main, lambda w, out: [w / "binary.yaml"], "is not text"),
    "run: config is a folder": Case(runner.main, lambda w, out: [w / "config_folder"], "is a folder"),
    "run: a step fails": Case(runner.main, _run("failing_step.yaml", "--only", "ingest-em"), "a 3D (z,y,x) volume is required"),
}


def snapshot(*roots: Path) -> dict[Path, tuple[int, int]]:
    """Every file and folder under ``roots`` with its size and modification time."""
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for root in roots for p in [root, *root.rglob("*")]}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    name: str, world: World, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    case = CASES[name]
    out = str(tmp_path / "out")
    argv = case.argv(world, out)
    before = snapshot(world.root, tmp_path)
    code = run_stage(case.main, argv)
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, err
    assert len(errors) == 1 and "Traceback" not in err, err
    assert case.expect in errors[0] and " -- fix: " in errors[0], errors[0]
    assert snapshot(world.root, tmp_path) == before


def test_a_corrupt_image_chunk_in_seg_infer_is_a_user_error(world: World, tmp_path: Path, capfd) -> None:
    """Chunks are read block by block, after the output exists: exit 2 with one line, no traceback, no output."""
    image = tmp_path / "exm.zarr"
    ome.create_image(str(image), (14, 40, 48), np.uint8, (40, 16, 16), chunks=(7, 20, 24))[:] = 7
    chunk = next(p for p in (image / "0").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(chunk.read_bytes()[:5])
    argv = ["--checkpoint", world / "seg.pt", "--image", str(image), "--output", str(tmp_path / "p.zarr"),
            "--set", "device=cpu", "--set", "window=[5,17,17]"]
    assert run_stage(seg_infer.main, argv) == 2
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err and f"cannot read {image}" in errors[0], err
    assert not (tmp_path / "p.zarr").exists()  # a fresh output that failed before its first block is removed


# --- outputs that are not em2exm's, or that are inputs: every stage, locally and on the real S3 server -----------

VALID: dict[str, tuple[Callable, Argv]] = {
    "ingest": (ingest.main, _ingest(*VOXEL)),
    "ccgan-train": (ccgan_train.main, _train("--params", json.dumps(SMALL))),
    "ccgan-transfer": (ccgan_transfer.main, _transfer("ccgan.pt")),
    "build-dataset": (build_dataset.main, _dataset()),
    "seg-train": (seg_train.main, lambda w, out: ["--dataset", w / "dataset", "--output", out, "--set", "preset=light",
                                         "--set", "patch=[5,17,17]"]),
    "seg-infer": (seg_infer.main, _infer("seg.pt")),
    "evaluate": (evaluate.main, _evaluate("pair/vol.zarr/labels/instances")),
    "visualize": (visualize.main, lambda w, out: ["--run", str(w.root), "--output", out]),
}
INPUT_AS_OUTPUT = {
    "ingest": "img.tif", "ccgan-train": "em.zarr", "ccgan-transfer": "em.zarr", "build-dataset": "em.zarr",
    "seg-train": "dataset", "seg-infer": "exm.zarr", "evaluate": "pair",
}


@pytest.fixture(scope="module")
def world_with_dataset(world: World) -> World:
    if not (world.root / "dataset").exists():
        split = _dataset("--set", "val_fraction=0.5", "--set", "split_axis=y")
        assert run_stage(build_dataset.main, split(world, world / "dataset")) == 0
    return world


def _refused(main: Callable, argv: list[str], capfd: pytest.CaptureFixture, expect: str) -> None:
    assert run_stage(main, argv) == 2
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expect in errors[0], errors


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["plain", "overwrite"])
@pytest.mark.parametrize("stage", [*VALID, "decode"])
def test_a_users_folder_survives_every_stage(stage: str, overwrite: list[str], world_with_dataset: World,
                                             tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    w = world_with_dataset
    if stage == "decode":  # its output is <predictions>/labels/instances
        main, argv = decode.main, ["--predictions", write_maps(str(tmp_path / "maps.zarr"), ball_maps())]
        folder = tmp_path / "maps.zarr" / "labels" / "instances"
    else:
        folder = tmp_path / "mine"
        main, argv = VALID[stage][0], VALID[stage][1](w, str(folder))
    folder.mkdir(parents=True)
    (folder / "thesis.txt").write_text("years of work")
    before = snapshot(w.root, tmp_path)
    _refused(main, [*argv, *overwrite], capfd, "did not write")
    assert snapshot(w.root, tmp_path) == before


@pytest.mark.parametrize("stage", list(VALID))
def test_a_users_objects_on_real_s3_survive_every_stage(stage: str, world_with_dataset: World, s3_env,
                                                        capfd: pytest.CaptureFixture) -> None:
    from em2exm import storage

    prefix = f"s3://{s3_env.bucket}/users-{stage}"
    storage.write_bytes(f"{prefix}/thesis.txt", b"years of work")
    main, argv = VALID[stage]
    for overwrite in ([], ["--overwrite"]):
        _refused(main, [*argv(world_with_dataset, prefix), *overwrite], capfd, "did not write")
    assert storage.list_names(prefix) == ["thesis.txt"]
    assert storage.read_bytes(f"{prefix}/thesis.txt") == b"years of work"


@pytest.mark.parametrize("stage", list(INPUT_AS_OUTPUT))
def test_an_input_as_output_is_refused_by_every_stage(stage: str, world_with_dataset: World, tmp_path: Path,
                                                      capfd: pytest.CaptureFixture) -> None:
    w = world_with_dataset
    main, argv = VALID[stage]
    before = snapshot(w.root)
    _refused(main, [*argv(w, w / INPUT_AS_OUTPUT[stage]), "--overwrite"], capfd, "write the output to a separate location")
    assert snapshot(w.root) == before
