"""Size thresholds (``thres_small``, ``seed_thres``) as PyTC's ``remove_small_objects(x, t)`` applies them.

The rule depends on scikit-image: up to 0.25 the positional argument is ``min_size`` and objects of size
``< t`` are removed; from 0.26 it is read as ``max_size`` and objects of size ``<= t`` are removed. The
decoders take the convention as ``small_inclusive`` and work with the smallest size that is kept.
"""

from __future__ import annotations

from em2exm.decode.inputs import check_count


def smallest_kept(name: str, thres: int, inclusive: bool) -> int:
    """Smallest object size (>= 1) that survives removal with threshold ``thres``: objects of size
    ``<= thres`` are removed when ``inclusive`` (scikit-image >= 0.26), ``< thres`` otherwise."""
    check_count(name, thres)
    return max(int(thres) + (1 if inclusive else 0), 1)
