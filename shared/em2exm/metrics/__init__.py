"""Segmentation metrics from a sparse contingency table that can be accumulated block by block."""

from em2exm.metrics.contingency import Contingency, Table, pair_counts
from em2exm.metrics.matching import THRESHOLDS, Matching, match_instances
from em2exm.metrics.rand import adapted_rand_skimage, adapted_rand_snemi
from em2exm.metrics.report import ScoreAccumulator, Scores, flat_dict, markdown_table, score
from em2exm.metrics.voi import voi

__all__ = [
    "THRESHOLDS", "Contingency", "Matching", "ScoreAccumulator", "Scores", "Table", "adapted_rand_skimage",
    "adapted_rand_snemi", "flat_dict", "markdown_table", "match_instances", "pair_counts", "score", "voi",
]
