"""Formal proofs (SymbiYosys): a cross-cutting suite of its own, run by ``make formal``."""
