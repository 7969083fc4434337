"""Summarise a `make mutate` run per module, from mutmut's result files.

mutmut 3 keeps each mutated module's copy under `mutants/`, holding every
mutant as a function of its own, and the verdicts beside it
(`<module>.py.meta`: an exit code per mutant). For each module of
`aggregates/` and `policies/` this prints the mutants, those killed (a test
failed, hung or crashed), the survivors, and the score

    killed / (killed + survivors that change behaviour)

A survivor that differs from the original only in the text of an exception
message is "message-only": it is listed apart and left out of the score. Where
the message names the bad value it is contract, and a test checks it (such a
mutant is then killed, and counts as killed).

    .venv/bin/python tools/mutation_report.py              # the table
    .venv/bin/python tools/mutation_report.py --survivors  # and each survivor's change
    .venv/bin/python tools/mutation_report.py --markdown   # the table for docs/contributing.md
    .venv/bin/python tools/mutation_report.py --judged     # the judged survivors, for the docs

A survivor that changes behaviour is either a hole (write a test that states
the rule) or equivalent: it changes nothing a caller can observe. The
equivalent ones are listed in `tools/judged_mutants.json`, each group with
why it is harmless and each mutant with the change it was judged on; the
report counts a survivor as judged only while its change is still that one
(mutmut numbers a function's mutants afresh when the function changes).
"""

from __future__ import annotations

import ast
import difflib
import json
import sys
from pathlib import Path

from mutmut.stats import status_by_exit_code  # run with the venv's python

ROOT = Path(__file__).resolve().parent.parent / "mutants" / "src"
JUDGED = Path(__file__).resolve().parent / "judged_mutants.json"
KILLED = ("killed", "timeout", "segfault")


#: Helpers whose second argument (or `name=`) only labels the value in their
#: error message: `parse_text(value, "source name")`.
LABELLED: frozenset[str] = frozenset(
    {
        "parse_text", "parse_optional_text", "parse_reference", "parse_money", "parse_points",
        "parse_count", "parse_days", "parse_time", "parse_optional_time", "parse_date",
        "parse_id", "parse_flag", "parse_code", "parse_website", "parse_referral_code",
        "_field_set", "_names", "_check_open", "_limit", "_optional_money", "_optional_limit",
        "_optional_time", "_flag",
    }
)  # fmt: skip
#: Functions that only compose the text of a refusal (its reason code is the contract).
MESSAGE_FUNCTIONS: frozenset[str] = frozenset({"referral_ledger.policies.vouchers.x_explain"})


class _Unmessaged(ast.NodeTransformer):
    """Blanks the text of every exception a function raises, and value labels."""

    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        return _Blank().visit(node)  # type: ignore[no-any-return]

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name in LABELLED:
            # The label, given, changed or left to its default, only changes the message.
            if len(node.args) > 1 and _is_label(node.args[1]):
                del node.args[1]
            node.keywords = [
                k for k in node.keywords if not (k.arg == "name" and _is_label(k.value))
            ]
        return node


def _is_label(node: ast.expr) -> bool:
    """Text, or a name passed on (`parse_text(v, name)` in a helper that takes the label)."""
    return _is_text(node) or isinstance(node, ast.Name | ast.Attribute)


def _is_text(node: ast.expr) -> bool:
    constant = isinstance(node, ast.Constant) and (
        node.value is None or isinstance(node.value, str)
    )
    return constant or isinstance(node, ast.JoinedStr)


class _Blank(ast.NodeTransformer):
    def visit_Constant(self, node: ast.Constant) -> ast.Constant:
        return ast.Constant("") if node.value is None or isinstance(node.value, str) else node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.Constant:
        return ast.Constant("")


def _functions(source: Path) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(source.read_text())
    return {
        node.name: node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _shape(node: ast.AST) -> str:
    """The function without its name and without its exception messages."""
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    copy = ast.parse(ast.unparse(node)).body[0]
    assert isinstance(copy, ast.FunctionDef | ast.AsyncFunctionDef)
    return ast.dump(_Unmessaged().visit(ast.Module([*copy.body], []))) + ast.dump(copy.args)


def _change(orig: ast.AST, mutant: ast.AST) -> str:
    """What the mutant changes: `old -> new`, cut to the part that differs."""
    a = ast.unparse(orig).splitlines()[1:]
    b = ast.unparse(mutant).splitlines()[1:]
    removed = [line.strip() for line in a if line not in b]
    added = [line.strip() for line in b if line not in a]
    if len(removed) == 1 and len(added) == 1:
        return _cut(removed[0], added[0])
    diff = difflib.unified_diff(a, b, lineterm="", n=0)
    return " | ".join(x.strip() for x in diff if x[:1] in "+-" and x[:3] not in ("+++", "---"))


def _cut(old: str, new: str, margin: int = 25) -> str:
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end = 0
    while end < min(len(old), len(new)) - start and old[-1 - end] == new[-1 - end]:
        end += 1
    left = max(0, start - margin)

    def part(text: str) -> str:
        body = text[left : len(text) - max(0, end - margin)]
        return ("…" if left else "") + body + ("…" if end > margin else "")

    return f"{part(old)}  ->  {part(new)}"


def _judged() -> tuple[list[dict[str, object]], dict[tuple[str, str], str]]:
    """The judged groups, and (mutant, change) -> why, from `judged_mutants.json`."""
    groups: list[dict[str, object]] = json.loads(JUDGED.read_text()) if JUDGED.exists() else []
    why: dict[tuple[str, str], str] = {}
    for group in groups:
        mutants = group["mutants"]
        assert isinstance(mutants, dict)
        for name, change in mutants.items():
            why[(name, change)] = str(group["why"])
    return groups, why


def _print_judged(groups: list[dict[str, object]], found: set[tuple[str, str]]) -> None:
    """The judged groups as a markdown list: module, functions, count, why."""
    for group in groups:
        mutants = group["mutants"]
        assert isinstance(mutants, dict)
        present = [name for name, change in mutants.items() if (name, change) in found]
        if not present:
            continue
        functions = sorted({_function_of(name) for name in present})
        named = ", ".join(f"`{f}`" for f in functions)
        print(f"- `{group['module']}` {named} ({len(present)}): {group['why']}")


def _function_of(mutant: str) -> str:
    """`x_take_back__mutmut_72` -> `take_back`; `xǁLineǁkey__mutmut_1` -> `Line.key`."""
    name = mutant.rsplit("__mutmut_", 1)[0].removeprefix("x")
    return name.strip("ǁ").replace("ǁ", ".") if "ǁ" in name else name.removeprefix("_")


def main() -> int:
    show = "--survivors" in sys.argv
    markdown = "--markdown" in sys.argv
    judged_list = "--judged" in sys.argv
    groups, why = _judged()
    found: set[tuple[str, str]] = set()
    if markdown:
        print(
            "| module | mutants | killed | survived | of them judged | message-only | not run"
            " | score |"
        )
        print(
            "|--------|--------:|-------:|---------:|---------:|-------------:|--------:|------:|"
        )
    elif not judged_list:
        print(
            f"{'module':32} {'mutants':>7} {'killed':>6} {'surv':>5} {'judged':>6} {'msg':>4}",
            end="",
        )
        print(f" {'todo':>5} {'score':>6}")
    totals = [0, 0, 0, 0, 0, 0]
    details: list[str] = []
    for meta in sorted(ROOT.glob("referral_ledger/*/*.py.meta")):
        if meta.parent.name not in ("aggregates", "policies"):
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        functions = _functions(meta.with_suffix(""))
        status = {k: status_by_exit_code[c] for k, c in codes.items()}
        pending = sum(1 for s in status.values() if s == "not checked")
        killed = sum(1 for s in status.values() if s in KILLED)
        real: list[str] = []
        message_only: list[str] = []
        judged = 0
        for key, state in sorted(status.items()):
            if state in KILLED or state == "not checked":
                continue
            name = key.rsplit(".", 1)[1]
            mutant = functions[name]
            orig = functions[name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"]
            where = f"{key.split('.x', 1)[0]}:{name}"
            change = _change(orig, mutant)
            line = f"  {where} [{state}]  {change}"
            message_function = key.split("__mutmut_")[0] in MESSAGE_FUNCTIONS
            # A message function's survivor returned some text: only the text changed.
            if message_function or _shape(orig) == _shape(mutant):
                message_only.append(line)
            elif (name, change) in why:
                judged += 1
                found.add((name, change))
                real.append(f"{line}\n      judged harmless: {why[(name, change)]}")
            else:
                real.append(
                    f"{line}\n      NOT JUDGED: a missing test, or an equivalent mutant to list"
                )
        run = killed + len(real)
        score = 100.0 * killed / run if run else 100.0
        module = f"{meta.parent.name}/{meta.name.removesuffix('.meta')}"
        row = (len(codes), killed, len(real), judged, len(message_only), pending)
        if markdown:
            shown = f"{score:.1f} %" if run else "not run"
            shown += " (partial)" if run and pending else ""
            print(f"| `{module}` | " + " | ".join(map(str, row)) + f" | {shown} |")
        elif not judged_list:
            print(
                f"{module:32} {row[0]:7} {killed:6} {row[2]:5} {judged:6} {row[4]:4} {pending:5}"
                f" {score:6.1f}"
            )
        for i, v in enumerate(row):
            totals[i] += v
        if real:
            details += [f"{module}: survivors", *real]
        if message_only:
            details += [f"{module}: message-only survivors", *message_only]
    n, k, s, j, m, p = totals
    total = 100.0 * k / max(k + s, 1)
    if judged_list:
        _print_judged(groups, found)
    elif markdown:
        print(f"| total | {n} | {k} | {s} | {j} | {m} | {p} | {total:.1f} % |")
    else:
        print(f"{'total':32} {n:7} {k:6} {s:5} {j:6} {m:4} {p:5} {total:6.1f}")
    if show:
        print("\n".join(details))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
