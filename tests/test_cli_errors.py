"""Bad files, bad `--db` values and unforeseen failures: one line on stderr, a non-zero
exit, never a traceback, and no new ledger file left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook

from cli_support import events, run
from referral_ledger import Ledger
from referral_ledger.cli import TRACEBACK_VARIABLE, transfer

Make = Callable[[Path], list[str]]  # builds the files in a directory, returns the argv


def sheet(name: str, content: bytes) -> Make:
    """`import customers NAME` of a file holding `content`, into a new ledger."""

    def make(where: Path) -> list[str]:
        (where / name).write_bytes(content)
        return ["import", "customers", str(where / name), "--db", str(where / "new.db")]

    return make


def damaged_xlsx(where: Path) -> list[str]:
    """A sound zip whose sheet is not XML: it only fails while its rows are read."""
    book = Workbook()
    book.save(where / "good.xlsx")
    with (
        zipfile.ZipFile(where / "good.xlsx") as good,
        zipfile.ZipFile(where / "x.xlsx", "w") as bad,
    ):
        for item in good.infolist():
            data = good.read(item)
            bad.writestr(item, b"<not xml" if item.filename.endswith("sheet1.xml") else data)
    return ["import", "customers", str(where / "x.xlsx"), "--db", str(where / "new.db")]


def directory_as_file(where: Path) -> list[str]:
    (where / "x.csv").mkdir()
    return ["import", "customers", str(where / "x.csv"), "--db", str(where / "new.db")]


def db(value: str, *argv: str) -> Make:
    """A command on `--db value` (`{dir}` is the test's directory)."""

    def make(where: Path) -> list[str]:
        (where / "notes.csv").write_text("name,phones\nA,0911000001\n", encoding="utf-8")
        (where / "text.db").write_text("not a database", encoding="utf-8")
        (where / "folder").mkdir()
        return [*(a.format(dir=where) for a in argv), "--db", value.format(dir=where)]

    return make


def export_under_a_file(where: Path) -> list[str]:
    with Ledger.open(f"sqlite:///{where / 'shop.db'}"):
        pass
    (where / "notes.csv").write_text("", encoding="utf-8")
    target = where / "notes.csv" / "out.csv"
    return ["export", "leads", "--to", str(target), "--db", str(where / "shop.db")]


HEADER = b"name,phones\n"
BAD_INPUTS: dict[str, tuple[Make, str]] = {
    "oversize csv cell": (
        sheet("big.csv", HEADER + b"x" * 200_000 + b",0911000001\n"),
        "row 2: a cell is longer than 131072 characters",
    ),
    "latin-1 file": (
        sheet("latin.csv", HEADER + "Nguyễn,0911000001\n".encode("cp1258", "replace") + b"\xe1"),
        "is not UTF-8 text",
    ),
    "utf-16 file": (sheet("wide.csv", (HEADER.decode() + "A,1\n").encode("utf-16")), "UTF-8"),
    "text named .xlsx": (sheet("x.xlsx", HEADER), "is not a readable .xlsx file"),
    "damaged xlsx sheet": (damaged_xlsx, "is not a readable .xlsx file"),
    "empty file": (sheet("empty.csv", b""), "is empty"),
    "unmapped column": (
        sheet("x.csv", "name,phones,Sinh nhật\nA,0911000001,1\n".encode()),
        "unknown column(s) 'Sinh nhật'",
    ),
    "a directory as the file": (directory_as_file, "is a directory, not a .csv or .xlsx file"),
    "missing file": (db("{dir}/new.db", "import", "customers", "{dir}/nope.csv"), "no such file"),
    "not a sheet": (db("{dir}/new.db", "import", "customers", "{dir}/text.db"), "only .csv"),
    "empty --db": (db("", "leads"), "--db must name a ledger file or URL"),
    "directory --db": (db("{dir}/folder", "leads"), "is a directory, not a ledger file"),
    "no such directory": (
        db("{dir}/nowhere/new.db", "import", "customers", "{dir}/notes.csv"),
        "no directory",
    ),
    "not a database": (db("{dir}/text.db", "leads"), "file is not a database"),
    "unknown URL": (db("foo://bar", "leads"), "unsupported ledger URL"),
    "port out of range": (
        db("postgresql://u:p@ss-secret@127.0.0.1:99999/x", "leads"),
        "Port out of range",
    ),
    "nobody listening": (db("postgresql://u:secret@127.0.0.1:1/x", "leads"), "cannot open"),
    "time out of range": (
        db("{dir}/new.db", "conversion", "--since", "0001-01-01T00:00+01:00"),
        "--since",
    ),
    "time at the end of range": (
        db("{dir}/new.db", "replay", "--as-of", "9999-12-31T23:59-23:00"),
        "--as-of",
    ),
    "export under a file": (export_under_a_file, "notes.csv is not a directory"),
}


@pytest.mark.parametrize(("make", "message"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_one_line_without_traceback_and_leaves_no_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Make, message: str
) -> None:
    argv = make(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    code, _, err = run(capsys, *argv)
    assert code in (1, 2), err
    assert "Traceback" not in err
    assert 1 == len(err.splitlines()), err
    assert err.startswith("referral-ledger: error: ")
    assert message in err
    assert "secret" not in err
    assert before == sorted(tmp_path.rglob("*")), "a file was created"


def test_the_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    argv = BAD_INPUTS["latin-1 file"][0](tmp_path)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "referral-ledger"), *argv],
        capture_output=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert 1 == done.returncode
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("referral-ledger: error: ")
    assert not (tmp_path / "new.db").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file without read permission")
def test_an_unreadable_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "secret.csv"
    path.write_text("name,phones\n", encoding="utf-8")
    path.chmod(0)
    code, _, err = run(capsys, "import", "customers", str(path), "--db", str(tmp_path / "n.db"))
    assert (1, f"referral-ledger: error: Permission denied: {path}\n") == (code, err)


def test_utf8_with_a_bom_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("name,phones\nNguyễn Văn An,0911000001\n".encode("utf-8-sig"))
    code, out, _ = run(capsys, "import", "customers", str(path), "--db", str(tmp_path / "n.db"))
    assert 0 == code
    assert "1 created" in out


def test_an_unexpected_error_is_one_line_unless_asked_for_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure in the middle of an import: one line, and the new ledger is removed."""

    def broken(*args: object) -> object:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(transfer, "import_rows", broken)
    monkeypatch.delenv(TRACEBACK_VARIABLE, raising=False)
    path = tmp_path / "x.csv"
    path.write_text("name,phones\nA,0911000001\n", encoding="utf-8")
    ledger = tmp_path / "new.db"
    code, _, err = run(capsys, "import", "customers", str(path), "--db", str(ledger))
    assert 1 == code
    assert err.startswith("referral-ledger: error: unexpected RuntimeError: disk on fire (set ")
    assert [path] == list(tmp_path.iterdir())
    monkeypatch.setenv(TRACEBACK_VARIABLE, "1")
    with pytest.raises(RuntimeError, match="disk on fire"):
        run(capsys, "import", "customers", str(path), "--db", str(ledger))


def test_an_import_that_records_nothing_leaves_no_new_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.csv"
    path.write_text("name,phones\nA,not a phone\n", encoding="utf-8")
    ledger = tmp_path / "new.db"
    code, out, _ = run(capsys, "import", "customers", str(path), "--db", str(ledger), "--strict")
    assert 1 == code
    assert "1 rejected" in out
    assert not ledger.exists()
    path.write_text("name,phones\nA,0911000001\n", encoding="utf-8")
    assert 0 == run(capsys, "import", "customers", str(path), "--db", str(ledger))[0]
    assert events(ledger) > 0


def test_a_failure_on_an_existing_ledger_keeps_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.csv"
    path.write_text("name,phones\nA,0911000001\n", encoding="utf-8")
    ledger = tmp_path / "shop.db"
    assert 0 == run(capsys, "import", "customers", str(path), "--db", str(ledger))[0]
    before = events(ledger)
    monkeypatch.setattr(transfer, "import_rows", lambda *args: 1 / 0)
    assert 1 == run(capsys, "import", "customers", str(path), "--db", str(ledger))[0]
    assert before == events(ledger)
