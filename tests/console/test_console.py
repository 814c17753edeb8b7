"""The operations console in a real browser (Debian's Chromium through Playwright), over TLS
from the fleet CA, against a real central database."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import pytest

from central.broker import free_port
from central.console.accounts import MAX_FAILURES, Accounts
from central.console.app import create_app
from central.console.server import ConsoleServer
from central.ledger import AuditEntry
from central.provision import FleetCA, FleetLayout
from central.store import Store
from central.verification import Evidence, Side
from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer
from hal.phantoms import fingerprint as fp
from hil.device_run import secure_element
from hotspot.cli import main
from wire.record import uuid7

PASSWORD = "correct horse battery"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"


@dataclass
class Console:
    store: Store
    server: ConsoleServer
    ca: Path
    record: bytes


def _template(finger: int, impression: int) -> bytes:
    image = fp.impression(fp.identity(finger, seed=5), impression, difficulty=0.3)
    return FingerprintAnalyzer().analyse(image).record(position=7).encode()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    fleet = tmp_path_factory.mktemp("console") / "fleet"
    assert main(["provision", "--dir", str(fleet), "--port", str(free_port())]) == 0
    layout = FleetLayout(fleet)
    store = Store.open(layout.database_url)
    store.registry.add("hh-0042", secure_element().public_key(0))
    accounts = Accounts(store.db)
    for name, role in (("eva", "examiner"), ("victor", "viewer"), ("lock-me", "viewer")):
        accounts.add(name, role, PASSWORD)
    record = uuid7()
    evidence = Evidence(Side(((7, _template(1, 2)),)), Side(((7, _template(1, 0)),)), (0.21,), None)
    store.verification.enqueue(record, "hh-0042", "WL-77", "red-notice", 3e-5, ("fingerprint",),
                               evidence)  # fmt: skip
    # A device that reported, and a short operation in the audit (3 checks, 1 HIT).
    now = int(time.time() * 1000)
    for minutes, lat in ((30, 42.00), (20, 42.01), (10, 42.02)):
        store.ledger.store_telemetry("hh-0042", cbor2.dumps({
            "v": 1, "at": now - minutes * 60_000, "training": False, "backlog": 2,
            "backlog_age_s": 40, "fw": "1.0.0", "battery": {"soc": 81.0, "volts": 3.9},
            "link": {"up": True, "dbm": -71}, "gnss": [lat, 21.43],
        }), backlog_age_s=40)  # fmt: skip
    for number, outcome in enumerate(("hit", "no_hit", "no_hit")):
        store.ledger.insert_audit(
            AuditEntry(
                "answered",
                "hh-0042",
                f"r{number}",
                outcome,
                "WL-1" if outcome == "hit" else None,
                officer="officer-1",
                operation="OP-1",
                notice="red-notice" if outcome == "hit" else None,
                modalities="fingerprint" if outcome == "hit" else None,
                captured_ms=now - 5000,
            )
        )
    accounts.add("ada", "administrator", PASSWORD)
    accounts.add("sam", "supervisor", PASSWORD)
    creds = FleetCA(layout.ca_dir).issue("console", layout.console_tls, server=True)
    server = ConsoleServer(
        create_app(store, layout), "127.0.0.1", free_port(), creds.cert, creds.key
    )
    server.start()
    yield Console(store, server, layout.ca_dir / "ca.pem", record)
    server.stop()


@pytest.fixture
def page(browser: Any, console: Console) -> Iterator[Any]:
    # The fleet CA is not in Chromium's store; the TLS test below verifies the chain.
    context = browser.new_context(ignore_https_errors=True, locale="en-GB")
    context.set_default_timeout(20_000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Any, console: Console, name: str, password: str = PASSWORD) -> None:
    page.goto(console.server.url + "login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def image_widths(page: Any, selector: str) -> list[int]:
    """The natural widths of the images ``selector`` finds, once every one has loaded."""
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(i => i.complete && i.naturalWidth > 0)",
        arg=selector,
    )
    widths: list[int] = page.eval_on_selector_all(selector, "imgs => imgs.map(i => i.naturalWidth)")
    return widths


def test_the_certificate_is_the_fleet_cas_and_names_the_address(console: Console) -> None:
    context = ssl.create_default_context(cafile=str(console.ca))
    with (
        socket.create_connection(("127.0.0.1", console.server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_an_examiner_sees_both_sides_and_confirms(page: Any, console: Console) -> None:
    sign_in(page, console, "eva")
    page.wait_for_selector("#fleet")
    assert "hh-0042" in page.inner_text("#fleet")
    page.click("text=possible match(es) waiting")
    page.click(f"a[href='/verification/{console.record.hex()}']")
    page.wait_for_selector("#sheet")
    assert image_widths(page, "#sheet")[0] > 300  # both minutiae plots drawn
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "verification.png"), full_page=True)
    sheet = console.server.url + f"verification/{console.record.hex()}/sheet.png"
    response = page.request.get(sheet)
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.fill("input[name=note]", "ridge detail agrees")
    page.click("button[value=confirm]")
    page.wait_for_selector("#decided")
    assert "eva" in page.inner_text("#decided") and "confirmed" in page.inner_text("#decided")
    audit = console.store.db.query("SELECT event, actor, detail FROM audit")
    assert ("verified", "eva", "ridge detail agrees") in audit
    assert any(e == "evidence viewed" and a == "eva" for e, a, _ in audit)


def test_a_viewer_cannot_verify(page: Any, console: Console) -> None:
    sign_in(page, console, "victor")
    page.wait_for_selector("#fleet")
    page.goto(console.server.url + f"verification/{console.record.hex()}")
    assert "needs the examiner role" in page.inner_text("main")
    sheet = page.request.get(console.server.url + f"verification/{console.record.hex()}/sheet.png")
    assert sheet.status == 403


def test_a_form_without_the_session_token_is_refused(console: Console) -> None:
    token, _ = Accounts(console.store.db).sign_in("eva", PASSWORD)
    context = ssl.create_default_context(cafile=str(console.ca))
    request = urllib.request.Request(
        console.server.url + f"verification/{console.record.hex()}",
        data=b"action=reject&csrf=forged",
        headers={"Cookie": f"hotspot_console={token}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, context=context)
    assert refused.value.code == 403


def test_wrong_passwords_lock_the_account(page: Any, console: Console) -> None:
    for _ in range(MAX_FAILURES - 1):
        sign_in(page, console, "lock-me", "not the password")
        assert "wrong account name or password" in page.inner_text(".error")
    sign_in(page, console, "lock-me", "not the password")
    assert "locked for 15 minutes" in page.inner_text(".error")
    sign_in(page, console, "lock-me")  # the right password, too late
    assert "locked" in page.inner_text(".error")
    assert page.url.endswith("/login")


def test_the_fleet_its_map_and_a_devices_history(page: Any, console: Console) -> None:
    sign_in(page, console, "victor")
    page.wait_for_selector("#fleet")
    row = page.inner_text("#fleet")
    assert "hh-0042" in row and "81 %" in row and "-71 dBm" in row and "40 s" in row
    assert image_widths(page, "#map") == [image_widths(page, "#map")[0]] and (
        image_widths(page, "#map")[0] > 300
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "fleet.png"), full_page=True)
    page.click("a[href='/devices/hh-0042']")
    page.wait_for_selector("img.history")
    widths = image_widths(page, "img.history")
    assert len(widths) == 3 and min(widths) > 300


def test_the_operation_report_and_its_csv(page: Any, console: Console) -> None:
    sign_in(page, console, "victor")
    page.wait_for_selector("#fleet")
    page.click("a[href='/reports']")
    page.click("a[href='/reports/OP-1']")
    assert page.inner_text("#checks") == "3" and page.inner_text("#outcome-hit") == "1"
    assert "hh-0042 40 s" in page.inner_text("#summary")
    assert min(image_widths(page, "img.chart")) > 300
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#csv")
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[-1].startswith("OP-1,all,all,3,1")


def test_a_viewer_cannot_revoke_a_device_and_an_administrator_can(
    page: Any, console: Console
) -> None:
    sign_in(page, console, "victor")
    page.goto(console.server.url + "devices")
    assert page.query_selector("button.revoke") is None
    csrf = console.store.db.one(
        "SELECT csrf FROM console_sessions WHERE account = 'victor' ORDER BY expires_ms DESC"
    )[0]  # type: ignore[index]
    refused = page.request.post(
        console.server.url + "devices/revoke", form={"device": "hh-0042", "csrf": csrf}
    )
    assert refused.status == 403 and "administrator" in refused.text()
    assert not console.store.registry.all()[0].revoked
    context = page.context
    context.clear_cookies()
    sign_in(page, console, "ada")
    page.goto(console.server.url + "devices")
    page.click("button.revoke")
    page.wait_for_selector("#devices")
    assert "revoked" in page.inner_text("#devices")
    audit = console.store.db.query("SELECT event, actor FROM audit WHERE event = 'device revoked'")
    assert audit == [("device revoked", "ada")]


def test_a_supervisor_adds_a_person_and_garbage_is_refused(
    page: Any, console: Console, tmp_path: Path
) -> None:
    template = tmp_path / "right-index.ist"
    template.write_bytes(_template(3, 0))
    garbage = tmp_path / "photo.jpg"
    garbage.write_bytes(b"\xff\xd8 not a template at all")
    sign_in(page, console, "victor")
    page.goto(console.server.url + "watchlist")
    assert page.query_selector("#add-person") is None  # a viewer only looks
    page.context.clear_cookies()
    sign_in(page, console, "sam")
    page.goto(console.server.url + "watchlist")
    page.click("#add-person summary")
    page.fill("input[name=reference]", "WL-CONSOLE-1")
    page.select_option("select[name=notice]", "red-notice")
    page.fill("input[name=position0]", "7")
    page.set_input_files("input[name=finger0]", str(template))
    page.screenshot(path=str(ARTIFACTS / "watchlist-add.png"), full_page=True)
    page.click("#add-person button[type=submit]")
    page.wait_for_selector("#watchlist")
    assert "WL-CONSOLE-1" in page.inner_text("#watchlist")
    entry = next(e for e in console.store.watchlist.entries() if e.reference == "WL-CONSOLE-1")
    assert entry.notice == "red-notice" and entry.fingers == ((7, template.read_bytes()),)
    audit = console.store.db.query(
        "SELECT event, actor FROM audit WHERE reference = 'WL-CONSOLE-1'"
    )
    assert audit == [("watchlist add", "sam")]
    # A file that is not a template: refused with what is wrong, nothing stored.
    page.goto(console.server.url + "watchlist")
    page.click("#add-person summary")
    page.fill("input[name=reference]", "WL-CONSOLE-2")
    page.fill("input[name=position0]", "2")
    page.set_input_files("input[name=finger0]", str(garbage))
    with page.expect_response(lambda r: r.url.endswith("/watchlist/add")) as answer:
        page.click("#add-person button[type=submit]")
    assert answer.value.status == 400
    page.screenshot(path=str(ARTIFACTS / "watchlist-refused.png"), full_page=True)
    refusal = page.inner_text("main")
    assert "WL-CONSOLE-2" in refusal and "not an ISO/IEC 19794-2 record" in refusal
    page.click("text=Back to the watchlist")  # back to the form, not to the fleet
    page.wait_for_selector("#add-person")
    assert all(e.reference != "WL-CONSOLE-2" for e in console.store.watchlist.entries())


def test_an_administrator_enrols_a_handheld_and_downloads_its_bundle(
    page: Any, console: Console, tmp_path: Path
) -> None:
    from firmware import config as config_mod
    from firmware.enrol import make_request
    from wire.enrolment import ProvisioningBundle

    folder = tmp_path / "hh-0107"
    folder.mkdir()
    config = folder / "device.toml"
    config.write_text(
        config_mod.default_text().replace(
            "[device]\nemulated = true\n", '[device]\nemulated = true\nid = "hh-0107"\n', 1
        )
    )
    request, key = make_request(config_mod.load(config), secure_element())
    request_file = folder / "hh-0107.request.json"
    request_file.write_bytes(request.encode())
    sign_in(page, console, "sam")
    page.goto(console.server.url + "devices")
    assert page.query_selector("#enrol-device") is None  # administrators only
    page.context.clear_cookies()
    sign_in(page, console, "ada")
    page.goto(console.server.url + "devices")
    page.click("#enrol-device summary")
    page.set_input_files("input[name=request]", str(request_file))
    page.fill("input[name=broker]", "10.0.0.2:8883")
    page.fill("input[name=group]", "pilot")
    page.screenshot(path=str(ARTIFACTS / "enrol.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#enrol-device button[type=submit]")
    bundle = ProvisioningBundle.decode(Path(download.value.path()).read_bytes())
    assert bundle.device_id == "hh-0107"
    assert key.read_bytes() not in Path(download.value.path()).read_bytes()  # keys stay home
    page.goto(console.server.url + "devices")
    assert "hh-0107" in page.inner_text("#devices")
    audit = console.store.db.query(
        "SELECT event, actor FROM audit WHERE event = 'device enrolled' AND device_id = 'hh-0107'"
    )
    assert audit == [("device enrolled", "ada")]
