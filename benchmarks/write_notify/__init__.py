"""Sequential write-notify: cawire and pyepics against C libca, same IOC.

``python -m benchmarks.write_notify`` (see :mod:`.__main__`).
"""
