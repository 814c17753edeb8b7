"""Events and shift lines in the officer's language: texts added, nothing biometric removed.

The application publishes language-neutral events (codes and message ids); each
browser's event stream passes them through :func:`present` with its officer's
language, which adds the words to show. The strings the page's script needs
for what it draws itself (states, labels) come from :func:`client_strings`.
"""

from __future__ import annotations

from typing import Any

from firmware.officer.events import Event
from firmware.text import N_
from firmware.ui import messages as m
from firmware.ui.i18n import Language

CLIENT = {
    "queued": N_("queued"),
    "sent": N_("sent"),
    "answered": N_("answered"),
    "link_up": N_("online"),
    "link_down": N_("no coverage"),
    "no_fix": N_("no GNSS fix"),
    "battery_unknown": N_("battery unknown"),
    "charging": N_("charging"),
    "quality": N_("Quality {score} of 100"),
    "quality_low": N_("Quality {score} of 100 — a re-take is advised"),
    "finger_step": N_("Finger {number} of {count}"),
    "waiting_answer": N_("Sent. Waiting for the answer…"),
    "queued_no_link": N_(
        "Queued: no coverage. The check is stored safely and will be sent when the link returns."
    ),
    "receiving": N_("Receiving the print…"),
    "place_finger": N_("Place the finger on the sensor."),
    "analysing": N_("Analysing…"),
    "face_good": N_("Good photo kept (quality {score} of 100)."),
    "no_checks": N_("No checks in this shift yet."),
    "late_answer": N_("Answer for check {reference} taken at {time}: {outcome}"),
    "no_reference": N_("(no reference)"),
    "acknowledged": N_("acknowledged by {officer} at {time}"),
    "with_face": N_("with face"),
    "training_hit": N_("TRAINING — this is an exercise, not a real hit."),
    "oldest": N_("oldest {age}"),
    "signal": N_("{dbm} dBm"),
    "matched_by": N_("Matched by: {modalities}"),
    "estimated_fmr": N_("Estimated false-match rate: {rate}"),
    "preview_label": N_("Camera preview"),
    "print_label": N_("Fingerprint image"),
}


def client_strings(lang: Language) -> dict[str, Any]:
    strings: dict[str, Any] = {key: lang.gettext(text) for key, text in CLIENT.items()}
    strings["fingers"] = {str(p): lang.gettext(t) for p, t in m.FINGERS.items()}
    strings["outcomes"] = {k: lang.gettext(t) for k, t in m.OUTCOMES.items()}
    strings["errors"] = {k: lang.gettext(t) for k, t in m.ERRORS.items()}
    return strings


def line_texts(line: dict[str, Any], lang: Language) -> dict[str, Any]:
    """A shift line with its words: outcome, notice, what to do, time, fingers."""
    out = dict(line)
    outcome = line.get("outcome")
    notice = line.get("notice")
    out["time_text"] = lang.time(int(line["created_ms"]))
    out["outcome_text"] = lang.gettext(m.OUTCOMES[outcome]) if outcome in m.OUTCOMES else ""
    out["state_text"] = lang.gettext(m.STATES.get(str(line["state"]), str(line["state"])))
    out["notice_text"] = lang.gettext(m.NOTICES[notice]) if notice in m.NOTICES else notice
    if outcome == "hit":
        out["action_text"] = lang.gettext(m.ACTIONS.get(str(notice), m.DEFAULT_ACTION))
    elif outcome == "possible_match":
        out["action_text"] = lang.gettext(m.POSSIBLE_ACTION)
    else:
        out["action_text"] = ""
    out["modalities_text"] = ", ".join(
        lang.gettext(m.MODALITIES[x]) for x in line.get("modalities", []) if x in m.MODALITIES
    )
    out["fingers_text"] = ", ".join(
        lang.gettext(m.FINGERS[p]) for p in line.get("fingers", []) if p in m.FINGERS
    )
    if line.get("acknowledged_ms"):
        out["acknowledged_time_text"] = lang.time(int(line["acknowledged_ms"]))
    return out


def backlog_text(count: int, lang: Language) -> str:
    return lang.ngettext("{count} check waiting", "{count} checks waiting", count).format(
        count=lang.number(count)
    )


def attempts_text(left: int, lang: Language) -> str:
    return lang.ngettext(
        "{count} attempt left before this officer is blocked.",
        "{count} attempts left before this officer is blocked.",
        left,
    ).format(count=lang.number(left))


def status_texts(status: dict[str, Any], lang: Language) -> dict[str, Any]:
    out = dict(status)
    out["backlog_text"] = backlog_text(int(status.get("backlog", 0)), lang)
    return out


def present(event: Event, lang: Language) -> dict[str, Any]:
    """The event's data with the texts the screen shows, in ``lang``."""
    if event.name == "status":
        return status_texts(event.data, lang)
    data = dict(event.data)
    if "guidance" in data:
        data["guidance_text"] = [lang.gettext(g) for g in data["guidance"]]
    if "code" in data:
        data["message"] = lang.gettext(m.ERRORS.get(str(data["code"]), m.ERRORS["internal"]))
    if "position" in data:
        data["finger_text"] = lang.gettext(m.FINGERS.get(int(data["position"]), ""))
    if "line" in data:
        data["line"] = line_texts(data["line"], lang)
    return data
