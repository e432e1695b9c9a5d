"""Differentiable primitives: one Function subclass per op, forward beside backward."""
