"""Mutation check of the core timing, format and export-check modules: does the suite notice
small realistic bugs? Each mutant changes one thing in one module — a comparison (< ↔ <=,
== ↔ !=), an arithmetic operator (+ ↔ -, * ↔ /, // → /), a whole number (n → n+1, 1 → 0), a
number's sign, `and` ↔ `or`, a separator in a format string (: , | =), a `raise` removed — and the
tests that cover that module run against it. A mutant no test fails "survives"; the survivors
are listed in docs/testing.md, each either killed by a new test or explained (an equivalent
change: a tolerance that no input reaches, a message's wording).

The tree is copied into a temporary folder (with `../shared` linked beside it) and mutated
there, never in place. A server process imports the heavy libraries once and forks a child per
mutant, which writes its mutant, runs pytest on the module's tests (`-x`, output hidden) and
exits; no bytecode is written, so no stale `.pyc` can hide a mutant.

    .venv/bin/python bench/mutation.py [--only snapping timing ...] [--timeout 120] [--list]
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# module → the tests that cover it (what a developer runs after changing it)
TARGETS = {
    "snapping": ("genelive/snapping.py", ["tests/test_snapping.py", "tests/test_timing_shifts.py"]),
    "timing": (
        "genelive/timing.py",
        [
            "tests/test_timing.py",
            "tests/test_timing_shifts.py",
            "tests/test_snapping.py",
            "tests/test_chart_files.py",
        ],
    ),
    "peaks": ("genelive/onsets/peaks.py", ["tests/test_decoding.py"]),
    **{
        name: (
            f"genelive/formats/{name}.py",
            ["tests/test_formats_spec.py", "tests/test_chart_files.py", "tests/test_charts.py"],
        )
        for name in ("osu", "stepmania", "json_chart", "notes")
    },
    # The manifest's own tests (hand-made export folders); the real exports of
    # tests/test_onnx_export.py take a minute a mutant.
    "manifest": (
        "export/manifest.py",
        [
            "tests/hostile/test_onnx_manifest.py",
            "tests/hostile/test_cli.py::test_an_opset_no_exporter_writes",
        ],
    ),
}

COMPARE_SWAPS = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
BINOP_SWAPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv,
}
SEPARATORS = {":": ",", ",": ":", "|": ",", "=": ":"}


@dataclass
class Mutant:
    module: str
    line: int
    what: str  # "a < b → a <= b"
    source: str  # the whole mutated module


def _skipped(tree: ast.AST) -> set[int]:
    """ids of nodes not worth mutating: docstrings, annotations, and what a `raise` or a log
    call says (its wording is a message, not behaviour)."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        for sub in ast.walk(node) if node is not None else []:
            skip.add(id(sub))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            mark(first)
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            for arg in [*node.exc.args, *(k.value for k in node.exc.keywords)]:
                mark(arg)
        if isinstance(node, ast.arg | ast.AnnAssign | ast.FunctionDef):
            mark(getattr(node, "annotation", None))
            mark(getattr(node, "returns", None))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in {
            "warning",
            "info",
            "debug",
        }:
            mark(node)
    return skip


def _variants(node: ast.AST):
    """(description, replacement node) for each mutation of `node` itself."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in COMPARE_SWAPS:
                new = copy.deepcopy(node)
                new.ops[i] = COMPARE_SWAPS[type(op)]()
                yield new
    elif isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAPS:
        new = copy.deepcopy(node)
        new.op = BINOP_SWAPS[type(node.op)]()
        yield new
    elif isinstance(node, ast.BoolOp):
        new = copy.deepcopy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield new
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield copy.deepcopy(node.operand)
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        yield ast.Constant(node.value + 1)
        if node.value == 1:
            yield ast.Constant(0)
    elif isinstance(node, ast.Constant) and type(node.value) is float and node.value != 0:
        yield ast.Constant(node.value * 2)
    elif isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str)
    ):
        yield from _separator_variants(node)


def _separator_variants(node: ast.AST):
    pieces = node.values if isinstance(node, ast.JoinedStr) else [node]
    for i, piece in enumerate(pieces):
        text = piece.value if isinstance(piece, ast.Constant) else None
        if not isinstance(text, str) or len(text) > 24:
            continue
        for old, new_sep in SEPARATORS.items():
            if old in text:
                new = copy.deepcopy(node)
                target = new.values[i] if isinstance(node, ast.JoinedStr) else new
                target.value = text.replace(old, new_sep, 1)
                yield new


def mutants(module: str, path: Path) -> list[Mutant]:
    source = path.read_text()
    lines = source.splitlines(keepends=True)
    tree = ast.parse(source)
    skip = _skipped(tree)
    fstring_parts = {
        id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values
    }
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(lineno: int, col: int) -> int:  # col is in UTF-8 bytes
        return starts[lineno - 1] + len(lines[lineno - 1].encode()[:col].decode())

    found = []
    for node in ast.walk(tree):
        if id(node) in skip or not hasattr(node, "end_col_offset"):
            continue
        if id(node) in fstring_parts:  # mutated through their JoinedStr (3.11: no positions)
            continue
        a = offset(node.lineno, node.col_offset)
        b = offset(node.end_lineno, node.end_col_offset)
        before = source[a:b]
        if isinstance(node, ast.Raise):
            replacements = [("pass", f"{before.splitlines()[0]} → pass")]
        elif isinstance(node, ast.expr):
            replacements = [
                ("(" + ast.unparse(v) + ")", f"{_short(before)} → {_short(ast.unparse(v))}")
                for v in _variants(node)
            ]
        else:
            continue
        for text, what in replacements:
            mutated = source[:a] + text + source[b:]
            try:
                ast.parse(mutated)
            except SyntaxError:
                continue
            found.append(Mutant(module, node.lineno, what, mutated))
    return found


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def copy_tree(work: Path) -> Path:
    """The tracked and untracked-but-not-ignored files, plus the bundled weights, in
    work/tree; ../shared linked beside it (the tests find it there)."""
    tree = work / "tree"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = REPO / name
        if source.is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)
    (work / "shared").symlink_to(REPO.parent / "shared")
    return tree


def run_mutant(tree: Path, mutant: Mutant, path: str, tests: list[str], timeout_s: float) -> str:
    """ "killed", "survived" or "timeout" (a hang is noticed too): pytest in a forked child."""
    target = tree / path
    original = target.read_text()
    pid = os.fork()
    if pid == 0:  # the child: its own copy of the imported libraries, none of our modules
        try:
            target.write_text(mutant.source)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import pytest

            args = ["-x", "-q", "-p", "no:cacheprovider", "--no-header", *tests]
            code = pytest.main([str(tree / t) if t.startswith("tests/") else t for t in args])
            os._exit(0 if code == 0 else 1)
        except BaseException:
            os._exit(1)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return "survived" if os.waitstatus_to_exitcode(status) == 0 else "killed"
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "timeout"
            time.sleep(0.05)
    finally:
        target.write_text(original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per mutant")
    parser.add_argument("--list", action="store_true", help="list the mutants; run nothing")
    args = parser.parse_args()
    sys.dont_write_bytecode = True  # before any of our modules is imported, here or in a child
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        tree = copy_tree(Path(tmp))
        sys.path.insert(0, str(tree))
        os.chdir(tree)
        import librosa  # noqa: F401  (the heavy libraries, once, before forking)
        import numpy  # noqa: F401
        import pytest  # noqa: F401
        import torch

        torch.set_num_threads(1)  # a forked child must not inherit a started thread pool
        totals, survivors = {}, []
        for name in args.only:
            path, tests = TARGETS[name]
            found = mutants(name, tree / path)
            if args.list:
                for m in found:
                    print(f"{path}:{m.line}: {m.what}")
                continue
            counts = {"killed": 0, "survived": 0, "timeout": 0}
            started = time.monotonic()
            for m in found:
                verdict = run_mutant(tree, m, path, tests, args.timeout)
                counts[verdict] += 1
                if verdict == "survived":
                    survivors.append(f"{path}:{m.line}: {m.what}")
                    print(f"SURVIVED {survivors[-1]}", file=sys.stderr, flush=True)
            totals[name] = counts
            seconds = time.monotonic() - started
            print(f"{name}: {len(found)} mutants, {counts} in {seconds:.0f} s", file=sys.stderr)
        if args.list:
            return
        print("| module | mutants | killed | timed out | survived |\n|---|---|---|---|---|")
        for name, c in totals.items():
            n = sum(c.values())
            print(
                f"| {TARGETS[name][0]} | {n} | {c['killed']} | {c['timeout']} | {c['survived']} |"
            )
        print("\nSurvivors:\n" + "\n".join(f"- `{s}`" for s in survivors or ["none"]))


if __name__ == "__main__":
    main()
