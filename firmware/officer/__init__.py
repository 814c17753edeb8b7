"""The officer's side of the handheld: sign-in, the shift, the check in progress, events.

Nothing here knows about the web: the interface (``firmware.ui``) calls into
these classes and listens to their events, so the same application could be
driven by another front end, and is by the tests.
"""
