"""bows: Bag-of-Words Superposition experiments."""
