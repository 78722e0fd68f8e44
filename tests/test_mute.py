"""muted.json: the mute a restart keeps, and what an unreadable or unwritable one does."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge_asr.mute import MuteFile


def test_saved_mute_is_loaded_by_the_next_process(tmp_path: Path) -> None:
    assert MuteFile(tmp_path).load() is False  # never muted
    MuteFile(tmp_path).save(True)
    assert MuteFile(tmp_path).load() is True
    MuteFile(tmp_path).save(False)
    assert MuteFile(tmp_path).load() is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["muted.json"]  # no temp file left


@pytest.mark.parametrize("content", ["{not json", '{"muted": "yes"}', "[]", '{"mute": true}'])
def test_an_unreadable_file_is_logged_and_starts_unmuted(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "muted.json").write_text(content)
    with caplog.at_level(logging.WARNING, logger="edge_asr.mute"):
        assert MuteFile(tmp_path).load() is False
    assert "muted.json" in caplog.text and "starting unmuted" in caplog.text


def test_an_unwritable_folder_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="edge_asr.mute"):
        MuteFile(tmp_path / "missing").save(True)
    assert "a restart will forget it" in caplog.text
