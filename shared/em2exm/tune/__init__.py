"""``em2exm tune-decode``: search the decoder's thresholds on a labelled crop of a run's predictions."""
