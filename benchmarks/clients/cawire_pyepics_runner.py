"""Benchmark runner for cawire's pyepics API (``import cawire.pyepics as epics``).

Runs the pyepics-API metrics (``_pyepics_api``) with the same code as the
pyepics runner; only the module differs.
"""
import _common
import _pyepics_api


def _metrics():
    import cawire.pyepics
    return _pyepics_api.metrics(cawire.pyepics)


if __name__ == '__main__':
    _common.run(_metrics)
