"""Tests of logdot.study."""
