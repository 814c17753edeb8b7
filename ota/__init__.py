"""Over-the-air updates of the device application and its models (issue 4).

Publishing: ``bundle`` (reproducible bundle, manifest with checksums),
``repository`` (TUF metadata, threshold-signed root, key rotation, expiry),
``serve`` (static HTTP with ranges). Device: ``client`` (ngclient plus
resumable, length-bounded downloads), ``install`` (fetch only what changed,
verify, unpack into the inactive slot, switch), ``slots``/``state``/``layout``
(A/B slots, atomic switch), ``boot`` and ``health`` (the guard: boot count,
health check, commit or rollback), ``antirollback`` (the floor, file or
secure-element counter), ``agent`` (follows the rollout over MQTT), ``rootfs``
(install-root and the systemd units). Fleet: ``rollout`` (waves, halt on
failure rate). ``faults`` names the steps the power-cut tests kill.
"""
