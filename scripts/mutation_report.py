"""The mutation score of each module after ``make mutate``, and its surviving mutants.

    python scripts/mutation_report.py [mutants/] [--survivors]
    python scripts/mutation_report.py [mutants/] --sample N MODULE   # N seeded mutant names of MODULE

Reads mutmut's per-file result files (``mutants/<path>.py.meta``, JSON: mutant name -> the exit code
of the tests run against it) and prints, per module: mutants, killed, survived, no test reached it,
timeouts, crashes (the test process died of a signal), not run yet, and the score killed / (killed +
survived + no tests); timeouts and crashes are detections left out of the score. ``--survivors`` lists
the mutants no test noticed (``mutmut show NAME`` prints one's diff). ``--sample N MODULE`` prints the
names of a seeded random sample of N of the mutants of MODULE (dotted: ``seqmodels.functional`` is every
file under it), ``random.Random(0).sample`` of their sorted names, for ``mutmut run NAME ...`` when a
module is too large to run whole (``make mutate MUTATE_SAMPLE=N``).
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

# mutmut 3's exit codes (mutmut/stats.py): 1 and 3 killed, 0 survived, 5/33 no tests, None not run
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    None: "not run",
    36: "timeout",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "crash",  # SIGSEGV: a mutated C-loop driver handed the C code a wrong pointer or size
    -9: "timeout",  # SIGKILL: the hard stop one CPU second after the timeout's SIGXCPU
    -6: "crash",  # SIGABRT: the C library or glibc caught the corruption
}
COLUMNS = ("killed", "survived", "no tests", "timeout", "crash", "not run", "other")


def module_results(root: Path) -> dict[str, dict[str, int | None]]:
    """``{module path: {mutant name: exit code}}`` for every ``*.py.meta`` under ``root``."""
    out = {}
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if codes:
            out[str(meta.relative_to(root))[: -len(".meta")]] = codes
    return out


def summary(codes: dict[str, int | None]) -> dict[str, float]:
    counts = Counter(STATUS.get(code, "other") for code in codes.values())
    row: dict[str, float] = {"mutants": len(codes), **{c: counts.get(c, 0) for c in COLUMNS}}
    judged = row["killed"] + row["survived"] + row["no tests"]
    row["score"] = row["killed"] / judged if judged else float("nan")
    return row


def sample(results: dict[str, dict[str, int | None]], module: str, n: int, seed: int = 0) -> list[str]:
    """``random.Random(seed).sample`` of ``n`` of the sorted names of ``module``'s mutants (all when fewer)."""
    names = sorted(name for codes in results.values() for name in codes if name.startswith(module + "."))
    if not names:
        raise SystemExit(f"no mutants of {module}: check [tool.mutmut] only_mutate, or run `make mutate` once")
    return random.Random(seed).sample(names, min(n, len(names)))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", nargs="?", type=Path, default=Path("mutants"))
    p.add_argument("--survivors", action="store_true", help="also list the surviving mutants")
    p.add_argument("--sample", nargs=2, metavar=("N", "MODULE"), help="print N seeded mutant names of MODULE")
    args = p.parse_args(argv)
    results = module_results(args.root)
    if not results:
        raise SystemExit(f"no mutmut results under {args.root}: run `make mutate` first")
    if args.sample:
        print("\n".join(sample(results, args.sample[1], int(args.sample[0]))))
        return
    print(f"| module | mutants | {' | '.join(COLUMNS)} | score |")
    print("|---|" + "---:|" * (len(COLUMNS) + 2))
    for module, codes in results.items():
        r = summary(codes)
        print(f"| {module} | {r['mutants']} | " + " | ".join(str(r[c]) for c in COLUMNS) + f" | {r['score']:.0%} |")
    if args.survivors:
        for module, codes in results.items():
            names = sorted(
                (n for n, c in codes.items() if STATUS.get(c) in ("survived", "no tests")),
                key=lambda n: (n.rsplit("__mutmut_", 1)[0], int(n.rsplit("_", 1)[1])),
            )
            if names:
                print(f"\n{module}:")
                print("\n".join(f"  {n}  ({STATUS[codes[n]]})" for n in names))


if __name__ == "__main__":
    main()
