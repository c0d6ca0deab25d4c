"""mcp-k8s: a natively async Model Context Protocol server for Kubernetes with a live watch cache."""

__version__ = "0.1.0"
