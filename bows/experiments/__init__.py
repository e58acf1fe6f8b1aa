"""Experiments built on the stages: the default study (make all), synthetic BOWS, the city map."""
