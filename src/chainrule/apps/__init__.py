"""Applications built on chainrule, each next to simpler baselines."""
