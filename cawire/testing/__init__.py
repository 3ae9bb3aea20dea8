"""Helpers for cawire's tests and benchmarks (not part of the runtime API).

:mod:`cawire.testing.epics` runs the reference EPICS tools (softIoc, caget,
caRepeater, pyepics) on loopback with per-session ports.
"""
from .epics import (PyepicsError, Repeater, SoftIoc, applied_environ,
                    epics_bin_dir, epics_env, epics_lib_dir, epics_libca_path,
                    epics_settings, free_port, pyepics_run,
                    register_with_repeater, run_tool, wait_for_tcp)

__all__ = ('PyepicsError', 'Repeater', 'SoftIoc', 'applied_environ',
           'epics_bin_dir', 'epics_env', 'epics_lib_dir', 'epics_libca_path',
           'epics_settings', 'free_port', 'pyepics_run',
           'register_with_repeater', 'run_tool', 'wait_for_tcp')
