"""Connected components of a graph given as an edge list: joins block-local pieces into global objects."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected component (0..) of each of ``n`` nodes joined by edges ``a``-``b``."""
    if n == 0:
        return np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1]
