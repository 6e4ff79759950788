"""em2exm: segment expansion microscopy with labels that exist only in electron microscopy."""

__version__ = "0.1.0"
