"""Every CXR_* variable the code reads is in the options table, documented in the README, and a
malformed value stops the start with the variable's name instead of being guessed."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from app.platform import options
from tests.shared_data import REPO

NAME = re.compile(r"\bCXR_[A-Z_]+\b")


def names_in_code() -> set[str]:
    files = [REPO / "launcher.py", *(REPO / "app").rglob("*.py")]
    return {name for file in files for name in NAME.findall(file.read_text(encoding="utf-8"))}


def test_every_variable_the_code_reads_is_in_the_table() -> None:
    assert names_in_code() <= set(options.BY_NAME), names_in_code() - set(options.BY_NAME)


def test_the_readme_carries_the_table() -> None:
    assert options.table() in (REPO / "README.md").read_text(encoding="utf-8"), "paste `python -m app.platform.options` into README's Options section"


@pytest.mark.parametrize(("name", "raw", "expected"), [("CXR_DEBUG", "yes", True), ("CXR_DEBUG", "0", False), ("CXR_DISK_RESERVE_MB", " 50 ", 50), ("CXR_DICOM_PORT", "", 0)])
def test_values_are_typed(name: str, raw: str, expected: object) -> None:
    assert options.read(name, {name: raw}) == expected


@pytest.mark.parametrize(("name", "raw"), [("CXR_DEBUG", "maybe"), ("CXR_DISK_RESERVE_MB", "lots"), ("CXR_INFERENCE_BACKEND", "cuda")])
def test_a_malformed_value_is_refused_with_its_name(name: str, raw: str) -> None:
    with pytest.raises(options.OptionError, match=name):
        options.read(name, {name: raw})


def test_the_app_does_not_start_on_a_malformed_value(tmp_path) -> None:  # noqa: ANN001
    done = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "check"], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "CXR_DATA_DIR": str(tmp_path), "CXR_DISK_RESERVE_MB": "lots", "DJANGO_SETTINGS_MODULE": "app.settings"},
    )
    assert done.returncode != 0
    assert "CXR_DISK_RESERVE_MB must be a whole number" in done.stderr
