"""The central gateway: ingest, verify, deduplicate, match, answer (issue 6).

Empty until that issue lands. It never imports ``firmware``: both sides share
only the wire schema.
"""
