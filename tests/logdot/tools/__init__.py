"""Tests of logdot.tools."""
