"""Unit tests: one module each, no pipeline runs (importable as the package `unit`)."""
