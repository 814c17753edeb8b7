"""An officer's shift in the real interface: sign in, checks offline and online, a HIT that
stays until acknowledged, a late answer, languages, a sensor fault, a crash mid-check, no
request leaving the device, PIN lockout. Driven by role and accessible name only."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_fixtures import WANTED_REF, Bench, screenshot, sign_in, take_check

from hil.demo import PIN
from hil.officer import Officer, OfficerError


def test_a_check_without_coverage_is_queued_then_its_late_answer_is_notified(
    page: Any, bench: Bench
) -> None:
    bench.coverage(False)
    try:
        sign_in(page)
        expect(page.get_by_role("banner")).to_contain_text("no coverage")
        said = take_check(page, "Q-OFFLINE-1")
        assert said.startswith("Queued: no coverage")
        page.get_by_role("button", name="Done").click()
        shift = page.get_by_role("list", name="Checks in this shift")
        expect(shift).to_contain_text("Q-OFFLINE-1")
        expect(shift).to_contain_text("queued")
    finally:
        bench.coverage(True)
    notice = page.get_by_role("button", name="Answer for check Q-OFFLINE-1", exact=False)
    expect(notice).to_be_visible(timeout=60_000)
    expect(notice).to_contain_text("No hit")
    expect(page.get_by_role("banner")).to_contain_text("HOTSPOT NET")
    screenshot(page, "late-answer-en")
    notice.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Q-OFFLINE-1")
    expect(page.locator("#result-state")).to_have_text("No hit")


def test_a_watchlisted_person_raises_the_hit_until_it_is_acknowledged(
    page: Any, bench: Bench
) -> None:
    sign_in(page)
    bench.cast.person = "C"
    take_check(page, "Q-HIT-1", face=True)
    hit = page.get_by_role("alertdialog", name="HIT")
    expect(hit).to_be_visible(timeout=60_000)
    expect(hit).to_contain_text(WANTED_REF)
    expect(hit).to_contain_text("INTERPOL Red Notice")
    expect(hit).to_contain_text("Detain the person safely")
    expect(hit).to_contain_text("TRAINING")
    screenshot(page, "hit-en")
    page.reload()  # the HIT is still there after a reload: nothing but the button removes it
    expect(page.get_by_role("alertdialog", name="HIT")).to_be_visible()
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("alertdialog", name="HIT")).to_be_hidden()
    shift = page.get_by_role("list", name="Checks in this shift")
    expect(shift).to_contain_text("acknowledged by officer-1")


@pytest.mark.parametrize(
    ("knob", "words"),
    [
        ("fingerprint.silent", "The fingerprint sensor does not answer"),
        ("fingerprint.no_finger", "No finger was placed on the sensor"),
    ],
)
def test_a_sensor_timeout_says_what_to_do_and_the_officer_can_retry(
    page: Any, bench: Bench, knob: str, words: str
) -> None:
    sign_in(page)
    bench.rig.set_fault(knob, True)
    page.get_by_role("button", name="New check").click()
    page.get_by_role("button", name="Start").click()
    page.get_by_role("button", name="Capture").click()
    alert = page.get_by_role("alert").filter(has_text=words)
    expect(alert).to_be_visible(timeout=30_000)
    screenshot(page, f"sensor-{knob.split('.')[1]}-en")
    bench.rig.set_fault(knob, False)
    page.get_by_role("button", name="Capture").click()
    expect(page.get_by_role("button", name="Accept")).to_be_visible()
    expect(page.get_by_role("alert")).to_be_hidden()  # the message goes once the capture works
    page.get_by_role("button", name="Abandon check").click()


def test_french_and_arabic(browser: Any, bench: Bench) -> None:
    for locale, code, direction, sign_in_text in (
        ("fr-FR", "fr", "ltr", "Se connecter"),
        ("ar-EG", "ar", "rtl", "تسجيل الدخول"),
    ):
        context = browser.new_context(viewport={"width": 800, "height": 480}, locale=locale)
        page = context.new_page()
        page.goto(bench.handheld.url)
        html = page.locator("html")
        expect(html).to_have_attribute("lang", code)
        expect(html).to_have_attribute("dir", direction)
        expect(page.get_by_role("button", name=sign_in_text)).to_be_visible()
        screenshot(page, f"sign-in-{code}")
        officer = page.locator("#officer")
        officer.fill("officer-1")
        page.locator("#pin").fill(PIN)
        page.get_by_role("button", name=sign_in_text).click()
        expect(page.locator("#new-check")).to_be_visible()
        screenshot(page, f"shift-{code}")
        page.locator("#new-check").click()
        page.locator("#choose-start").click()
        page.locator("#finger-capture").click()
        expect(page.locator("#finger-accept")).to_be_visible()
        screenshot(page, f"finger-{code}")
        page.locator("#finger-cancel").click()
        context.close()


def test_the_officer_keeps_the_language_chosen_at_sign_in(browser: Any, bench: Bench) -> None:
    context = browser.new_context(viewport={"width": 720, "height": 1280}, locale="en-GB")
    page = context.new_page()
    page.goto(bench.handheld.url)
    page.get_by_role("combobox", name="Language").select_option("sr_Cyrl")
    expect(page.locator("html")).to_have_attribute("lang", "sr-Cyrl")
    page.locator("#officer").fill("officer-1")
    page.locator("#pin").fill(PIN)
    page.locator("#sign-in-form button[type=submit]").click()
    expect(page.locator("#new-check")).to_be_visible()
    screenshot(page, "shift-sr_Cyrl-portrait")
    context.close()
    again = browser.new_context(viewport={"width": 800, "height": 480}, locale="en-GB")
    page = again.new_page()
    page.goto(bench.handheld.url)
    page.locator("#officer").fill("officer-1")
    page.locator("#pin").fill(PIN)
    page.locator("#sign-in-form button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("lang", "sr-Cyrl")  # remembered
    page.locator("#home-language").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    again.close()


def test_the_service_killed_mid_check_comes_back_to_the_same_shift(page: Any, bench: Bench) -> None:
    sign_in(page)
    take_check(page, "Q-BEFORE-KILL")
    page.get_by_role("button", name="Done").click()
    before = page.get_by_role("list", name="Checks in this shift").get_by_role("listitem").count()
    page.get_by_role("button", name="New check").click()
    page.get_by_role("button", name="Start").click()
    page.get_by_role("button", name="Capture").click()
    expect(page.get_by_role("button", name="Accept")).to_be_visible()
    bench.handheld.kill()  # mid-check: one finger captured, nothing submitted
    bench.handheld.start()
    # The page reconnects by itself, still signed in, and the half check is gone.
    expect(page.get_by_role("button", name="New check")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("alert")).to_contain_text("restarted")
    shift = page.get_by_role("list", name="Checks in this shift")
    expect(shift).to_contain_text("Q-BEFORE-KILL")
    expect(shift.get_by_role("listitem")).to_have_count(before)

    # Killed at any instant while checks are being sent: each is queued whole or not at all.
    bench.coverage(False)
    scripted = Officer(bench.handheld.url)
    scripted.sign_in("officer-2", "1357")
    stop = threading.Event()

    def keep_checking() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            try:
                scripted.check((2,), f"Q-BURST-{number}")
            except (OfficerError, OSError):
                return

    worker = threading.Thread(target=keep_checking)
    worker.start()
    time.sleep(random.uniform(2.0, 6.0))
    bench.handheld.kill()
    stop.set()
    worker.join(30)
    db = sqlite3.connect(bench.handheld.data_dir / "outbox.db")
    try:
        queued = {r[0] for r in db.execute("SELECT id FROM records")}
        answered = {r[0] for r in db.execute("SELECT id FROM answers")}
        listed = {r[0] for r in db.execute("SELECT id FROM checks")}
    finally:
        db.close()
    assert queued <= listed, "a queued check is missing from its shift"
    assert listed <= queued | answered, "a listed check was never queued"
    bench.handheld.start()
    bench.coverage(True)


def test_nothing_is_requested_outside_the_device(browser: Any, bench: Bench) -> None:
    context = browser.new_context(viewport={"width": 800, "height": 480})
    outside: list[str] = []
    inside: list[str] = []
    origin = bench.handheld.url.rstrip("/")

    def route(route: Any) -> None:
        url = route.request.url
        if url.startswith(origin) or url.startswith("data:"):
            inside.append(url)
            route.continue_()
        else:  # the network beyond the device is cut
            outside.append(url)
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(bench.handheld.url)
    sign_in(page)
    take_check(page, "Q-OFFLINE-ASSETS", face=True)
    context.close()
    assert outside == []
    assert any(url.endswith("/static/app.js") for url in inside)


def test_biometric_data_is_never_cacheable(bench: Bench) -> None:
    import urllib.request

    officer = Officer(bench.handheld.url)
    officer.sign_in("officer-1", PIN)
    with urllib.request.urlopen(bench.handheld.url) as response:
        assert response.headers["Cache-Control"] == "no-store"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    officer.call("/api/check/begin", {"fingers": [2]})
    officer.call("/api/check/finger", {"position": 2})
    rows = officer.wait_for("finger.rows", timeout_s=30)
    assert rows["png"]  # the print travels in the event stream only, which is never cached
    officer.wait_for("finger.done", timeout_s=30)
    officer.call("/api/check/abandon")
    officer.close()


def test_pin_lockout(page: Any, bench: Bench) -> None:
    for attempt in range(5):
        page.get_by_role("textbox", name="Officer ID").fill("officer-3")
        page.get_by_role("textbox", name="PIN").fill("0000")
        page.get_by_role("button", name="Sign in").click()
        alert = page.get_by_role("alert")
        if attempt < 4:
            expect(alert).to_contain_text(f"{4 - attempt} attempt")
    expect(page.get_by_role("alert")).to_contain_text("blocked until")
    page.get_by_role("textbox", name="Officer ID").fill("officer-3")
    page.get_by_role("textbox", name="PIN").fill("9753")  # the right PIN, but blocked
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("blocked until")
    expect(page.get_by_role("button", name="New check")).to_be_hidden()
    screenshot(page, "lockout-en")


def test_a_service_that_does_not_answer_is_said_in_the_officers_words(
    browser: Any, bench: Bench
) -> None:
    for locale, code, sign_in_text, said in (
        ("en-GB", "en", "Sign in", "The device's service did not answer. Try again"),
        ("fr-FR", "fr", "Se connecter", "Le service de l'appareil n'a pas répondu. Réessayez"),
        ("ar-EG", "ar", "تسجيل الدخول", "لم تستجب خدمة الجهاز. حاول مرة أخرى"),
    ):
        context = browser.new_context(viewport={"width": 800, "height": 480}, locale=locale)
        page = context.new_page()
        page.goto(bench.handheld.url)
        page.route("**/api/sign-in", lambda route: route.abort("connectionreset"))
        page.locator("#officer").fill("officer-2")
        page.locator("#pin").fill("1357")
        page.get_by_role("button", name=sign_in_text).click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text(said)
        expect(alert).not_to_contain_text("fetch")
        screenshot(page, f"no-answer-{code}")
        page.unroute("**/api/sign-in")
        page.locator("#pin").fill("1357")  # the form clears the PIN after a failed sign-in
        page.get_by_role("button", name=sign_in_text).click()  # the service is there again
        expect(page.locator("#new-check")).to_be_visible()
        context.close()


def test_an_idle_browser_connection_stays_open_past_a_pause(bench: Bench) -> None:
    """A browser reuses an idle connection for minutes; had the service closed it after a few
    seconds (uvicorn's default is 5), a request sent as it closed would fail in the browser."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(bench.handheld.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    connection.request("GET", "/static/app.css")
    first = connection.getresponse()
    first.read()
    assert first.status == 200
    assert connection.sock is not None
    local = connection.sock.getsockname()
    time.sleep(6.5)
    connection.request("GET", "/static/app.css")
    second = connection.getresponse()  # RemoteDisconnected had the service closed it
    second.read()
    assert second.status == 200 and connection.sock.getsockname() == local
    connection.close()
