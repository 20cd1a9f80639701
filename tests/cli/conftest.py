from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def write_csv(tmp_path):
    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text.lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def textdesk(tmp_path):
    """Runs the real ``textdesk`` command in a child process, on its own SQLite data folder."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    src = Path(__file__).resolve().parents[2] / "src"

    def run(*args: str, check: bool = False) -> subprocess.CompletedProcess:
        env = {
            **os.environ,
            "TEXTDESK_DATA_DIR": str(data_dir),
            "TEXTDESK_DATABASE_URL": "",
            "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)
        result = subprocess.run(
            [sys.executable, "-m", "textdesk", *args], env=env, capture_output=True, text=True, timeout=300
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    return run
