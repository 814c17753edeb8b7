"""``hotspot demo --update`` and ``hotspot bench ota``: a whole fleet update on this machine.

The publisher creates a TUF repository with threshold-signed root and
publishes three releases built from this checkout: 1.0.0 (the factory
image), 1.1.0 (only a model changed) and 1.2.0 (a broken build). A handheld
is laid out with ``install-root`` in a temporary directory (slots, guard,
systemd units, outbox). Over a real Mosquitto with TLS, the central side
rolls 1.1.0 out to the handheld's group: the device agent verifies the
announcement, fetches only the changed model through TUF, switches slots,
passes its health check and commits. Then 1.2.0 goes out: its health check
fails, the device returns to 1.1.0 by itself, and the rollout halts. The
outbox is byte-for-byte the same at the end.

The two model files are 1 MB stand-ins (random bytes, which compress as badly
as real weights) until the fingerprint and face models ship; 1.1.0 changes the
fingerprint one only.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from central.broker import MosquittoBroker
from central.processor import GatewayKeys
from central.provision import FleetCA, central_keys
from ota import boot, bundle, health, settings
from ota.agent import RolloutAgent
from ota.antirollback import FileFloor
from ota.client import UpdateClient
from ota.install import Installer
from ota.layout import Layout
from ota.repository import UpdateRepository
from ota.rollout import Plan, RolloutController, RolloutStore
from ota.rootfs import install_root
from ota.serve import serving
from ota.settings import MqttSettings, OtaSettings
from ota.state import SlotState

MODELS = ("models/fingerprint/leader-stand-in.tflite", "models/face/sface-stand-in.tflite")
DEVICE = "hh-0042"
GROUP = "pilot"


def _release(source: dict[str, bytes], version: str, seed: int, broken: bool = False) -> bytes:
    """This checkout plus two model stand-ins; ``seed`` changes the fingerprint model only."""
    files = dict(source)
    files[MODELS[0]] = random.Random(seed).randbytes(1 << 20)
    files[MODELS[1]] = random.Random(0).randbytes(1 << 20)
    if broken:
        files["app/firmware/health.py"] = b"raise ImportError('this build lost a module')\n"
    return bundle.build(files, version, "1.0.0", ("hotspot-h1",))[1]


def run(out: TextIO | None = None) -> dict[str, Any]:
    """Run the scenario; print it to ``out`` (None: quiet). Returns the measured figures."""

    def say(who: str, text: str) -> None:
        if out is not None:
            print(f"[{who:<9}] {text}", file=out, flush=True)

    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hotspot-update-") as tmp_name:
        tmp = Path(tmp_name)
        source = bundle.collect(Path(bundle.__file__).resolve().parents[1])
        releases = {
            "1.0.0": _release(source, "1.0.0", 1),
            "1.1.0": _release(source, "1.1.0", 2),
            "1.2.0": _release(source, "1.2.0", 2, broken=True),
        }
        repo = UpdateRepository.create(tmp / "repo", tmp / "signing-keys")
        say("publisher", "TUF repository: root 2-of-3 keys, targets, snapshot, timestamp")
        for version, data in releases.items():
            done = repo.publish(data)
            say(
                "publisher",
                f"published {version}: bundle {done.bundle_bytes:,} bytes, "
                f"{done.blobs_added} new files",
            )
        figures["bundle_bytes"] = len(releases["1.1.0"])

        ca = FleetCA.create(tmp / "ca")
        broker = MosquittoBroker(tmp / "broker", ca).start()
        records_key, answers_key = central_keys(tmp / "central-keys")
        keys = GatewayKeys.load(records_key, answers_key)
        with serving(tmp / "repo") as url:
            root = tmp / "handheld"
            creds = ca.issue(DEVICE, tmp / "tls")
            mqtt = MqttSettings(
                DEVICE,
                "127.0.0.1",
                broker.port,
                str(creds.ca),
                str(creds.cert),
                str(creds.key),
                str(answers_key.with_suffix(".pub")),
                GROUP,
            )
            install_root(
                root,
                releases["1.0.0"],
                repo.trusted_root(),
                OtaSettings(url, "hotspot-h1", ["--wait", "0.5", "--emulated"], mqtt=mqtt),
            )
            layout = Layout(root)
            outbox = layout.data / "outbox.db"
            outbox.write_bytes(b"SQLite format 3\0 stand-in: three sealed checks waiting")
            before = hashlib.sha256(outbox.read_bytes()).hexdigest()
            say(
                "handheld",
                f"install-root {root.name}: slot a = 1.0.0, guard and systemd units "
                "in place, 3 checks waiting in the outbox",
            )

            # Time to verify: a fresh device's TUF refresh plus the bundle's checks.
            started = time.perf_counter()
            probe = UpdateClient(tmp / "probe", url, repo.trusted_root())
            probe.refresh()
            bundle.open_bundle(releases["1.1.0"])
            figures["verify_ms"] = round((time.perf_counter() - started) * 1000, 1)

            floor = FileFloor(layout.floor_file)
            cfg = settings.load(layout)
            client = UpdateClient(layout.tuf, url, layout.trusted_root.read_bytes())
            installer = Installer(layout, client, floor, "hotspot-h1")
            moved: dict[str, int] = {}

            def activate() -> None:
                slot = boot.boot(layout, floor)
                say("handheld", f"restart: the guard starts slot {slot} (on trial)")
                verdict = boot.confirm(
                    layout, floor, lambda s: health.check_slot(s, cfg.health_args, 60)
                )
                if verdict.outcome == "installed":
                    say("handheld", f"health check passed: {verdict.version} committed")
                else:
                    say(
                        "handheld",
                        f"health check FAILED ({verdict.reason}): back on the good slot by itself",
                    )

            def report(step: str, done: int, total: int) -> None:
                if step == "download":
                    moved["bytes"] = done

            agent = RolloutAgent(layout, mqtt, installer, activate, retry_s=0.5)
            original = installer.install

            def install(version: str, progress: Any = None) -> Any:
                result = original(version, report)
                say(
                    "handheld",
                    f"{version}: {result.bytes_downloaded:,} bytes over the link "
                    f"via {result.via} ({result.files_reused} files reused), slot {result.slot}",
                )
                moved["bytes"] = result.bytes_downloaded
                return result

            installer.install = install  # type: ignore[method-assign]
            agent.start()
            agent.connected.wait(10)
            store = RolloutStore(tmp / "rollout.db")
            store.assign(GROUP, [DEVICE])
            central = ca.issue("central", tmp / "central-tls")
            controller = RolloutController(
                store,
                keys.sign_digest,
                "127.0.0.1",
                broker.port,
                (str(central.ca), str(central.cert), str(central.key)),
                lambda text: say("central", text),
            )
            try:
                started = time.perf_counter()
                first = controller.run(Plan("1.1.0", [[GROUP]], 0.0, 120))
                figures["download_to_healthy_s"] = round(time.perf_counter() - started, 2)
                figures["model_only_update_bytes"] = moved.get("bytes", 0)
                second = controller.run(Plan("1.2.0", [[GROUP]], 0.0, 120))
            finally:
                controller.close()
                agent.stop()
                broker.stop()
        state = SlotState.load(layout.state_file)
        intact = hashlib.sha256(outbox.read_bytes()).hexdigest() == before
        figures["model_only_ratio"] = round(
            figures["model_only_update_bytes"] / figures["bundle_bytes"], 3
        )
        figures["ok"] = (
            first == "completed"
            and second == "halted"
            and state.good_version == "1.1.0"
            and state.last.get("outcome") == "rolled-back"
            and intact
        )
        say(
            "handheld",
            f"running {state.good_version} from slot {state.good}; anti-rollback "
            f"floor {floor.version()}; outbox {'intact' if intact else 'CHANGED'}",
        )
    return figures


def main(out: TextIO) -> int:
    print("HOTSPOT update demo: TUF repository, broker, one handheld with A/B slots\n", file=out)
    figures = run(out)
    print(
        f"\n1.1.0 rolled out and committed; 1.2.0 failed its health check, rolled back, "
        f"rollout halted. A model-only update moved {figures['model_only_update_bytes']:,} "
        f"bytes of a {figures['bundle_bytes']:,}-byte bundle.",
        file=out,
    )
    return 0 if figures["ok"] else 1
