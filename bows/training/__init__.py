"""Training: the pure model and its fused loss, batches, the optimisation loop, checkpoints, the train stage, sweep index."""
