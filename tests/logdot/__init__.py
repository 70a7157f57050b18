"""Tests of the logdot tooling (logdot/): one test_<module>.py per module, and packaging."""
