"""The `mcp-k8s` command: serve | watch | rbac | sandbox. Parses flags (each with an MCP_K8S_* twin) into Settings."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click
from pydantic import ValidationError

from mcp_k8s import logging as mlog
from mcp_k8s.settings import Settings, split_csv

F = TypeVar("F", bound=Callable[..., Any])


def _option(*decls: str, **kwargs: Any) -> Callable[[F], F]:
    """click.option that shows its MCP_K8S_* twin in --help, so every flag's env variable is documented."""
    return click.option(*decls, show_envvar=True, **kwargs)


def _kube_options(fn: F) -> F:
    """Flags shared by `serve`, `watch` and `rbac`: which cluster, which namespaces, which types to watch (and the
    output flags)."""
    options = [
        _option(
            "--kubeconfig",
            envvar="MCP_K8S_KUBECONFIG",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Kubeconfig file to use; wins over in-cluster config. Default: in-cluster, then "
            "KUBECONFIG, then ~/.kube/config.",
        ),
        _option("--context", envvar="MCP_K8S_CONTEXT", help="Kubeconfig context to use (default: current)."),
        _option(
            "--namespace",
            envvar="MCP_K8S_NAMESPACE",
            help="Default namespace for tools called without one (then NAMESPACE, the service-account "
            "namespace, the context's namespace, 'default').",
        ),
        _option(
            "--allowed-namespaces",
            envvar="MCP_K8S_ALLOWED_NAMESPACES",
            multiple=True,
            help="Comma-separated namespaces the tools may touch; any other is refused. Default: all.",
        ),
        _option(
            "--read-only", envvar="MCP_K8S_READ_ONLY", is_flag=True, help="Register no tool that writes to the cluster."
        ),
        _option(
            "--allow-secret-values",
            envvar="MCP_K8S_ALLOW_SECRET_VALUES",
            is_flag=True,
            help="Let get_secret return secret values. Off by default: values never reach the model.",
        ),
        _option(
            "--deny-resources",
            envvar="MCP_K8S_DENY_RESOURCES",
            multiple=True,
            metavar="TYPE,...",
            help="Comma-separated types no tool or cache read may touch, e.g. 'nodes,rbac.authorization.k8s.io/*' "
            "(plural[.group], or group/plural with * for any).",
        ),
        _option(
            "--watch",
            "watch",
            envvar="MCP_K8S_WATCH",
            multiple=True,
            metavar="RESOURCE",
            help="Custom resource type to keep in the watch cache from start-up, as plural.group/version "
            "or plural.group (repeatable; env: comma-separated). Other types are cached on first use.",
        ),
    ]
    return _apply(options, _output_options(fn))


def _output_options(fn: F) -> F:
    """Flags for what the server writes: logs on stderr, and how large a tool answer may be."""
    options = [
        _option(
            "--log-format",
            envvar="MCP_K8S_LOG_FORMAT",
            type=click.Choice(["console", "json"]),
            default="console",
            show_default=True,
            help="Log format on stderr.",
        ),
        _option(
            "--log-level",
            envvar="MCP_K8S_LOG_LEVEL",
            type=click.Choice(["debug", "info", "warning", "error"]),
            default="info",
            show_default=True,
            help="Log level on stderr.",
        ),
        _option(
            "--output-budget",
            envvar="MCP_K8S_OUTPUT_BUDGET",
            type=click.IntRange(2_000, 1_000_000),
            default=24_000,
            show_default=True,
            help="Largest tool answer in bytes; longer answers are cut and say how to get the rest.",
        ),
    ]
    return _apply(options, fn)


def _auth_options(fn: F) -> F:
    """Flags for who may call over HTTP (`serve --transport http`, `watch --http`) and as whom the server acts."""
    options = [
        _option(
            "--auth",
            envvar="MCP_K8S_AUTH",
            type=click.Choice(["kubernetes", "token-file"]),
            help="Require a bearer token on HTTP: 'kubernetes' asks the cluster (TokenReview); 'token-file' checks "
            "--auth-token-file. Required on a non-loopback address.",
        ),
        _option(
            "--auth-token-file",
            envvar="MCP_K8S_AUTH_TOKEN_FILE",
            type=click.Path(dir_okay=False, path_type=Path),
            help="With --auth token-file: CSV lines 'token,user[,uid[,\"group1,group2\"]]' (kube-apiserver's format); "
            "re-read when it changes.",
        ),
        _option(
            "--auth-audience",
            "auth_audiences",
            envvar="MCP_K8S_AUTH_AUDIENCE",
            multiple=True,
            help="With --auth kubernetes: audiences a token must be issued for (repeatable; env: comma-separated). "
            "Default: the API server's own.",
        ),
        _option(
            "--impersonate",
            envvar="MCP_K8S_IMPERSONATE",
            is_flag=True,
            help="With --auth kubernetes: act as each caller (Impersonate-* headers), so the cluster's RBAC decides "
            "per caller; cached reads are checked with a SubjectAccessReview.",
        ),
        _option(
            "--insecure-no-auth",
            envvar="MCP_K8S_INSECURE_NO_AUTH",
            is_flag=True,
            help="Serve HTTP on a non-loopback address without authentication (only behind a proxy that "
            "authenticates); logs a warning.",
        ),
    ]
    return _apply(options, fn)


def _apply(options: list[Callable[[Any], Any]], fn: F) -> F:
    """Decorate `fn` with `options`, so --help lists them in the order given."""
    for option in reversed(options):
        fn = option(fn)
    return fn


def _settings(**flags: Any) -> Settings:
    """Build Settings from flags; a bad value is one clear line on stderr and exit code 2."""
    for key in ("allowed_namespaces", "watch", "deny_resources", "auth_audiences"):
        if key in flags:
            flags[key] = split_csv(flags.get(key))
    try:
        return Settings.from_environ(os.environ, **{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        if where == "settings":
            raise click.UsageError(message) from None
        raise click.UsageError(f"invalid {where.replace('_', '-')}: {message}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="mcp-k8s")
def main() -> None:
    """mcp-k8s: a Model Context Protocol server for Kubernetes with a live watch cache."""


@main.command()
@_kube_options
@_auth_options
@_option(
    "--transport",
    envvar="MCP_K8S_TRANSPORT",
    type=click.Choice(["stdio", "http"]),
    default="stdio",
    show_default=True,
    help="stdio for a local MCP client; http serves streamable HTTP on --host/--port.",
)
@_option(
    "--host",
    envvar="MCP_K8S_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address for --transport http. A non-loopback address needs --auth (or --insecure-no-auth).",
)
@_option(
    "--port",
    envvar="MCP_K8S_PORT",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    help="Port for --transport http.",
)
@_option(
    "--sandbox",
    "use_sandbox",
    envvar="MCP_K8S_SANDBOX",
    is_flag=True,
    help="Start a local cluster (etcd, kube-apiserver, controller manager, scheduler, KWOK nodes on loopback) and "
    "serve against it; the server answers at once and tools wait for the cluster.",
)
@_option(
    "--demo",
    envvar="MCP_K8S_DEMO",
    is_flag=True,
    help="With --sandbox: load a small scene to explore (two namespaces, a healthy and a crash-looping workload, "
    "a Service, a ConfigMap, a Secret, custom resources with conditions).",
)
@_option(
    "--build",
    envvar="MCP_K8S_BUILD",
    is_flag=True,
    help="With --sandbox: first build missing control-plane binaries (needs Go; 10-20 min cold, then cached).",
)
def serve(use_sandbox: bool, build: bool, **flags: Any) -> None:
    """Run the MCP server (stdio by default). Logs go to stderr; stdout carries only MCP messages."""
    settings = _settings(sandbox=use_sandbox, **flags)
    if settings.demo and not settings.sandbox:
        raise click.UsageError("--demo loads a scene into the local cluster; use it with --sandbox.")
    mlog.configure(fmt=settings.log_format, level=settings.log_level)
    from mcp_k8s.server import run_server

    try:
        if build and use_sandbox:
            from mcp_k8s.sandbox import binaries

            anyio.run(binaries.build_all, dict(os.environ))
        anyio.run(run_server, settings, dict(os.environ))
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:  # BinariesMissing and SandboxError included; imported lazily to keep start-up lean
        sys.exit(f"mcp-k8s serve: {exc}")


@main.command()
@_kube_options
@_auth_options
@_option(
    "--http",
    "http_address",
    envvar="MCP_K8S_HTTP",
    metavar="HOST:PORT",
    help="Also serve MCP over streamable HTTP at HOST:PORT.",
)
@_option(
    "--health-port",
    envvar="MCP_K8S_HEALTH_PORT",
    type=click.IntRange(0, 65535),
    help="Serve /healthz, /readyz and /metrics (never MCP) on --health-host:PORT.",
)
@_option(
    "--health-host",
    envvar="MCP_K8S_HEALTH_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address of the health listener; in a pod, 0.0.0.0 so the kubelet's probes reach it.",
)
def watch(**flags: Any) -> None:
    """Run the background watcher daemon: the watch cache plus a JSON event stream on stdout."""
    settings = _settings(**flags)
    if not settings.watch:
        raise click.UsageError("mcp-k8s watch needs at least one --watch RESOURCE (e.g. widgets.example.com/v1).")
    mlog.configure(fmt=settings.log_format, level=settings.log_level)
    from mcp_k8s.daemon import DaemonState, run_daemon
    from mcp_k8s.server import KubernetesServer, Shared

    def mcp_app(state: DaemonState) -> Any:
        shared = Shared(kube=state.kube, discovery=state.discovery, cache=state.cache)
        host = (settings.http_address or "").rpartition(":")[0] or "127.0.0.1"
        return KubernetesServer(settings, shared=shared).http_app(host)

    with suppress(KeyboardInterrupt):
        anyio.run(run_daemon, settings, mcp_app)


@main.command()
@_kube_options
@_auth_options
@_option("--service-account", default="mcp-k8s", show_default=True, help="ServiceAccount the rules bind to.")
@_option("--service-account-namespace", default="mcp-k8s", show_default=True, help="Namespace of that ServiceAccount.")
def rbac(service_account: str, service_account_namespace: str, **flags: Any) -> None:
    """Print least-privilege RBAC YAML (Roles/ClusterRoles and bindings) for the given flags."""
    settings = _settings(**flags)
    from mcp_k8s.rbac import manifest

    click.echo(manifest(settings, service_account=service_account, namespace=service_account_namespace), nl=False)


@main.command(name="sandbox")
@_option(
    "--kubeconfig-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the admin kubeconfig here (default: only inside the sandbox's temp directory).",
)
@_option("--build", is_flag=True, help="Build missing control-plane binaries first (needs Go; 10-20 min cold).")
@_option(
    "--nodes",
    type=click.IntRange(0, 50),
    default=1,
    show_default=True,
    help="Simulated (KWOK) nodes to register, so pods run and serve logs; 0 for none.",
)
@_option("--demo", is_flag=True, help="Load a small scene to explore (needs at least one node).")
def sandbox_command(kubeconfig_out: Path | None, build: bool, nodes: int, demo: bool) -> None:
    """Run a local cluster (etcd, kube-apiserver, controller manager, scheduler, KWOK nodes on loopback, own PKI,
    RBAC) until interrupted."""
    from mcp_k8s import sandbox
    from mcp_k8s.sandbox import binaries

    mlog.configure()
    try:
        anyio.run(_run_sandbox, kubeconfig_out, build, nodes, demo)
    except KeyboardInterrupt:
        pass
    except (binaries.BinariesMissing, sandbox.SandboxError, RuntimeError) as exc:
        sys.exit(f"mcp-k8s sandbox: {exc}")


async def _run_sandbox(kubeconfig_out: Path | None, build: bool, nodes: int, demo: bool) -> None:
    from mcp_k8s import sandbox
    from mcp_k8s.sandbox import binaries

    environ = dict(os.environ)
    if build:
        await binaries.build_all(environ)
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with sandbox.start_sandbox(environ, nodes=nodes, demo=demo, kubeconfig_out=kubeconfig_out) as plane:
            click.echo(f"sandbox ready: kubeconfig at {kubeconfig_out or plane.admin_kubeconfig}")
            sys.stdout.flush()
            async for signum in signals:
                print(f"mcp-k8s sandbox: {signal.Signals(signum).name}, stopping", file=sys.stderr, flush=True)
                break
