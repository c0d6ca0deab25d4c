"""List tools over a kube/ row lister (pods, services, secrets): one signature and one paging path for all of them.

Their parameters, the walk over the allowed namespaces, the byte budget and the continue token are the same for
every such list; what differs is the lister, the answer model, and how a row is shown (`shape`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from mcp_k8s import output
from mcp_k8s.kube.resources import ListPage
from mcp_k8s.tools.base import (
    AllNamespaces,
    AppState,
    ContinueToken,
    Ctx,
    FieldSelector,
    LabelSelector,
    Limit,
    Namespace,
    app,
    paged,
)

ListT = TypeVar("ListT", bound=BaseModel)
Shape = Callable[[Any, bool, AppState], BaseModel]  # (row, all_namespaces, state) → the row as answered


def without_namespace(row: BaseModel, all_namespaces: bool, state: AppState) -> BaseModel:
    """Rows of a single-namespace listing leave the namespace out: the envelope says it once."""
    return row if all_namespaces else row.model_copy(update={"namespace": None})


def row_tool(
    name: str,
    lister: Callable[..., Awaitable[ListPage[Any]]],
    model: type[ListT],
    doc: str,
    *,
    shape: Shape = without_namespace,
    narrow: str = "label_selector, field_selector or a smaller limit",
) -> Callable[..., Awaitable[ListT]]:
    """The list tool `name` (its docstring `doc`, its answer `model`) over `lister`."""

    async def tool(
        ctx: Ctx,
        namespace: Namespace = None,
        all_namespaces: AllNamespaces = False,
        label_selector: LabelSelector = None,
        field_selector: FieldSelector = None,
        limit: Limit = 50,
        continue_token: ContinueToken = None,
    ) -> ListT:
        state = app(ctx)

        async def fetch(ns: str | None, server_token: str | None) -> tuple[list[BaseModel], str | None]:
            page = await lister(
                state.kube,
                ns,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=limit,
                continue_token=server_token,
            )
            return [shape(row, all_namespaces, state) for row in page.items], page.continue_token

        found = await paged(
            state,
            namespace=namespace,
            all_namespaces=all_namespaces,
            namespaced=True,
            continue_token=continue_token,
            fetch=fetch,
            overhead=output.size_of(model(count=0, items=[])),
            narrow=narrow,
        )
        return found.answer(model)

    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = doc
    tool.__annotations__["return"] = model  # the output schema is the model's, not the type variable's
    return tool
