"""What the interface says, as message ids: errors, fingers, outcomes, notices, advice.

Every text an officer can see is a gettext message id marked with ``N_`` (here,
in the capture chains' quality modules) or ``_`` (in the page template), and
is translated where it is shown (:mod:`firmware.ui.i18n`). Errors are words
for codes that the application raises (``firmware.officer.workflow.error_code``):
each says what happened and what to do, in one sentence or two.
"""

from __future__ import annotations

from firmware.text import N_

ERRORS = {
    "no_finger": N_(
        "No finger was placed on the sensor in time. Press Capture again and lay the finger "
        "flat on the glass."
    ),
    "sensor_fault": N_(
        "The fingerprint sensor does not answer. Press Capture again; if it keeps failing, "
        "restart the device and report the sensor."
    ),
    "bad_image": N_(
        "The sensor could not form a usable image. Wipe the glass and the finger, then take "
        "the print again."
    ),
    "camera": N_(
        "The camera does not answer. Check nothing covers it and try again; fingerprints "
        "alone can still be sent."
    ),
    "no_face": N_(
        "No face was found. Point the camera at the person's face, 0.5 to 1.5 m away, and "
        "try again, or skip the face."
    ),
    "outbox_full": N_(
        "The device's storage is full: this check was NOT stored. Move to coverage so "
        "queued checks can be sent, then take it again."
    ),
    "secure_element": N_(
        "The security chip does not answer, so the check cannot be sealed. Restart the "
        "device; if it persists, stop using it and report it."
    ),
    "battery_low": N_(
        "The battery is low. Charge the device soon; checks already queued are safe."
    ),
    "fingers_missing": N_("Capture and accept every chosen finger before you send the check."),
    "not_captured": N_("Capture this finger first."),
    "no_check": N_("There is no check open. Start a new check."),
    "busy": N_("A capture is still running. Wait for it to finish."),
    "wrong_pin": N_("Wrong officer ID or PIN. Check both and try again."),
    "locked_out": N_(
        "Too many wrong PINs: sign-in for this officer is blocked until {time}. Ask your "
        "supervisor if you need the device now."
    ),
    "session_expired": N_("Your session has ended. Sign in again."),
    "restarted": N_(
        "The device restarted: the check in progress was not sent. Take it again; sent and "
        "queued checks are safe."
    ),
    "internal": N_(
        "Something went wrong inside the device. Try again; if it happens again, restart the "
        "device. Queued checks are safe."
    ),
    "unreachable": N_(
        "The device's service did not answer. Try again; if it happens again, restart the "
        "device. Queued checks are safe."
    ),
}

FINGERS = {
    1: N_("right thumb"),
    2: N_("right index finger"),
    3: N_("right middle finger"),
    4: N_("right ring finger"),
    5: N_("right little finger"),
    6: N_("left thumb"),
    7: N_("left index finger"),
    8: N_("left middle finger"),
    9: N_("left ring finger"),
    10: N_("left little finger"),
}
"""ISO/IEC 19794-2 finger positions."""

OUTCOMES = {
    "hit": N_("HIT"),
    "possible_match": N_("Possible match — being verified"),
    "no_hit": N_("No hit"),
    "rejected": N_("Not processed"),
}

STATES = {"queued": N_("queued"), "sent": N_("sent"), "answered": N_("answered")}

MODALITIES = {"fingerprint": N_("fingerprint"), "face": N_("face")}

NOTICES = {
    "red-notice": N_("INTERPOL Red Notice: wanted for arrest"),
    "yellow-notice": N_("INTERPOL Yellow Notice: missing person"),
    "blue-notice": N_("INTERPOL Blue Notice: information sought"),
    "green-notice": N_("INTERPOL Green Notice: warning about a person"),
    "orange-notice": N_("INTERPOL Orange Notice: imminent threat"),
    "black-notice": N_("INTERPOL Black Notice: unidentified body"),
    "purple-notice": N_("INTERPOL Purple Notice: modus operandi"),
    "diffusion": N_("INTERPOL diffusion"),
    "un-notice": N_("INTERPOL–UN Security Council Special Notice"),
}

ACTIONS = {
    "red-notice": N_(
        "Detain the person safely and call your supervisor now. Do not tell the person why. "
        "Keep the case reference."
    ),
    "yellow-notice": N_(
        "Keep the person safe and with you, and call your supervisor now. The person may be "
        "a victim."
    ),
    "orange-notice": N_("Keep your distance, secure the area and call your supervisor now."),
}
DEFAULT_ACTION = N_(
    "Hold the person, do not tell them why, and call your supervisor now for what the notice "
    "requires."
)
POSSIBLE_ACTION = N_(
    "Do not act on this yet: an examiner is verifying it. Keep the person with you if you "
    "lawfully can; the verified answer will come to this device."
)
