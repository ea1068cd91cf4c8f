"""Documented paths under ``/{customerId}``: used only when the API gives no ``_links``."""

from __future__ import annotations

from urllib.parse import quote

SUBSCRIPTIONS = "/webhooks/subscriptions"


def _seg(value: str) -> str:
    if not value or not value.strip():
        raise ValueError("an id in the path is empty")
    return quote(value, safe="")


def subscription(sid: str) -> str:
    return f"{SUBSCRIPTIONS}/{_seg(sid)}"


def summary(sid: str) -> str:
    return subscription(sid) + "/summary"


def events(sid: str) -> str:
    return subscription(sid) + "/events"


def event(sid: str, eid: str) -> str:
    return f"{events(sid)}/{_seg(eid)}"


def exports(sid: str) -> str:
    return events(sid) + "/exports"


def export(sid: str, job_id: str) -> str:
    return f"{exports(sid)}/{_seg(job_id)}"


def download(sid: str, job_id: str) -> str:
    return export(sid, job_id) + "/download"
