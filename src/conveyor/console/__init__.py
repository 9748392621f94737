"""The web console: `conveyor ui` (a JSON API under /api/ and one page)."""
