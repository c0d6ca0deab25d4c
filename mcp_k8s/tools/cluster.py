"""Cluster introspection tools: list_api_resources, list_namespaces, check_access.

They answer "what is there and what may I do" before an agent tries something: which types the server serves (and
their short names), which namespaces exist (or, with namespace-only credentials, which ones this server uses), and
whether the current credentials pass RBAC for one action, so a 403 can be predicted rather than hit.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from mcp_k8s import errors, output
from mcp_k8s.kube import core
from mcp_k8s.tools.base import Ctx, Group, LabelSelector, Namespace, ToolSpec, app, check_name, spec

_ENVELOPE_SLACK = 300


class ApiResourceList(BaseModel):
    """Served resource types."""

    count: int
    items: list[core.ApiResourceRow]
    truncated: output.Truncation | None = None


async def list_api_resources(
    ctx: Ctx,
    group: Annotated[
        str | None,
        Field(default=None, max_length=253, description="core for the core group"),
    ] = None,
    all_versions: Annotated[bool, Field()] = False,
) -> ApiResourceList:
    """List the resource types the cluster serves."""
    state = app(ctx)
    rows = await core.api_resources(state.discovery, group=group, all_versions=all_versions)
    fit = output.fit_items(rows, state.settings.output_budget - _ENVELOPE_SLACK, 100, measure=output.size_of)
    truncated = None
    if fit < len(rows):
        truncated = output.Truncation(
            omitted=len(rows) - fit, hint="Too many types for one answer; pass group to list one API group."
        )
    return ApiResourceList(count=fit, items=rows[:fit], truncated=truncated)


async def list_namespaces(ctx: Ctx, label_selector: LabelSelector = None) -> core.NamespaceList:
    """List namespaces (the configured ones if listing is not allowed)."""
    state = app(ctx)
    return await core.list_namespaces(state.kube, state.settings, label_selector=label_selector)


async def check_access(
    ctx: Ctx,
    verb: Annotated[
        str,
        Field(
            min_length=1,
            max_length=64,
            description="e.g. get, list, create, patch, delete",
        ),
    ],
    plural: Annotated[
        str | None,
        Field(default=None, max_length=253, description="Type in any form, optionally with a subresource: pods/log"),
    ] = None,
    group: Group = None,
    namespace: Namespace = None,
    all_namespaces: Annotated[bool, Field(description="Ask about a cluster-wide grant")] = False,
    name: Annotated[str | None, Field(default=None, max_length=253)] = None,
    resource: Annotated[str | None, Field(default=None, max_length=253, description="Old name of plural")] = None,
) -> core.AccessAnswer:
    """Ask the API server whether these credentials may do something."""
    asked = plural or resource
    if not asked or not asked.strip():
        raise errors.InvalidInput("Give plural: the resource type to ask about, e.g. pods or widgets/status.")
    state = app(ctx)
    ns = None if all_namespaces else await state.namespace(namespace)
    return await core.check_access(
        state.kube,
        state.discovery,
        verb=verb,
        resource=asked,
        group=group,
        namespace=ns,
        name=check_name(name) if name else None,
    )


TOOLS: list[ToolSpec] = [
    spec(list_api_resources, title="List API resource types", read_only=True),
    spec(list_namespaces, title="List namespaces", read_only=True),
    spec(check_access, title="Check access", read_only=True),
]
