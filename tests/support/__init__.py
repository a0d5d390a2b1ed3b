"""Helpers shared by the tests and the benchmarks (never tests themselves): fake exchanges on
127.0.0.1, scriptable loopback servers, recording builders, seeded engines and app helpers.

The tests import them as `support.<module>` (pyproject's `pythonpath = ["tests"]`); the
benchmarks put tests/ on sys.path first."""
