"""``faaskit package`` as a user runs it: one clear line and a non-zero exit for each
mistake, nothing written when it fails, and a summary of what was written."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.packaging.support import SHOP, run_faaskit


def one_error_line(done: object) -> str:
    stderr: str = done.stderr  # type: ignore[attr-defined]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("faaskit: error: ")
    assert "Traceback" not in stderr
    return lines[0]


def test_a_bad_app_path_is_one_line(tmp_path: Path) -> None:
    done = run_faaskit(
        "package", "no/such/app", "--target", "aws-sam", "--out", str(tmp_path / "o")
    )

    assert done.returncode != 0
    assert "cannot find app 'no/such/app'" in one_error_line(done)
    assert not (tmp_path / "o").exists()


def test_an_unknown_target_is_one_line(tmp_path: Path) -> None:
    done = run_faaskit("package", str(SHOP), "--target", "heroku", "--out", str(tmp_path / "o"))

    assert done.returncode != 0
    line = one_error_line(done)
    assert "unknown target 'heroku'" in line and "aws-sam, gcp, azure" in line
    assert not (tmp_path / "o").exists()


def test_a_missing_target_is_one_line(tmp_path: Path) -> None:
    done = run_faaskit("package", str(SHOP), "--out", str(tmp_path / "o"))

    assert done.returncode == 2
    assert "--target" in one_error_line(done)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--target", "gcp", "--api", "rest"], "--api and --arch apply to --target aws-sam only"),
        (["--target", "aws-sam", "--api", "graphql"], "unknown --api 'graphql'"),
        (["--target", "aws-sam", "--arch", "riscv"], "unknown --arch 'riscv'"),
    ],
)
def test_options_that_do_not_fit_are_one_line(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    done = run_faaskit("package", str(SHOP), *extra, "--out", str(tmp_path / "o"))

    assert done.returncode != 0
    assert message in one_error_line(done)


def test_an_existing_folder_needs_force_and_force_needs_an_earlier_package(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")

    refused = run_faaskit("package", str(SHOP), "--target", "gcp", "--out", str(out))
    forced = run_faaskit("package", str(SHOP), "--target", "gcp", "--out", str(out), "--force")

    assert refused.returncode != 0
    assert "is not empty: choose another folder or add --force" in one_error_line(refused)
    assert forced.returncode != 0
    assert "was not written by faaskit package" in one_error_line(forced)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]  # untouched
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no staging left


def test_force_replaces_an_earlier_package(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run_faaskit("package", str(SHOP), "--target", "azure", "--out", str(out))
    (out / "stale.txt").write_text("from before")

    again = run_faaskit("package", str(SHOP), "--target", "aws-sam", "--out", str(out))
    replaced = run_faaskit(
        "package", str(SHOP), "--target", "aws-sam", "--out", str(out), "--force"
    )

    assert first.returncode == 0, first.stderr
    assert again.returncode != 0 and "add --force" in one_error_line(again)
    assert replaced.returncode == 0, replaced.stderr
    assert (out / "template.yaml").is_file()
    assert not (out / "stale.txt").exists() and not (out / "function_app.py").exists()


def test_an_output_inside_the_app_is_refused(tmp_path: Path) -> None:
    app = tmp_path / "svc"
    app.mkdir()
    (app / "__init__.py").write_text("from faaskit import App\n\napp = App('svc')\n")

    done = run_faaskit("package", str(app), "--target", "gcp", "--out", str(app / "dist"))

    assert done.returncode != 0
    assert "inside the app's code" in one_error_line(done)
    assert not (app / "dist").exists()


def test_an_app_named_like_the_entry_module_is_refused(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("from faaskit import App\n\napp = App('m')\n")

    done = run_faaskit(
        "package", str(tmp_path / "main.py"), "--target", "gcp", "--out", str(tmp_path / "o")
    )

    assert done.returncode != 0
    assert "the app's code brings main" in one_error_line(done)


def test_the_summary_lists_functions_queues_and_schedules(tmp_path: Path) -> None:
    done = run_faaskit(
        "package", str(SHOP), "--target", "aws-sam", "--out", str(tmp_path / "dist" / "aws")
    )

    assert done.returncode == 0, done.stderr
    for name in ("HttpFunction", "WorkerFunction", "RelayQueue", "RelayDeadLetterQueue", "Sweep"):
        assert name in done.stdout
    assert "README.md" in done.stdout and "template.yaml" in done.stdout
    assert (tmp_path / "dist" / "aws" / "src" / "faaskit_handler.py").is_file()


def test_a_folder_with_app_py_ships_its_sibling_modules(tmp_path: Path) -> None:
    service = tmp_path / "service"
    service.mkdir()
    (service / "greeting.py").write_text("WORD = 'hello'\n")
    (service / "app.py").write_text(
        textwrap.dedent(
            """
            from faaskit import App
            from greeting import WORD

            app = App("service")

            @app.get("/")
            async def hello() -> dict:
                return {"word": WORD}
            """
        )
    )
    (service / ".faaskit").mkdir()  # local state: never shipped

    done = run_faaskit("package", str(service), "--target", "azure", "--out", str(tmp_path / "o"))

    assert done.returncode == 0, done.stderr
    shipped = {p.name for p in (tmp_path / "o").iterdir()}
    assert {"app.py", "greeting.py", "faaskit", "function_app.py", "host.json"} <= shipped
    assert ".faaskit" not in shipped
    assert "from app import app as faaskit_app" in (tmp_path / "o/function_app.py").read_text()
