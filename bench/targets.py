"""Time the B, C and D targets on a 128 x 256 x 256 label volume (gala labels tiled); prints JSON.

For comparison, PyTC v1.0's D target (one scipy EDT per instance) took 295 s on this volume and machine.
Usage: PYTHONPATH=shared python bench/targets.py
"""

from __future__ import annotations

import json
import time

import numpy as np
import tifffile
from em2exm.seg.targets import foreground, instance_contour, instance_distance, signed_distance

LABELS = "/work/shared/data/em/gala_fibsem_train/labels.tif"
SHAPE = (128, 256, 256)


def main() -> None:
    labels = tifffile.imread(LABELS)
    reps = [-(-n // m) for n, m in zip(SHAPE, labels.shape)]
    volume = np.ascontiguousarray(np.tile(labels, reps)[: SHAPE[0], : SHAPE[1], : SHAPE[2]])
    jobs = {
        "B": lambda: foreground(volume),
        "C_k1": lambda: instance_contour(volume, 1),
        "D_instance_3d": lambda: instance_distance(volume, (10, 10, 10), "3d"),
        "D_instance_2d": lambda: instance_distance(volume, (10, 10, 10), "2d"),
        "D_signed_2d": lambda: signed_distance(volume, (10, 10, 10), "2d"),
    }
    seconds = {}
    for name, job in jobs.items():
        start = time.perf_counter()
        job()
        seconds[name] = round(time.perf_counter() - start, 3)
    print(json.dumps({"shape": SHAPE, "seconds": seconds, "pytc_v1_D_seconds": 295}))


if __name__ == "__main__":
    main()
