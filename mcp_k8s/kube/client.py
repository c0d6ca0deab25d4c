"""The lazy async Kubernetes client: configuration, one ApiClient for requests and one for watches, raw JSON calls.

Loading is deferred to the first call (under an anyio.Lock) so the server starts even when the cluster is down or the
kubeconfig is slow to evaluate; the tools then say exactly which server and context they could not reach. Order:
an explicit --kubeconfig, then in-cluster service-account config, then KUBECONFIG, then ~/.kube/config.

Every request leaves the process through `request()` or `stream()`, and both pass the policy gate first
(mcp_k8s/policy.py): the gate judges the real method and path, adds the caller's Impersonate-* headers with
--impersonate, and blanks secret values in answers. Nothing else in the package opens a connection to the cluster.

Requests speak raw JSON (no OpenAPI model round-trips: custom resources have no
models, and a model's json→object→json costs ~3× a plain `json.loads`) and maps every failure to our error tree.
Watches get their own ApiClient so long-lived streams cannot starve the connection pool that tools use.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio

from mcp_k8s import errors, policy
from mcp_k8s.logging import get_logger
from mcp_k8s.settings import Settings

if TYPE_CHECKING:  # kubernetes_asyncio and aiohttp load with the first request, not at server start (issue 12)
    import aiohttp
    from kubernetes_asyncio import client as k8s

log = get_logger(__name__)


def _without_env_lookups(api: k8s.ApiClient) -> k8s.ApiClient:
    """kubernetes_asyncio opens its aiohttp session with trust_env=True: every request then looks up ~/.netrc and
    the proxy variables on executor threads, two thread hops per request. Without proxy variables in the environment
    there is nothing to find (a kubeconfig's proxy-url is passed per request whatever trust_env says, and the API
    server has no basic auth for a netrc entry to give), so switch the lookups off; with HTTP(S)_PROXY set, aiohttp
    keeps honouring it."""
    from urllib.request import getproxies_environment

    if not getproxies_environment():
        api.rest_client.pool_manager._trust_env = False  # aiohttp has no public setter for it
    return api


DEFAULT_TIMEOUT = 30.0
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
_INCLUSTER_TOKEN = "token"  # noqa: S105 (a file name)
_INCLUSTER_CA = "ca.crt"

QueryParams = Sequence[tuple[str, str | int | bool]]


@dataclass(frozen=True)
class ClusterInfo:
    """Where we talk to, for messages: the server URL, the kubeconfig context, and the context's namespace."""

    server: str
    context: str | None
    context_namespace: str | None
    source: str  # "kubeconfig <path>" | "in-cluster"


class KubeClient:
    """Owns the ApiClients. Create once per server (lifespan), `await aclose()` at shutdown."""

    def __init__(self, settings: Settings, *, cluster_ready: Callable[[], Awaitable[object]] | None = None) -> None:
        """`cluster_ready`, when given, is awaited before the configuration is first loaded: `serve --sandbox`
        answers MCP at once while its cluster starts, and the first request waits for it (or raises its error)."""
        self._settings = settings
        self._cluster_ready = cluster_ready
        self.policy = policy.Policy(settings)
        self._lock = anyio.Lock()
        self._refresh_lock = anyio.Lock()
        self._configuration: k8s.Configuration | None = None
        self._loader: Any = None
        self._api: k8s.ApiClient | None = None
        self._watch_api: k8s.ApiClient | None = None
        self._info: ClusterInfo | None = None
        self._closed = False

    @property
    def info(self) -> ClusterInfo | None:
        """Known after the first successful configuration load; None before."""
        return self._info

    def describe_target(self) -> str:
        """`https://host:6443 (context "prod")`, or what we would try, for error messages before loading."""
        if self._info is not None:
            ctx = f' (context "{self._info.context}")' if self._info.context else ""
            return f"{self._info.server}{ctx}"
        return "the configured cluster"

    async def api(self) -> k8s.ApiClient:
        if self._api is None:
            await self._ensure_loaded()
        assert self._api is not None
        return self._api

    async def watch_api(self) -> k8s.ApiClient:
        """A second ApiClient (own aiohttp session and pool) for long-lived watch streams."""
        if self._watch_api is None:
            from kubernetes_asyncio import client as k8s

            await self._ensure_loaded()
            async with self._lock:
                if self._watch_api is None:
                    self._watch_api = _without_env_lookups(k8s.ApiClient(configuration=self._configuration))
        return self._watch_api

    async def _ensure_loaded(self) -> None:
        from kubernetes_asyncio import client as k8s

        async with self._lock:
            if self._closed:
                raise errors.Unavailable("The server is shutting down; no more Kubernetes requests are accepted.")
            if self._api is not None:
                return
            if self._cluster_ready is not None:
                await self._cluster_ready()
            configuration = k8s.Configuration()
            info = await self._load(configuration)
            self._configuration = configuration
            self._api = _without_env_lookups(k8s.ApiClient(configuration=configuration))
            self._info = info
            log.info("kubernetes client configured", server=info.server, context=info.context, source=info.source)

    async def _load(self, configuration: k8s.Configuration) -> ClusterInfo:
        s = self._settings
        if s.kubeconfig is not None:
            if not s.kubeconfig.is_file():
                raise errors.NotConfigured(
                    f"The kubeconfig {s.kubeconfig} given by --kubeconfig does not exist; fix the path."
                )
            return await self._load_kubeconfig(configuration, str(s.kubeconfig))
        if s.in_cluster_host:
            return self._load_in_cluster(configuration)
        paths = s.kubeconfig_env or str(Path("~/.kube/config").expanduser())
        if not any(Path(p).expanduser().is_file() for p in paths.split(":") if p):
            raise errors.NotConfigured(
                f"No Kubernetes configuration found: not running in a pod, no --kubeconfig, and no kubeconfig at "
                f"{paths}; pass --kubeconfig PATH (or set KUBECONFIG), or try `mcp-k8s serve --sandbox`."
            )
        return await self._load_kubeconfig(configuration, paths)

    def _load_in_cluster(self, configuration: k8s.Configuration) -> ClusterInfo:
        from kubernetes_asyncio import config as k8s_config
        from kubernetes_asyncio.config.config_exception import ConfigException

        sa = self._settings.service_account_dir
        try:
            loader = k8s_config.incluster_config.InClusterConfigLoader(
                token_filename=str(sa / _INCLUSTER_TOKEN),
                cert_filename=str(sa / _INCLUSTER_CA),
                try_refresh_token=False,  # its hook re-reads once a minute; ours follows the file at once
                environ={
                    "KUBERNETES_SERVICE_HOST": self._settings.in_cluster_host or "",
                    "KUBERNETES_SERVICE_PORT": self._settings.in_cluster_port or "443",
                },
            )
            loader.load_and_set(configuration)
        except ConfigException as exc:
            raise errors.NotConfigured(
                f"In-cluster configuration failed ({exc}); pass --kubeconfig to use a file."
            ) from None
        configuration.refresh_api_key_hook = ProjectedToken(sa / _INCLUSTER_TOKEN, configuration).refresh
        return ClusterInfo(server=str(configuration.host), context=None, context_namespace=None, source="in-cluster")

    async def _load_kubeconfig(self, configuration: k8s.Configuration, paths: str) -> ClusterInfo:
        from kubernetes_asyncio import config as k8s_config
        from kubernetes_asyncio.config.config_exception import ConfigException

        try:
            loader = await k8s_config.load_kube_config(
                config_file=paths,
                context=self._settings.context,
                client_configuration=configuration,
                persist_config=False,
            )
        except (ConfigException, KeyError, TypeError, AssertionError, OSError, ValueError) as exc:
            ctx = f' context "{self._settings.context}"' if self._settings.context else ""
            detail = str(exc) or type(exc).__name__
            raise errors.NotConfigured(
                f"Could not load{ctx} from kubeconfig {paths} ({detail}); check the file and the --context name."
            ) from None
        self._loader = loader
        current = loader.current_context or {}
        context_ns = (current.get("context") or {}).get("namespace")
        user = getattr(loader, "_user", None)
        if user is not None and "exec" in user:
            configuration.refresh_api_key_hook = self._refresh_exec_token
        return ClusterInfo(
            server=str(configuration.host),
            context=current.get("name"),
            context_namespace=context_ns,
            source=f"kubeconfig {paths}",
        )

    async def _refresh_exec_token(self, configuration: k8s.Configuration) -> None:
        """Called before each request: re-run the exec plugin once its token has expired (client-go does the same)."""
        loader = self._loader
        if loader is None or not hasattr(loader, "exec_plugin_expiry"):
            return
        await loader.load_from_exec_plugin()  # a no-op until the expiry passes
        configuration.api_key["BearerToken"] = loader.token

    def _token(self) -> str | None:
        return self._configuration.api_key.get("BearerToken") if self._configuration is not None else None

    async def _force_exec_refresh(self, used_token: str | None) -> bool:
        """After a 401: run the exec plugin again, once for all concurrent requests that failed with the same token.
        True when the caller should retry (a fresh token is in place)."""
        loader = self._loader
        if loader is None or "exec" not in (getattr(loader, "_user", None) or {}):
            return False
        async with self._refresh_lock:
            if self._token() != used_token:
                return True  # another request already refreshed it
            if hasattr(loader, "exec_plugin_expiry"):
                del loader.exec_plugin_expiry
            await loader.load_from_exec_plugin()
            assert self._configuration is not None
            self._configuration.api_key["BearerToken"] = loader.token
            return True

    async def request(
        self,
        method: str,
        path: str,
        *,
        op: errors.Operation,
        query: QueryParams = (),
        body: Any = None,
        content_type: str = JSON,
        accept: str = JSON,
        timeout: float = DEFAULT_TIMEOUT,
        raw: bool = False,
    ) -> Any:
        """One API call; returns parsed JSON (or bytes with raw=True). Every failure becomes a K8sError."""
        import aiohttp

        asked = self._admit(method, path, query, body)
        api = await self.api()
        for attempt in (1, 2):
            used_token = self._token()
            response = await self._send(api, method, path, op, query, body, content_type, accept, timeout)
            try:
                status, data, headers = response.status, await response.read(), response.headers
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise self._unavailable(op, exc) from None
            finally:
                response.release()
            if status == 401 and attempt == 1 and await self._force_exec_refresh(used_token):
                continue
            break
        if status >= 300:
            raise errors.from_status(
                status, data, op, server=self.describe_target(), retry_after_header=headers.get("Retry-After")
            )
        if asked.is_secret and data:
            treated = self.policy.treat_secret_answer(json.loads(data))
            return json.dumps(treated).encode() if raw else treated
        if raw:
            return data
        return json.loads(data) if data else None

    async def stream(
        self, path: str, *, op: errors.Operation, query: QueryParams, timeout: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        """Open a streaming GET (a watch) through the same gate; the caller reads and releases the response.

        Transport failures are raised as aiohttp/OS errors for the reflector to classify; a refusal by the gate is
        NotAllowed. Secret types never get here: the gate refuses their watches to everything but the secret
        toolset, which does not watch.
        """
        asked = self._admit("GET", path, query, None)
        if asked.is_secret:
            raise errors.NotAllowed(policy.SECRET_RULE)
        api = await self.watch_api()
        return await self._open(api, "GET", path, query, None, JSON, JSON, timeout)

    def _admit(self, method: str, path: str, query: QueryParams, body: Any) -> policy.Request:
        """The gate: what this request is, and whether the current scope may make it."""
        asked = policy.Request.parse(method, path, query)
        self.policy.check(asked, body=body)
        return asked

    async def _send(
        self,
        api: k8s.ApiClient,
        method: str,
        path: str,
        op: errors.Operation,
        query: QueryParams,
        body: Any,
        content_type: str,
        accept: str,
        timeout: float,
    ) -> aiohttp.ClientResponse:
        import aiohttp

        limits = aiohttp.ClientTimeout(total=timeout, sock_connect=min(10.0, timeout))
        try:
            return await self._open(api, method, path, query, body, content_type, accept, limits)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._unavailable(op, exc) from None

    async def _open(
        self,
        api: k8s.ApiClient,
        method: str,
        path: str,
        query: QueryParams,
        body: Any,
        content_type: str,
        accept: str,
        timeout: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        """Send one request on `api`'s connection pool with its credentials (and the caller's Impersonate-* lines).

        We skip `call_api`: it serialises OpenAPI models we do not use and folds headers into a dict, which cannot
        carry the repeated Impersonate-Group lines the API server expects.
        """
        from multidict import CIMultiDict

        headers: CIMultiDict[str] = CIMultiDict({"Accept": accept, "Content-Type": content_type})
        params = list(query)
        await api.update_params_for_auth(cast("dict[str, Any]", headers), params, ["BearerToken"])
        caller = policy.current().caller
        if caller is not None and self._settings.impersonate:
            for key, value in caller.impersonation_headers():
                headers.add(key, value)
        rest: Any = api.rest_client  # typed as taking dicts; it passes headers and params through to aiohttp
        response: aiohttp.ClientResponse = await rest.request(
            method,
            f"{api.configuration.host}{path}",
            query_params=params,
            headers=headers,
            body=body,
            _preload_content=False,
            _request_timeout=timeout,
        )
        return response

    def _unavailable(self, op: errors.Operation, exc: BaseException) -> errors.K8sError:
        return errors.unavailable(
            op,
            server=self._info.server if self._info else None,
            cause=_transport_cause(exc),
            context=self._info.context if self._info else None,
        )

    async def aclose(self) -> None:
        """Close the connection pools. Requests made while closing fail; a later one loads afresh (a server's
        lifespan may be entered again, as each in-memory test client does)."""
        async with self._lock:
            self._closed = True
            try:
                for api in (self._api, self._watch_api):
                    if api is not None:
                        await api.close()
            finally:
                self._api = self._watch_api = None
                self._closed = False


class ProjectedToken:
    """Follows a service-account token file that the kubelet rotates (a projected volume swaps it atomically).

    Before each request the file is stat'ed (one syscall) and re-read only when it changed, so a rotated token is
    used from the next request on, even when the old one was revoked at once (its bound object deleted); the
    library's own hook would keep sending the revoked token for up to a minute.
    """

    def __init__(self, path: Path, configuration: k8s.Configuration) -> None:
        self._path = path
        self._seen = self._stamp()
        self._token = configuration.api_key.get("BearerToken")

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def refresh(self, configuration: k8s.Configuration) -> None:
        stamp = self._stamp()
        if stamp is not None and stamp != self._seen:
            try:
                token = self._path.read_text().strip()
            except OSError:
                token = ""
            if token:  # a file caught mid-write by a non-atomic writer is retried on the next request
                self._seen = stamp
                self._token = f"Bearer {token}"
                log.info("service-account token reloaded", path=str(self._path))
        if self._token is not None:
            configuration.api_key["BearerToken"] = self._token


def _transport_cause(exc: BaseException) -> str:
    import aiohttp

    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "the request timed out"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "its TLS certificate is not trusted by the kubeconfig's CA"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed ({exc.os_error.strerror or exc.os_error})" if exc.os_error else "connection failed"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    return type(exc).__name__
