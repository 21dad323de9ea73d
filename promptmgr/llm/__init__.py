"""The model layer: gateway, backends registry (litellm, embedded llama.cpp), response cache,
errors, tokens and prices, offline switches and the schemas of model calls.

Kept light on purpose: `promptmgr/__init__.py` imports `promptmgr.llm.offline` first thing, so this
file must not import litellm, asyncio-heavy code or llama.cpp. Import the submodules directly
(`from promptmgr.llm.gateway import Gateway`)."""
