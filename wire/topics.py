"""MQTT topics of HOTSPOT (version 1). Each device is confined to its own subtree."""

from __future__ import annotations

import re

PREFIX = "hotspot/v1"
DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$")
"""Device ids double as certificate CNs and topic levels: no '/', '+', '#'."""


def check_device_id(device_id: str) -> str:
    if not DEVICE_ID.fullmatch(device_id):
        raise ValueError(
            f"device id {device_id!r} must be 3-64 letters, digits, '-' or '_' "
            "and start with a letter or digit"
        )
    return device_id


def records(device_id: str) -> str:
    return f"{PREFIX}/{check_device_id(device_id)}/records"


def results(device_id: str) -> str:
    return f"{PREFIX}/{check_device_id(device_id)}/results"


TELEMETRY_KINDS = ("app", "update")
"""Telemetry sub-topics: the device service's report and the update agent's, each on its own
topic so that neither overwrites the other."""


def telemetry(device_id: str, kind: str = "app") -> str:
    if kind not in TELEMETRY_KINDS:
        raise ValueError(f"telemetry kind {kind!r} is not one of {TELEMETRY_KINDS}")
    return f"{PREFIX}/{check_device_id(device_id)}/telemetry/{kind}"


def release(group: str) -> str:
    """Where the central side announces the target release of a device group (retained)."""
    return f"{PREFIX}/ota/{check_device_id(group)}/release"


RECORDS_SHARED = f"$share/central/{PREFIX}/+/records"
"""What the central instances subscribe to: each record goes to one instance."""
TELEMETRY_SHARED = f"$share/central/{PREFIX}/+/telemetry/+"


def device_of(topic: str) -> str:
    """The device id in a records/telemetry topic; ValueError if the topic is not ours."""
    parts = topic.split("/")
    if len(parts) not in (4, 5) or "/".join(parts[:2]) != PREFIX:
        raise ValueError(f"{topic!r} is not a HOTSPOT v1 topic")
    if len(parts) == 5 and (parts[3] != "telemetry" or parts[4] not in TELEMETRY_KINDS):
        raise ValueError(f"{topic!r} is not a HOTSPOT v1 topic")
    return check_device_id(parts[2])


def telemetry_kind(topic: str) -> str:
    """The kind of a telemetry topic (``app`` or ``update``); ValueError if it is not one."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[3] != "telemetry" or parts[4] not in TELEMETRY_KINDS:
        raise ValueError(f"{topic!r} is not a telemetry topic")
    device_of(topic)
    return parts[4]
