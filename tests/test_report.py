"""The run report's text: which adaptation won (verdict) and which ground truth the scores ignored."""

from __future__ import annotations

from em2exm.report import experiment_table, ignored_note, verdict


def rows(**ap: float) -> dict[str, dict[str, float]]:
    return {name: {"ap@0.5": value, "f1@0.5": value, "voi": 1 - value} for name, value in ap.items()}


def test_verdict_ranks_adaptations_and_compares_with_the_intensity_baseline() -> None:
    text = verdict(rows(raw=0.0, oracle=0.4, ccgan=0.1, segmatch=0.3, seghead=0.0, intensity=0.2))
    assert "(c) CCGAN with seg_match, 0.300 (75% of the gap)" in text
    assert "+0.100, the adaptation wins" in text
    assert "does not win" in verdict(rows(raw=0.0, oracle=0.4, ccgan=0.1, intensity=0.2))
    assert verdict(rows(raw=0.0, oracle=0.4)) == ""
    both = verdict(rows(raw=0.0, oracle=0.4, ccgan=0.25, intensity=0.2, drawn=0.3))
    assert "(e) EM inverted" in both and "+0.050, the adaptation wins" in both
    assert "(h) EM labels drawn" in both and "-0.050, the adaptation does not win" in both


def test_table_shows_gap_closed_per_metric() -> None:
    table = experiment_table(rows(raw=0.0, oracle=0.4, segmatch=0.3))
    assert "| (c) CCGAN with seg_match | 0.300 | 0.300 | 0.700 | 75% / 75% / 75% |" in table


def test_ignored_ground_truth_is_stated_once_and_disagreement_is_flagged() -> None:
    scored = {"ignore_gt_smaller_than": 64, "ignored_gt_instances": 2, "ignored_gt_voxels": 27, "n_groundtruth": 29}
    [note] = ignored_note({"raw": scored, "oracle": scored})
    assert "at least 64 voxels" in note and "2 smaller ones (27 voxels)" in note and "29 are scored" in note
    [mixed] = ignored_note({"raw": scored, "oracle": {"n_groundtruth": 31}})
    assert "raw: 64, oracle: 0" in mixed and "do not compare" in mixed
    assert ignored_note({"raw": {"n_groundtruth": 31}}) == []
