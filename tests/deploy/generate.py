"""Generated deployment files: the chart's RBAC rules (from mcp_k8s/rbac.py) and the plain manifests (from the chart).

`python -m tests.deploy.generate` rewrites both; tests/deploy/test_chart.py fails when either is stale.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from mcp_k8s.rbac import chart_catalog
from tests.deploy.helm import RENDER_FOR, helm

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "mcp-k8s"
RULES_FILE = CHART / "files" / "rbac-rules.yaml"
MANIFESTS = ROOT / "deploy" / "manifests"
MANIFEST_FILE = MANIFESTS / "mcp-k8s.yaml"
MANIFEST_NAMESPACE = "mcp-k8s"
REGENERATE = "python -m tests.deploy.generate"


def rules_file_text() -> str:
    header = f"# Generated from mcp_k8s/rbac.py by `{REGENERATE}`; do not edit (templates/rbac.yaml composes it).\n"
    return header + yaml.safe_dump(chart_catalog(), sort_keys=True)


def manifest_text() -> str:
    rendered = helm(
        "template",
        "mcp-k8s",
        str(CHART),
        "--namespace",
        MANIFEST_NAMESPACE,
        "--values",
        str(MANIFESTS / "values.yaml"),
        *RENDER_FOR,
    ).stdout
    header = (
        f"# mcp-k8s for `kubectl apply -f`: rendered from deploy/helm/mcp-k8s with deploy/manifests/values.yaml by\n"
        f"# `{REGENERATE}`; do not edit (change the values and re-render, or use the chart).\n"
    )
    return header + rendered


def main() -> None:
    RULES_FILE.write_text(rules_file_text())
    MANIFEST_FILE.write_text(manifest_text())
    print(f"wrote {RULES_FILE.relative_to(ROOT)} and {MANIFEST_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
