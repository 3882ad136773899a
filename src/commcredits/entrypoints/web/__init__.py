"""The web admin center: server-rendered pages (Jinja2 + HTMX) on the same services as the API."""
