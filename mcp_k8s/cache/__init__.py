"""The watch cache: stores of custom resources kept current by reflectors (list → replace → watch).

Import from the modules: `cache.store` (no I/O; the read side the tools use), `cache.manager` (`CacheManager`, owns
the reflectors), `cache.reflector` (`ReflectorOptions`), `cache.selectors` (label/field selectors). This package
file imports nothing, so importing the store never drags in kubernetes_asyncio.
"""
