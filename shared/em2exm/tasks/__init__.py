"""The stages' logic as library tasks: ``em2exm.tasks.<stage>`` runs a stage from Python (``run(params)``) and
backs its container entry point ``python -m stages.<stage>`` (see em2exm.specs for what each stage reads and writes)."""
