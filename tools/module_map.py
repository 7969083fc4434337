"""Regenerate the "## Module map" section of docs/architecture.md: `python3 tools/module_map.py`."""

import ast
import pathlib
import sys

LAYERS = ["aggregates/", "policies/", "commands/", "reactions/", "projections/"]
LAYERS += ["audit/", "store/", "persistence/", "cli/"]


def first_line(source: str) -> str:
    doc = (ast.get_docstring(ast.parse(source)) or "").strip()
    return doc.splitlines()[0] if doc else ""


def main(root: pathlib.Path) -> None:
    pkg = root / "src/referral_ledger"
    doc = root / "docs/architecture.md"
    text = doc.read_text()
    head = text[: text.index("## Module map")]
    out = ["## Module map", ""]
    out += ["Each module with its line count and the first line of its docstring", ""]
    out[-2] += " (regenerate it: `python3 tools/module_map.py`)."
    groups: dict[str, list[pathlib.PurePath]] = {}
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg)
        group = "top level" if len(rel.parts) == 1 else rel.parts[0] + "/"
        groups.setdefault(group, []).append(rel)
    order = ["top level"] + [g for g in LAYERS if g in groups]
    order += sorted(g for g in groups if g not in order)
    for group in order:
        out += [f"**{group}**", ""]
        for rel in groups[group]:
            source = (pkg / rel).read_text()
            lines = len(source.splitlines())
            out.append(f"- `{rel.as_posix()}` ({lines}): {first_line(source)}")
        out.append("")
    doc.write_text(head + "\n".join(out).rstrip() + "\n")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "."))
