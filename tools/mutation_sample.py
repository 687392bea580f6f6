"""Mutation testing on a reproducible sample of mutants (not a test; run by hand).

mutmut 2.x makes the mutants; this driver writes each one into check_bx24_sip.py itself, because
the end-to-end tests run that file in a subprocess (mutmut 3's trampolines would be invisible
there), runs the suite with -x, and restores the file. Run it in a separate checkout (a git
worktree), never in the one you are editing:

    git worktree add /tmp/mutants HEAD && cd /tmp/mutants
    BX24_TEST_SCRIPT=file python tools/mutation_sample.py --sample 150 --seed 7
    python tools/mutation_sample.py --sample 60 --lines 1330-1560   # only the code a change touched

With two cores, two worktrees can share a sample: --shard 0/2 in one and --shard 1/2 in the other.

It prints one line per surviving mutant (line number and the mutated line) and the score.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

TARGET = Path(__file__).resolve().parent.parent / "check_bx24_sip.py"
# fast, pure tests first so that most mutants die in seconds; then every other test file; the
# daemons' tests are left out by their marker (they run an installed copy of the plugin, not
# this file, and take minutes)
FIRST = ["tests/test_units.py", "tests/test_calls.py", "tests/test_options.py",
         "tests/test_states.py"]


def all_mutants(source: str):
    from mutmut import Context, RelativeMutationID, list_mutations

    context = Context(source=source, filename=str(TARGET))
    context.mutation_id = RelativeMutationID(line="%all%", index=-1, line_number=-1,
                                             filename=str(TARGET))
    return list_mutations(context)


def mutant_source(source: str, mutation_id) -> str:
    from mutmut import Context, mutate

    context = Context(source=source, mutation_id=mutation_id, filename=str(TARGET))
    mutated, count = mutate(context)
    assert count == 1, mutation_id
    return mutated


def suite_passes(timeout: float) -> bool:
    rest = sorted(str(p.relative_to(TARGET.parent)) for p in TARGET.parent.glob("tests/test_*.py"))
    suite = FIRST + [path for path in rest if path not in FIRST]
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               "-p", "no:randomly", "-m", "not daemons", *suite],
                              cwd=TARGET.parent,
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False  # a mutant that hangs the suite is caught by it
    return done.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--shard", default="0/1", metavar="K/N",
                        help="run every N-th sampled mutant from the K-th (one worktree each)")
    parser.add_argument("--lines", default="", metavar="FROM-TO[,FROM-TO]",
                        help="sample only mutants of these lines of check_bx24_sip.py (1-based, "
                             "inclusive): the code a change touched")
    args = parser.parse_args()
    os.environ["BX24_TEST_SCRIPT"] = "file"
    original = TARGET.read_text()
    mutants = all_mutants(original)
    if args.lines:
        spans = [tuple(int(part) for part in span.split("-")) for span in args.lines.split(",")]
        mutants = [m for m in mutants
                   if any(first <= m.line_number + 1 <= last for first, last in spans)]
    chosen = sorted(random.Random(args.seed).sample(mutants, min(args.sample, len(mutants))),
                    key=lambda m: m.line_number)
    shard, shards = (int(part) for part in args.shard.split("/"))
    chosen = chosen[shard::shards]
    print(f"{len(mutants)} mutants, {len(chosen)} sampled (seed {args.seed})", flush=True)
    survived, started = [], time.monotonic()
    try:
        for number, mutation_id in enumerate(chosen, 1):
            TARGET.write_text(mutant_source(original, mutation_id))
            if suite_passes(args.timeout):
                survived.append(mutation_id)
                print(f"survived line {mutation_id.line_number + 1}: {mutation_id.line.strip()}",
                      flush=True)
            if number % 10 == 0:
                print(f"  {number}/{len(chosen)} in {time.monotonic() - started:.0f}s", flush=True)
    finally:
        TARGET.write_text(original)
    killed = len(chosen) - len(survived)
    print(f"killed {killed} of {len(chosen)}: {100 * killed / len(chosen):.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
