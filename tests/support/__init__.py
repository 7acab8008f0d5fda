"""Helpers the tests and benches share (no tests here)."""
