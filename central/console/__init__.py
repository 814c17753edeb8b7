"""The operations console (``hotspot central console``): a web application over TLS for
central's staff — the fleet, and the examiners' verification of possible matches."""
