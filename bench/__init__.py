"""Benchmarks (not tests). Run from the repo root as modules, `python -m bench.<name>`, so that
they share the test tools in tests.support (make bench-agent, make bench-hub)."""
