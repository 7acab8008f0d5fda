"""The embedded API server: the verbs over an in-memory store, served over HTTP by aiohttp."""
