"""`python -m mcp_k8s.sandbox [NAME...]`: build the missing control-plane binaries into the cache and print their
paths (what nox runs before the tests). The build itself lives in binaries.py."""

from mcp_k8s.sandbox.binaries import main

main()
