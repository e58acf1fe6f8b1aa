"""Data stages: download -> vocab -> binarize (windows) -> stats (co-activation)."""
