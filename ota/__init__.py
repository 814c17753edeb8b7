"""Over-the-air updates: signed bundles, A/B slots, health check, rollback (issue 4).

Empty until that issue lands; the package exists so the layout and the type
checks are in place.
"""
