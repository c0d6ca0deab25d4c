"""`python -m mcp_k8s` runs the CLI, so the server starts the same way with or without the console script."""

from mcp_k8s.cli import main

main()
