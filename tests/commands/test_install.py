"""A non-editable install from a built wheel, in a fresh virtual environment, works from any directory.

The wheel is built from this checkout; its dependencies come from the test environment (a ``.pth`` file
puts that environment's site-packages on the new one's path: nothing is downloaded, and the editable
install of this checkout is not active there, since a ``.pth`` added that way is not itself processed).
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers import REPO_ROOT, resolve_data_dir


def run(cmd: list[str], cwd: Path, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1", **env}
    result = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The ``bin/`` of a fresh venv with seqmodels installed from a wheel of this checkout."""
    root = tmp_path_factory.mktemp("wheel_install")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(root / "dist"),
            str(REPO_ROOT),
        ],
        root,
    )
    (wheel,) = (root / "dist").glob("seqmodels-*.whl")
    venv.create(root / "venv", with_pip=False)
    new_python = root / "venv" / "bin" / "python"
    new_site = run([str(new_python), "-c", "import site; print(site.getsitepackages()[0])"], root).stdout.strip()
    Path(new_site, "dependencies_from_the_test_env.pth").write_text(site.getsitepackages()[0] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(new_python), "install", "-q", "--no-deps", str(wheel)], root)
    return root / "venv" / "bin"


@pytest.mark.slow
def test_the_installed_package_is_the_wheel_not_the_checkout(installed, tmp_path):
    out = run([str(installed / "python"), "-c", "import seqmodels; print(seqmodels.__file__)"], tmp_path).stdout
    assert str(installed.parent) in out and str(REPO_ROOT) not in out


@pytest.mark.slow
def test_the_installed_console_script_composes_from_an_unrelated_directory(installed, tmp_path):
    out = run([str(installed / "seqmodels-train"), "--cfg", "job", "experiment=ptb_word_lstm_small"], tmp_path).stdout
    cfg = OmegaConf.create(out)
    assert cfg.name == "ptb_word_lstm_small" and cfg.model.hidden_size == 200


@pytest.mark.slow
def test_the_installed_console_script_trains_from_an_unrelated_directory(installed, tmp_path):
    out = run(
        [
            str(installed / "seqmodels-train"),
            "debug=fast",
            f"paths.log_dir={tmp_path / 'logs'}",
            "~callbacks.rich_progress_bar",
            "sample.max_new_tokens=20",
        ],
        tmp_path,
        SEQMODELS_CACHE_DIR=str(tmp_path / "cache"),
        SEQMODELS_DATA_DIR=str(resolve_data_dir()),
    ).stdout
    assert "Last checkpoint:" in out
    assert list((tmp_path / "logs").rglob("last.ckpt")), "the run wrote its checkpoint under paths.log_dir"
