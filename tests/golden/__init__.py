"""Tests of logdot.golden (golden/): one test_<module>.py per module."""
