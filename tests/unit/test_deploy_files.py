"""Deployment pieces that need no cluster: the chart's generated RBAC rules, and the projected-token reload."""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes_asyncio import client as k8s

from mcp_k8s.kube.client import ProjectedToken
from mcp_k8s.settings import Settings
from tests.deploy.generate import REGENERATE, RULES_FILE, rules_file_text


def test_chart_rules_are_generated_from_the_rbac_module() -> None:
    assert RULES_FILE.read_text() == rules_file_text(), f"the chart's RBAC rules are stale: run `{REGENERATE}`"


def test_service_account_dir_has_an_env_twin(tmp_path: Path) -> None:
    assert Settings.from_environ({}).service_account_dir == Path("/var/run/secrets/kubernetes.io/serviceaccount")
    assert Settings.from_environ({"MCP_K8S_SERVICE_ACCOUNT_DIR": str(tmp_path)}).service_account_dir == tmp_path


def test_projected_token_follows_an_atomic_swap(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first")
    configuration = k8s.Configuration()
    configuration.api_key["BearerToken"] = "Bearer first"
    follow = ProjectedToken(token, configuration)
    follow.refresh(configuration)
    assert configuration.api_key["BearerToken"] == "Bearer first"
    staged = tmp_path / "token.new"
    staged.write_text("second\n")
    os.replace(staged, token)
    follow.refresh(configuration)
    assert configuration.api_key["BearerToken"] == "Bearer second"
    # A file caught empty (a non-atomic writer mid-way) keeps the last good token and is read again next time.
    token.write_text("")
    follow.refresh(configuration)
    assert configuration.api_key["BearerToken"] == "Bearer second"
    token.write_text("third")
    follow.refresh(configuration)
    assert configuration.api_key["BearerToken"] == "Bearer third"
