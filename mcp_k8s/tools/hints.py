"""The ways out that name a tool or a parameter, worded here because only tools/ knows those names.

errors.py and kube/ raise an error with a `Hint` (which remedy, and the fact it follows) and a sentence of their
own without tool names, for logs and the cache's status; a tool's boundary answers with `sentence(error)` instead.
"""

from __future__ import annotations

from mcp_k8s import errors
from mcp_k8s.errors import Remedy

_WORDED: dict[Remedy, str] = {
    Remedy.CHECK_ACCESS: "{fact}; ask for that RBAC permission, or call check_access to see what is allowed.",
    Remedy.FIND_TYPE: "{fact}; check the resource type with list_api_resources (its CRD may not be installed).",
    Remedy.FORCE_APPLY: "{fact}; to take ownership of those fields, apply again with force_conflicts=true (or leave "
    "them out of the apply).",
    Remedy.LIST_TYPES: "{fact} list_api_resources shows every type (its CRD may not be installed).",
    Remedy.NO_TYPE: "plural is empty; give a resource type such as 'widgets' or 'Widget'.",
    Remedy.NO_VERB: "verb is empty; use get, list, watch, create, update, patch, delete or '*'.",
    Remedy.NAME_CONTAINER: "{fact}; pass container= one of them.",
    Remedy.UPDATE_SECRET: "{fact}; change it with update_secret, or choose another name.",
    Remedy.NAME_NEEDS_TYPE: "name needs plural (the kind of the object, e.g. plural='widgets' or 'Widget').",
    Remedy.NOTHING_TO_UPDATE: "{fact}; give data, generate, remove_keys or labels.",
}


def sentence(error: errors.K8sError) -> str:
    """The error as a tool says it: its own sentence, or its fact followed by the remedy in tool words."""
    hint = error.hint
    return error.message if hint is None else _WORDED[hint.remedy].format(fact=hint.fact)
