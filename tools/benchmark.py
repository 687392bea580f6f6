"""Benchmark (not a test): the plugin's cost against the floor of importing its two libraries.

    python tools/benchmark.py [--rounds 40]
    /usr/bin/python3 tools/benchmark.py --installed /usr/lib/nagios/plugins/check_bx24_sip
    python tools/benchmark.py --calls [--rounds 40]

The second form measures the Debian package's launcher (which imports the module that
dh_python3 byte-compiled at install) against Debian's python3, its floor and the file run as
a script, as the package ran it before 1.2.0; its budget is 1.10x.

Runs, interleaved in one process so machine noise hits both alike,
  floor:  python -c "import nagiosplugin, requests"
  plugin: check_bx24_sip --webhook <fake portal>   (the installed command: a full check, HTTP
          included; it needs 'pip install .' in the running Python, not 'pip install -e .',
          whose module has no bytecode cache)
  file:   python check_bx24_sip.py --webhook ...   (the file copied alone into a plugin folder;
          Python compiles a script run this way on every start, which the installed command
          loads from its bytecode cache)
and prints the median wall time and median peak memory (max RSS) of each, and their ratios.
The budget is 1.15x the floor on both for the installed command.

--calls measures, interleaved the same way, `--check calls` against a fake portal with 50
outgoing calls (1 request) and one with 2500 (2 requests, about 2.3 MB of JSON): the second may
take at most 1.3x the wall time of the first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

HERE = Path(__file__).resolve().parent
SCRIPT = HERE.parent / "check_bx24_sip.py"
BUDGET = 1.15
PACKAGE_BUDGET = 1.10
CALLS_BUDGET = 1.30
sys.path.insert(0, str(HERE.parent / "tests" / "harness"))  # the fake portal


def measure(command) -> tuple:
    """Wall seconds and peak RSS (KiB) of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss, code


def calls_benchmark(rounds: int, command) -> int:
    """`--check calls` on 2500 calls against 50: the wall time ratio, within CALLS_BUDGET."""
    import logging

    import fake_portal
    from pytest_httpserver import HTTPServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    servers, commands = [], {}
    for count in (50, 2500):
        try:  # a connection per request, served in threads, as a web server does
            server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        except TypeError:  # Debian 12's pytest-httpserver has no threads
            server = HTTPServer(host="127.0.0.1", port=0)
        fake_portal.serve_calls(server, fake_portal.Calls(
            fake_portal.spread(count, "reg150907", ["200"] * 9 + ["503"], newest=0.5, oldest=58)))
        server.start()
        servers.append(server)
        commands[count] = [*command, "--check", "calls", "-t", "30", "--webhook",
                           fake_portal.webhook_for(server)]
    runs: Dict[int, list] = {count: [] for count in commands}
    try:
        for count, argv in commands.items():  # warm the caches, and check the answer
            done = subprocess.run(argv, capture_output=True, text=True)
            print(f"{count:5} calls: exit {done.returncode}: {done.stdout.split(' | ')[0]}")
            if done.returncode != 0 or f"{count} outgoing calls" not in done.stdout:
                return 1
        for _ in range(rounds):
            for count, argv in commands.items():
                seconds, _, code = measure(argv)
                if code != 0:
                    print(f"{count} calls exited {code}, expected 0", file=sys.stderr)
                    return 1
                runs[count].append(seconds)
    finally:
        for server in servers:
            server.stop()
    few, many = (statistics.median(runs[count]) for count in (50, 2500))
    ratio = many / few
    print(f"--check calls wall time: 50 calls {few * 1000:.1f} ms, 2500 calls {many * 1000:.1f} ms"
          f", ratio {ratio:.3f}; {rounds} interleaved rounds, Python {sys.version.split()[0]}; "
          f"within {CALLS_BUDGET}x: {'yes' if ratio <= CALLS_BUDGET else 'NO'}")
    return 0 if ratio <= CALLS_BUDGET else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--installed", type=Path, metavar="PATH",
                        help="the command to measure (default: this Python's check_bx24_sip)")
    parser.add_argument("--calls", action="store_true",
                        help="measure --check calls on 2500 calls against 50 (the file)")
    args = parser.parse_args()
    if args.calls:
        command = [str(args.installed)] if args.installed else [sys.executable, str(SCRIPT)]
        return calls_benchmark(args.rounds, command)

    import logging

    import fake_portal
    from pytest_httpserver import HTTPServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    installed = args.installed or Path(sys.executable).parent / "check_bx24_sip"
    budget = PACKAGE_BUDGET if args.installed else BUDGET
    if not installed.exists():
        print(f"{installed} is missing: run 'pip install .' first", file=sys.stderr)
        return 2
    server = HTTPServer(host="127.0.0.1", port=0)
    fake_portal.serve(server, "paid")
    server.start()
    webhook = ["--webhook", fake_portal.webhook_for(server)]
    commands = {
        "floor": [sys.executable, "-c", "import nagiosplugin, requests"],
        "plugin": [str(installed), *webhook],
        "file": [sys.executable, str(SCRIPT), *webhook],
    }
    runs: Dict[str, list] = {name: [] for name in commands}
    try:
        for command in commands.values():  # warm the page and bytecode caches once
            measure(command)
        for _ in range(args.rounds):
            for name, command in commands.items():
                seconds, rss, code = measure(command)
                if code != 0:
                    print(f"{name} exited {code}, expected 0", file=sys.stderr)
                    return 1
                runs[name].append((seconds, rss))
    finally:
        server.stop()

    ratios = {}
    for name in ("plugin", "file"):
        for label, index, unit, scale in (("wall time", 0, "ms", 1000),
                                          ("peak memory", 1, "MiB", 1 / 1024)):
            base = statistics.median(run[index] for run in runs["floor"])
            cost = statistics.median(run[index] for run in runs[name])
            ratios[(name, label)] = cost / base
            print(f"{name:6} {label:11}  floor {base * scale:7.1f} {unit}  "
                  f"{name} {cost * scale:7.1f} {unit}  ratio {cost / base:.3f}")
    within = all(ratios[("plugin", label)] <= budget for label in ("wall time", "peak memory"))
    print(f"{args.rounds} interleaved rounds, Python {sys.version.split()[0]} "
          f"({sys.executable}); {installed} within {budget}x: {'yes' if within else 'NO'}")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
