"""The one rule for job and node ids, for every way an id enters: the agent, registration,
the legacy endpoints, the collector's telemetry (auto-registration) and the alert webhook.

An id is stored as it is and addressed as one URL path segment (percent-encoded), so it
may hold any character except those that no path segment or store can carry faithfully:
"/" (a segment separator, even when encoded: proxies and Starlette decode it first), the
dot segments "." and ".." (clients remove them before sending), and control characters
(no line-protocol tag, log line or terminal keeps them intact). 191 characters is the
longest a utf8mb4 primary key indexes in MySQL.
"""

from __future__ import annotations

ID_MAX = 191


def _problem(kind: str, value: object) -> str | None:
    if not isinstance(value, str) or not value or len(value) > ID_MAX:
        return f"{kind} id must be 1 to {ID_MAX} characters"
    if "/" in value:
        return f"{kind} id must not contain '/'"
    if value in (".", ".."):
        return f"{kind} id must not be '.' or '..'"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return f"{kind} id must not contain control characters"
    return None


def job_id_problem(job_id: object) -> str | None:
    """Why ``job_id`` cannot name a job, or None when it can."""
    return _problem("job", job_id)


def node_id_problem(node_id: object) -> str | None:
    """Why ``node_id`` cannot name a node, or None when it can."""
    return _problem("node", node_id)
