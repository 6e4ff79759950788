"""simulate-exm: stain at boundaries, PSF width, noise statistics, determinism, blockwise == whole, kill and
resume, bad input.  Small synthetic label volumes; stages run in-process through ``stagekit.run_stage``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from em2exm import commit, ome, stagekit
from em2exm.simulate import camera, stain
from em2exm.simulate.grid import FWHM_PER_SIGMA
from em2exm.simulate.options import SimulateOptions
from em2exm.simulate.render import Renderer
from scipy import ndimage
from skimage.segmentation import find_boundaries

from stages import simulate_exm

FINE = (10.0, 10.0, 10.0)
OUT = "voxel_size=[20,20,20]"  # the (64, 128, 128) labels become a (32, 64, 64) output: 8 noise tiles
EFFECTS = ["--set", "depth_attenuation=0.05", "--set", "illumination_inhomogeneity=0.3",
           "--set", "illumination_period_um=4"]


def cells() -> np.ndarray:
    """Box-shaped instances of a few sizes and a spherical background hole (id 0), uint32."""
    z, y, x = np.indices((64, 128, 128))
    labels = (1 + (z // 20) * 100 + (y // 30) * 10 + x // 25).astype(np.uint32)
    labels[(z - 32) ** 2 + (y - 60) ** 2 + (x - 70) ** 2 < 18**2] = 0
    return labels


def write_labels(url: Path, labels: np.ndarray, voxel: tuple[float, float, float] = FINE) -> str:
    ome.create_image(str(url), labels.shape, labels.dtype, voxel)[:] = labels
    return str(url)


def simulate(labels: str, output: Path, *extra: str) -> int:
    return stagekit.run_stage(simulate_exm.main, ["--labels", labels, "--output", str(output), "--set", OUT, *extra])


def image(url: Path) -> np.ndarray:
    return ome.open_image(str(url)).array[:]


def groundtruth(url: Path) -> np.ndarray:
    return ome.open_labels(str(url), "groundtruth").array[:]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("simulate")


@pytest.fixture(scope="module")
def labels(root: Path) -> str:
    return write_labels(root / "labels.zarr", cells())


@pytest.fixture(scope="module")
def whole(root: Path, labels: str) -> Path:
    """The simulation in one block, with every optional effect on."""
    assert simulate(labels, root / "whole.zarr", "--set", "block=[64,128,128]", *EFFECTS) == 0
    return root / "whole.zarr"


def test_output_grid_metadata_and_labels(whole: Path) -> None:
    volume = ome.open_image(str(whole))
    assert volume.shape == (32, 64, 64) and volume.array.dtype == np.uint8 and volume.voxel_size == (20, 20, 20)
    assert volume.attrs["stage"] == "simulate-exm" and commit.is_complete(str(whole))
    gt = ome.open_labels(str(whole), "groundtruth")
    assert gt.array.dtype == np.uint32 and gt.voxel_size == (20, 20, 20)
    np.testing.assert_array_equal(gt.array[:], cells()[1::2, 1::2, 1::2])  # nearest: label voxel under each centre
    assert commit.read_marker(str(whole))["gain"] == camera.gain(200, 5)
    assert SimulateOptions(expansion_factor=5).output_voxel() == (47, 30, 30)  # the 235 x 150 x 150 nm voxel / E


def test_stain_is_where_instance_boundaries_are(root: Path, labels: str) -> None:
    out = root / "clean.zarr"
    clean = ["--set", "photons=1000000", "--set", "background=0", "--set", "read_noise=0", "--set", "cytosol_level=0",
             "--set", "instance_brightness_cv=0", "--set", "psf_fwhm_lateral_nm=80", "--set", "psf_fwhm_axial_nm=160"]
    assert simulate(labels, out, *clean) == 0
    values, boundary = image(out).astype(float), find_boundaries(groundtruth(out), mode="thick")
    near = ndimage.binary_dilation(boundary, iterations=2)  # the band may lie between output voxels, PSF tails
    assert values[boundary].mean() > 40 and values[near].sum() > 0.99 * values.sum()
    assert values[~near].max() < 0.1 * values[boundary].mean() and values[~near].mean() < 0.1
    noisy = image(root / "whole.zarr").astype(float)  # defaults: noise, cytosol and brightness variation on
    assert noisy[boundary].mean() > 1.5 * noisy[~boundary].mean()


@pytest.mark.parametrize("axis", [0, 2], ids=["axial", "lateral"])
def test_psf_fwhm_measured_on_a_rendered_plane(axis: int) -> None:
    """One membrane plane across ``axis``, noise-free: the profile's FWHM is the optical FWHM / E within 5%."""
    options = SimulateOptions(background=0, photons=1, cytosol_level=0, instance_brightness_cv=0, membrane_width_nm=10,
                              voxel_size=(40, 20, 20), psf_fwhm_lateral_nm=250, psf_fwhm_axial_nm=1000)
    shape = [16, 16, 16]
    shape[axis] = 240
    labels = np.ones(shape, np.uint32)
    labels[(slice(None),) * axis + (slice(120, None),)] = 2
    renderer = Renderer(options, tuple(shape), (5.0, 5.0, 5.0))  # type: ignore[arg-type]
    box = tuple(slice(0, n) for n in renderer.shape)
    read = renderer.read_box(box)  # type: ignore[arg-type]
    rendered = renderer.expected(labels[read], read, box)  # type: ignore[arg-type]
    profile = np.moveaxis(rendered, axis, 0)[:, 1, 1]
    position = np.arange(len(profile))
    centre = (profile * position).sum() / profile.sum()
    sigma = math.sqrt((profile * (position - centre) ** 2).sum() / profile.sum())
    measured = FWHM_PER_SIGMA * sigma * options.output_voxel()[axis]
    configured = (options.psf_fwhm_axial_nm if axis == 0 else options.psf_fwhm_lateral_nm) / options.expansion_factor
    assert abs(measured / configured - 1) < 0.05, (measured, configured)
    assert abs(centre * options.output_voxel()[axis] + options.output_voxel()[axis] / 2 - 600) < 5  # on the plane


@pytest.mark.parametrize(("ids", "cytosol"), [(0, 0.0), (7, 0.25)], ids=["background", "cytosol"])
def test_noise_mean_and_variance_are_as_configured(root: Path, ids: int, cytosol: float) -> None:
    """Uniform stain: digital numbers have mean gain * lambda and variance gain^2 (lambda + read^2) + 1/12."""
    url = write_labels(root / f"uniform{ids}.zarr", np.full((64, 128, 128), ids, np.uint32))
    out = root / f"noise{ids}.zarr"
    photons, background, read = 40.0, 20.0, 1.0
    settings = [f"photons={photons}", f"background={background}", f"read_noise={read}", f"cytosol_level={cytosol}",
                "instance_brightness_cv=0"]
    assert simulate(url, out, *(a for s in settings for a in ("--set", s))) == 0
    values = image(out).astype(float)
    gain, lam = camera.gain(photons, background), background + photons * cytosol * (ids != 0)
    assert abs(values.mean() / (gain * lam) - 1) < 0.005
    assert abs(values.var() / (gain**2 * (lam + read**2) + 1 / 12) - 1) < 0.03
    assert commit.read_marker(str(out))["clipped_low"] + commit.read_marker(str(out))["clipped_high"] < 10


def test_same_seed_same_bytes_other_seed_other_noise(root: Path, labels: str) -> None:
    first, again, other = root / "seed3.zarr", root / "seed3-again.zarr", root / "seed4.zarr"
    for out, seed in ((first, 3), (again, 3), (other, 4)):
        assert simulate(labels, out, "--set", f"seed={seed}", "--set", "block=[16,32,32]") == 0
    chunks = sorted(p.relative_to(first) for p in (first / "0").rglob("*") if p.is_file())
    assert len(chunks) == 9 and all((first / c).read_bytes() == (again / c).read_bytes() for c in chunks)
    assert not np.array_equal(image(first), image(other))
    np.testing.assert_array_equal(groundtruth(first), groundtruth(other))


def test_instance_brightness_is_log_normal_with_the_configured_cv_per_id() -> None:
    ids = np.arange(1, 20001, dtype=np.uint64)
    values = stain.brightness(ids, seed=5, cv=0.2)
    assert abs(values.mean() - 1) < 0.01 and abs(values.std() / values.mean() - 0.2) < 0.01
    np.testing.assert_array_equal(stain.brightness(ids[::-1], seed=5, cv=0.2), values[::-1])  # per id, not per order
    assert stain.brightness(np.array([0], np.uint64), seed=5, cv=0.2)[0] == 1.0
    assert not np.array_equal(stain.brightness(ids, seed=6, cv=0.2), values)


def test_depth_attenuation_and_illumination_follow_global_coordinates() -> None:
    options = SimulateOptions(background=0, photons=1, cytosol_level=1, instance_brightness_cv=0, voxel_size=(20, 20, 20),
                              depth_attenuation=0.5, illumination_inhomogeneity=0.3, illumination_period_um=2)
    renderer = Renderer(options, (64, 64, 64), FINE)
    box = tuple(slice(0, n) for n in renderer.shape)
    read = renderer.read_box(box)  # type: ignore[arg-type]
    rendered = renderer.expected(np.ones((64, 64, 64), np.uint32)[read], read, box)  # type: ignore[arg-type]
    depth_um = (np.arange(32) + 0.5) * 20 * 4 / 1000
    np.testing.assert_allclose(rendered[:, 5, 5] / rendered[0, 5, 5], np.exp(-0.5 * (depth_um - depth_um[0])), rtol=1e-5)
    field = rendered[0] / math.exp(-0.5 * depth_um[0])  # the illumination alone
    assert 0.7 <= field.min() and field.max() <= 1.3 and field.std() > 0.02


def test_blockwise_plans_equal_the_whole_volume(root: Path, labels: str, whole: Path, capsys) -> None:
    small = root / "small-blocks.zarr"
    assert simulate(labels, small, "--set", "block=[16,32,32]", *EFFECTS) == 0
    fanout, plan = root / "fanout.zarr", ["--set", "block=[16,64,32]", *EFFECTS]
    assert simulate(labels, fanout, *plan, "--plan-blocks", "3") == 0
    ranges = json.loads(capsys.readouterr().out)
    assert ranges == ["0:3", "3:4"]
    assert simulate(labels, fanout, *plan, "--blocks", ranges[0]) == 0
    assert simulate(labels, fanout, *plan, "--finalise") == 2 and not commit.is_complete(str(fanout))
    assert simulate(labels, fanout, *plan, "--blocks", ranges[1]) == 0
    assert simulate(labels, fanout, *plan, "--finalise") == 0
    for out in (small, fanout):
        np.testing.assert_array_equal(image(out), image(whole))
        np.testing.assert_array_equal(groundtruth(out), groundtruth(whole))
    assert commit.read_marker(str(fanout))["clipped_high"] == commit.read_marker(str(whole))["clipped_high"]


def test_a_killed_run_resumes_to_the_same_bytes(root: Path, labels: str, whole: Path) -> None:
    out = root / "killed.zarr"
    args = ["--labels", labels, "--output", str(out), "--set", OUT, "--set", "block=[16,32,32]", *EFFECTS]
    killed = subprocess.run([sys.executable, "-P", "-m", "stages.simulate_exm", *args], cwd=REPO, capture_output=True,
                            env={**os.environ, "EM2EXM_FAULT": "blockwise.block-written:2:kill"}, timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert commit.done_blocks(str(out)) == {0} and not commit.is_complete(str(out))
    assert stagekit.run_stage(simulate_exm.main, args) == 0
    np.testing.assert_array_equal(image(out), image(whole))
    np.testing.assert_array_equal(groundtruth(out), groundtruth(whole))


def test_help_lists_every_option_with_its_default(capsys) -> None:
    with pytest.raises(SystemExit):
        simulate_exm.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name, field in SimulateOptions.model_fields.items():
        assert f"{name} (default {stagekit._plain(field.default)}): {' '.join(field.description.split())}" in text


@pytest.fixture(scope="module")
def bad(root: Path) -> dict[str, str]:
    """Inputs that are not 3-D integer labels with voxel sizes."""
    urls = {"float": write_labels(root / "float.zarr", np.zeros((8, 8, 8), np.float32)),
            "4d": str(root / "maps.zarr"), "bare": str(root / "bare.zarr")}
    ome.create_image(urls["4d"], (2, 8, 8, 8), np.uint8, FINE, axes="czyx")
    ome.create_image(urls["bare"], (8, 8, 8), np.uint32, FINE)
    meta = json.loads((root / "bare.zarr" / "zarr.json").read_text())
    del meta["attributes"]["ome"]["multiscales"]
    (root / "bare.zarr" / "zarr.json").write_text(json.dumps(meta))
    return urls


@pytest.mark.parametrize(("case", "expect"), [
    (lambda b, good: ["--labels", b["float"]], "not an integer type"),
    (lambda b, good: ["--labels", b["4d"]], "not (z, y, x)"),
    (lambda b, good: ["--labels", b["bare"]], "no NGFF multiscales metadata"),
    (lambda b, good: ["--labels", good, "--set", "voxel_size=[0,20,20]"], "'voxel_size'"),
    (lambda b, good: ["--labels", good, "--set", "block=[8,32,32]"], "not a multiple of the noise tile"),
    (lambda b, good: ["--labels", good, "--set", "block=[24,32,32]"], "not a multiple of the noise tile"),
    (lambda b, good: ["--labels", good, "--set", "photons=0"], "'photons'"),
    (lambda b, good: ["--labels", good, "--set", "illumination_inhomogeneity=1"], "'illumination_inhomogeneity'"),
    (lambda b, good: ["--labels", good, "--set", "psf_fwhm=200"], "unknown config key 'psf_fwhm'"),
], ids=["float", "4-D", "no voxel size", "zero voxel", "block below tile", "block off tile", "no photons",
        "illumination 1", "unknown option"])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case, expect: str, bad: dict[str, str], labels: str,
                                                            tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    out = tmp_path / "out.zarr"
    assert stagekit.run_stage(simulate_exm.main, [*case(bad, labels), "--output", str(out)]) == 2
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expect in errors[0] and "Traceback" not in err, err
    assert not out.exists()


def test_an_output_inside_the_input_is_refused(labels: str, capfd: pytest.CaptureFixture) -> None:
    assert stagekit.run_stage(simulate_exm.main, ["--labels", labels, "--output", f"{labels}/sim.zarr"]) == 2
    assert "write the output to a separate location" in capfd.readouterr().err
    assert not Path(labels, "sim.zarr").exists()
