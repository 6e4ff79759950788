"""Backends beyond the local runner: Argo Workflows (Hera) with its Helm chart, and SLURM with Singularity.

Both render the steps of ``em2exm.pipeline.build_pipeline`` and run exactly the commands the local runner runs.
"""
