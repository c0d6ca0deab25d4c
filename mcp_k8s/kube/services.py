"""Services as rows: type, cluster IP, what is reachable from outside, ports as `name:port→target/protocol`.

The row shaping stays with the resource (as for pods): reading a headless service, a load balancer's ingress or an
ExternalName is knowledge of the Service API; output.py only fits answers to a budget.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.kube.resources import RowLister
from mcp_k8s.objects import age

SERVICES = ResourceType(
    group="", version="v1", plural="services", kind="Service", singular="service", namespaced=True, short_names=("svc",)
)


class ServiceRow(BaseModel):
    name: str
    namespace: str | None = None
    type: str
    cluster_ip: str | None = None
    external: list[str] = Field(default_factory=list, description="External IPs, load-balancer ingress, or name")
    ports: list[str] = Field(
        default_factory=list, description="[name:]port[:nodePort]→targetPort/protocol, e.g. http:80→8080/TCP"
    )
    selector: dict[str, str] | None = Field(
        default=None, description="Pod selector (absent: endpoints managed by hand)"
    )
    age: str | None = None


def _port(p: Mapping[str, Any]) -> str:
    text = f"{p['name']}:" if p.get("name") else ""
    text += str(p.get("port", "?"))
    if p.get("nodePort"):
        text += f":{p['nodePort']}"
    target = p.get("targetPort")
    if target is not None and str(target) != str(p.get("port")):
        text += f"→{target}"
    return f"{text}/{p.get('protocol') or 'TCP'}"


def service_row(svc: Mapping[str, Any], now: dt.datetime | None = None) -> ServiceRow:
    meta = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = [*(spec.get("externalIPs") or []), *(i.get("ip") or i.get("hostname") for i in ingress)]
    if spec.get("externalName"):
        external.append(spec["externalName"])
    cluster_ip = spec.get("clusterIP")
    return ServiceRow(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        type=spec.get("type") or "ClusterIP",
        cluster_ip=cluster_ip if cluster_ip and cluster_ip != "None" else ("None (headless)" if cluster_ip else None),
        external=[str(e) for e in external if e],
        ports=[_port(p) for p in spec.get("ports") or []],
        selector=spec.get("selector") or None,
        age=age(meta.get("creationTimestamp"), now),
    )


list_services = RowLister(SERVICES, service_row)
