"""Health-check reports: checks derived from the catalog plus ``healthchecks/`` data, probed
concurrently, rendered as table/JSON/Markdown/HTML, stored as history, notified on change.

Entry point for callers: :func:`.service.report_for` (used by ``zixly health``).
"""
