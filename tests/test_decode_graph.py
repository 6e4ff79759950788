"""The face-join graph's components (em2exm.decode.graph) against scipy's csgraph."""

from __future__ import annotations

import numpy as np
import pytest
from em2exm.decode.graph import components
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


@pytest.mark.parametrize("seed", range(6))
def test_components_equal_scipy_labels_in_order_of_smallest_node(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    edges = int(rng.integers(0, 2 * n))
    a, b = rng.integers(0, n, edges), rng.integers(0, n, edges)  # self loops and repeats included
    graph = coo_matrix((np.ones(edges, np.int8), (a, b)), shape=(n, n))
    assert np.array_equal(components(n, a, b), connected_components(graph, directed=False)[1])


def test_components_of_no_nodes_and_of_a_chain_joined_from_its_far_end() -> None:
    assert components(0, np.zeros(0, np.int64), np.zeros(0, np.int64)).size == 0
    n = 6
    a, b = np.arange(n - 1, 0, -1), np.arange(n - 2, -1, -1)  # 5-4, 4-3, ..., 1-0
    assert components(n + 1, a, b).tolist() == [0] * n + [1]
