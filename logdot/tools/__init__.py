"""External tools logdot drives: Verilator and Icarus (lint, simulation)."""
