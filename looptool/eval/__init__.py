"""Benchmarks against an endpoint: BFCL through the bfcl-eval package (looptool.eval.bfcl).

Deliberately import-free: looptool.eval.bfcl_worker and bfcl_backends run inside the bfcl
runtime env, which has none of the orchestrator's dependencies, and importing this package
there must not pull them in. Import the submodules you need.
"""
