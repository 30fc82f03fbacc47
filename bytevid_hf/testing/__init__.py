"""Test support, in the spirit of ``transformers.testing_utils``: numerical-check helpers (``numerics``) and the input
fuzzer (``fuzzing``) that the tests and ``scripts/fuzz_inputs.py`` / ``scripts/numerics_check.py`` share, and the
input-blind baselines and transfer checks (``baselines``) that training tests compare against."""
