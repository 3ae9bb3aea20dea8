"""Fixtures of the many-host tests: skip where no namespace can be made."""
from __future__ import annotations

import pytest

from cawire.testing import netns


@pytest.fixture(scope='session')
def netns_available():
    """Skips the test (with the reason) where network namespaces cannot be
    created: not Linux, not root, or no iproute2."""
    reason = netns.unavailable_reason()
    if reason is not None:
        pytest.skip(f'no network-namespace test bed: {reason}')
    netns.remove_stale_namespaces()
