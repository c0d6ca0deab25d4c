"""The one frozen Settings object: flags and MCP_K8S_* environment, read once at the edge and passed down.

Nothing below the CLI reads the environment; it gets a Settings (or a piece of one) as an argument. That keeps tests
honest (they build a Settings, they do not poke os.environ) and makes the server's behaviour visible in one place.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LogFormat = Literal["console", "json"]
LogLevel = Literal["debug", "info", "warning", "error"]
Transport = Literal["stdio", "http"]
AuthMode = Literal["kubernetes", "token-file"]

# RFC 1123 label, the rule for namespace names.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DEFAULT_OUTPUT_BUDGET = 24_000


class Settings(BaseModel):
    """Everything the server, the daemon and the tools are allowed to know about their configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transport: Transport = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    kubeconfig: Path | None = Field(default=None, description="Explicit kubeconfig; wins over in-cluster config.")
    kubeconfig_env: str | None = Field(default=None, description="The KUBECONFIG variable (colon-separated paths).")
    context: str | None = None
    namespace: str | None = Field(default=None, description="--namespace / MCP_K8S_NAMESPACE.")
    env_namespace: str | None = Field(default=None, description="The plain NAMESPACE variable, a later fallback.")
    allowed_namespaces: tuple[str, ...] = ()
    read_only: bool = False
    allow_secret_values: bool = False
    watch: tuple[str, ...] = ()
    deny_resources: tuple[str, ...] = Field(default=(), description="Types hidden from every tool and cache read.")
    # HTTP authentication (serve --transport http, watch --http).
    auth: AuthMode | None = None
    auth_token_file: Path | None = None
    auth_audiences: tuple[str, ...] = ()
    impersonate: bool = False
    insecure_no_auth: bool = False
    log_format: LogFormat = "console"
    log_level: LogLevel = "info"
    sandbox: bool = False
    output_budget: int = Field(default=DEFAULT_OUTPUT_BUDGET, ge=2_000, le=1_000_000)
    # Where the service-account namespace lives in a pod; a setting so tests can point it elsewhere.
    service_account_dir: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount")
    in_cluster_host: str | None = Field(default=None, description="KUBERNETES_SERVICE_HOST, set inside a pod.")
    in_cluster_port: str | None = None
    # Daemon only.
    http_address: str | None = None
    health_port: int | None = Field(default=None, ge=0, le=65535)
    health_host: str = "127.0.0.1"

    @field_validator("deny_resources")
    @classmethod
    def _valid_deny(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for spec in value:
            if not spec or any(c.isspace() for c in spec) or spec.count("/") > 1:
                raise ValueError(
                    f"{spec!r} is not a type pattern; use forms like nodes, widgets.example.com or "
                    "rbac.authorization.k8s.io/*"
                )
        return value

    @model_validator(mode="after")
    def _auth_consistent(self) -> Settings:
        if self.auth == "token-file" and self.auth_token_file is None:
            raise ValueError("--auth token-file needs --auth-token-file PATH")
        if self.impersonate and self.auth != "kubernetes":
            raise ValueError("--impersonate needs --auth kubernetes (the cluster must name the caller)")
        if self.auth is not None and self.insecure_no_auth:
            raise ValueError("--insecure-no-auth contradicts --auth; choose one")
        exposed = [h for h in self.http_hosts() if not is_loopback(h)]
        if exposed and self.auth is None and not self.insecure_no_auth:
            raise ValueError(
                f"refusing to serve MCP on {exposed[0]} without authentication: add --auth kubernetes (or --auth "
                "token-file --auth-token-file PATH), bind 127.0.0.1, or pass --insecure-no-auth if a proxy in front "
                "authenticates"
            )
        return self

    def http_hosts(self) -> list[str]:
        """The addresses MCP will be served on over HTTP (none for stdio without --http)."""
        hosts = [self.host] if self.transport == "http" else []
        if self.http_address:
            hosts.append(self.http_address.rpartition(":")[0] or "127.0.0.1")
        return hosts

    @field_validator("allowed_namespaces")
    @classmethod
    def _valid_namespaces(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ns in value:
            if not _DNS_LABEL.match(ns) or len(ns) > 63:
                raise ValueError(f"{ns!r} in --allowed-namespaces is not a valid namespace name")
        return tuple(dict.fromkeys(value))

    @field_validator("namespace", "env_namespace")
    @classmethod
    def _valid_namespace(cls, value: str | None) -> str | None:
        if value is not None and (not _DNS_LABEL.match(value) or len(value) > 63):
            raise ValueError(f"{value!r} is not a valid namespace name (lowercase letters, digits and '-')")
        return value

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **flags: object) -> Settings:
        """Combine parsed flags with the non-MCP_K8S variables that Kubernetes tooling conventionally honours."""
        return cls(
            kubeconfig_env=environ.get("KUBECONFIG") or None,
            env_namespace=environ.get("NAMESPACE") or None,
            in_cluster_host=environ.get("KUBERNETES_SERVICE_HOST") or None,
            in_cluster_port=environ.get("KUBERNETES_SERVICE_PORT") or None,
            **flags,
        )


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: binds that nothing off this machine can reach."""
    name = host.strip().strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_csv(values: tuple[str, ...] | list[str] | str | None) -> tuple[str, ...]:
    """Flags like --allowed-namespaces take `a,b` and may be repeated; the env twin is one comma list."""
    if values is None:
        return ()
    items = [values] if isinstance(values, str) else list(values)
    out: list[str] = []
    for item in items:
        out += [part.strip() for part in item.split(",") if part.strip()]
    return tuple(out)
