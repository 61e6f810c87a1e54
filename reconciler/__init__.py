"""mwin: keep Windows VM images on ABLESTACK Mold in the state a Git repository declares."""

__version__ = "0.2.0"
