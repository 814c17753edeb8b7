"""``hotspot demo --update`` end to end: rollout, model-only delta, automatic rollback, halt."""

from __future__ import annotations

import io

from hil import update_demo


def test_update_demo_commits_one_release_and_rolls_back_the_broken_one() -> None:
    out = io.StringIO()
    figures = update_demo.run(out)
    text = out.getvalue()
    assert figures["ok"], text
    assert figures["model_only_update_bytes"] == 1 << 20  # the changed model, nothing else
    assert figures["model_only_update_bytes"] < figures["bundle_bytes"] / 2
    assert "1.1.0 committed" in text
    assert "back on the good slot by itself" in text and "halted" in text
    assert "outbox intact" in text
