"""Plots: one small function per figure, reading numbers the analyses saved."""
