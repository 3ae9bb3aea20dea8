"""Example IOCs: ``python -m cawire.ioc_examples.<name>``.

* ``random_walk``: ``random_walk:x`` takes a random step every
  ``random_walk:dt`` seconds.
* ``type_varieties``: one PV of every native type, scalars and arrays, enums,
  strings, a long string, alarm limits and a read-only PV.
* ``fast_counter``: counters updated at a configurable rate (benchmarks).
"""
