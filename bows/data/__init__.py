"""Data stages: download -> vocab -> binarize (windows) -> stats (co-activation)."""

# The split names, defined once: every corpus is split into these (in this order); the held-out
# ones evaluate training and feed the analyses (validation first).
TRAIN, VALIDATION, TEST = "train", "validation", "test"
SPLITS = (TRAIN, VALIDATION, TEST)
HELDOUT_SPLITS = (VALIDATION, TEST)
