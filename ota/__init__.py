"""Over-the-air updates: signed bundles, A/B slots, health check, rollback (issue 4).

So far: the bundle format (``ota.bundle``: reproducible, manifest with
checksums, checked before anything is unpacked), its errors (``ota.errors``)
and ``hotspot ota build``. TUF verification, slots, rollback and rollout follow.
"""
