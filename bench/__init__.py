"""Benchmarks run by `make bench` (python -m bench [NAME...]); each module's `run(out_dir)` returns Markdown."""
