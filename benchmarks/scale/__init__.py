"""Facility-scale benchmark: many IOCs on many (namespace) hosts.

``python -m benchmarks.scale`` builds the bed (see :mod:`.bed`), runs the
scenarios (:mod:`.scenarios`) for cawire and pyepics in the same run and
writes ``benchmarks/results/scale-<date>-<time>.{md,json}``. Needs root
(network namespaces).
"""
