"""Stage entry points: each module is one container's ``python -m stages.<name>``."""
