"""The REST API under /api/v1: `create_app(runtime)` builds it."""
