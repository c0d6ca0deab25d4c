"""Fixtures shared by the watch-cache integration tests."""

from __future__ import annotations

import pytest

from tests.cluster import TestCluster


@pytest.fixture
def own_plane_allowed(cluster: TestCluster) -> None:
    """Faults that would disturb the session's control plane start one of their own (needs the local binaries)."""
    if cluster.external:
        pytest.skip("needs the local control-plane binaries")
