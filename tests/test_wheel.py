"""The installed wheel, not the source tree, finds its JSON Schemas and runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = sorted(p.name for p in (REPO / "schemas").glob("*.schema.json"))

PROBE = """
import json, sys
import adapters, migrate
from adapters import schema_registry as s
names = s.names()
for name in names:
    s.load(name)
    s.validator(name)
    s.fast_check(name)
print(json.dumps({
    "schema_dir": str(s.schema_dir()),
    "adapters": adapters.__file__,
    "migrate": migrate.__file__,
    "names": list(names),
    "files": sorted(p.name for p in s.schema_dir().iterdir()),
}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("webhooks_migrate-*.whl")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def run_installed(target: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(target)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_wheel_ships_and_finds_all_schemas(installed: Path, tmp_path: Path) -> None:
    assert len(SCHEMAS) == 8
    result = run_installed(installed, ["-c", PROBE], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    # The installed copies, not the checkout's (the project is also installed editable here).
    for key in ("schema_dir", "adapters", "migrate"):
        assert Path(found[key]).resolve().is_relative_to(installed.resolve()), found
    assert found["files"] == SCHEMAS
    assert found["names"] == [name.removesuffix(".schema.json") for name in SCHEMAS]


def test_the_installed_command_validates_with_its_schemas(installed: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"updatedAt": "2020-01-01T00:00:00Z", "total": 1}), "utf-8")
    result = run_installed(
        installed, ["-m", "migrate", "validate", str(summary), "--as", "summary"], cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr
    assert f"{summary}:1: /succeeded: required property 'succeeded' is missing" in result.stdout
