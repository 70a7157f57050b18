"""Tests of logdot.hdl (hdl/): one test_<module>.py per module, simulated with Amaranth."""
