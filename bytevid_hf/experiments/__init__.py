"""Support for the paper's experiments: reference baselines a byte model has to beat, analytic FLOPs of every
backbone variant (ablations)."""
