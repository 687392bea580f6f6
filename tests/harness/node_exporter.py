"""Debian's prometheus-node-exporter serving a textfile folder on 127.0.0.1, as it would in
production: the referee for files that several services write side by side."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Dict, List, Tuple

from net import free_port

Sample = Tuple[str, Tuple[Tuple[str, str], ...]]  # name, sorted labels


def scrape_textfiles(binary: str, folder: Path, log: Path) -> Tuple[Dict[Sample, float], str]:
    """Start node_exporter with the textfile collector alone, scrape once, stop it.

    Returns every sample it served and what it logged (where it complains about duplicates).
    """
    from prometheus_client.parser import text_string_to_metric_families

    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [binary, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
             "--collector.textfile", f"--collector.textfile.directory={folder}"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        text = fetch_metrics(port, process)
    finally:
        process.terminate()
        process.wait(10)
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, log.read_text(errors="replace")


def fetch_metrics(port: int, process: subprocess.Popen, within: float = 20) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only
    deadline = time.monotonic() + within
    while True:
        try:
            with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                return answer.read().decode()
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"node_exporter did not serve 127.0.0.1:{port}") from None
            time.sleep(0.1)


def bx24_samples(samples: Dict[Sample, float]) -> List[Tuple[str, Dict[str, str], float]]:
    return [(name, dict(labels), value) for (name, labels), value in sorted(samples.items())
            if name.startswith("bx24_sip_") and name != "bx24_sip_request_duration_seconds"]
