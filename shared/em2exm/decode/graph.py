"""Connected components of a graph given as an edge list: joins block-local pieces into global objects.

Union-find in numba (already loaded by every decode task) rather than scipy.sparse.csgraph, whose import
alone cost every decode task ~0.15 s (measured), most of which never use it."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _root(parent: np.ndarray, node: int) -> int:
    """Root of ``node``, halving the path on the way."""
    while parent[node] != node:
        parent[node] = parent[parent[node]]
        node = parent[node]
    return node


@njit(cache=True, nogil=True)
def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union by the smaller root (so a root is its component's smallest node), then labels in node order."""
    parent = np.arange(n)
    for i in range(a.size):
        ra, rb = _root(parent, a[i]), _root(parent, b[i])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    label = np.full(n, -1, np.int64)
    count = 0
    for node in range(n):
        root = _root(parent, node)
        if label[root] < 0:
            label[root] = count
            count += 1
        label[node] = label[root]
    return label


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected component of each of ``n`` nodes joined by edges ``a``-``b``: 0, 1, ... in the order of
    each component's smallest node."""
    return _components(n, np.asarray(a, np.int64), np.asarray(b, np.int64))
