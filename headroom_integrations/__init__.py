"""Framework adapters over `headroom_core`: `headroom_integrations.langchain`, `headroom_integrations.llamaindex`.

Each adapter converts framework objects to the engine's message model and back; the
compression itself always happens in `headroom_core`.
"""
