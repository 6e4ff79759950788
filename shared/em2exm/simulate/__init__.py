"""Simulated expansion microscopy: an ExM-like membrane image rendered from instance labels (simulate-exm)."""
