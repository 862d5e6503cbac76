"""Catalogue-scale batch jobs: `studio batch charts|style|imagine`, in this process or on Ray.

tasks.py: the items of a source and the worker that turns one into files; runner.py: the job
manifest, atomic outputs, progress and summary; on_ray.py: the Ray Data runner.
"""
