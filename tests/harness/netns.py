"""Run the plugin inside a private network namespace, so a DNS lookup can never leave the machine.

`unshare --net` gives the process a network with only a loopback device, so the resolver's query
has nowhere to go and fails at once. With `dns_blackhole` the namespace also gets its own
resolv.conf that names 127.0.0.1, where a UDP socket takes queries and never answers: a DNS
lookup that hangs, as on a broken network.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BLACKHOLE = (
    "import socket,time;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
    "s.bind(('127.0.0.1',53));print('ready',flush=True);time.sleep(60)"
)

SETUP = r"""
ip link set lo up || exit 70
hole=
if [ -n "$RESOLV" ]; then
  mount --bind "$RESOLV" /etc/resolv.conf || exit 70
  "$PY" -c "$BLACKHOLE" > "$RESOLV.ready" 2>/dev/null &
  hole=$!
  for i in $(seq 50); do [ -s "$RESOLV.ready" ] && break; sleep 0.05; done
fi
"$@"
rc=$?
[ -z "$hole" ] || kill "$hole"
exit $rc
"""


def netns_available() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True)
    return probe.returncode == 0


def netns_prefix(tmp_path: Path, dns_blackhole: bool = False) -> list:
    """The command prefix; skips the test where namespaces are not allowed (not root)."""
    if not netns_available():
        pytest.skip("needs 'unshare --net --mount' (root, util-linux, iproute2) to keep DNS local")
    resolv = ""
    if dns_blackhole:
        resolv_file = tmp_path / "resolv.conf"
        resolv_file.write_text("nameserver 127.0.0.1\noptions timeout:5 attempts:3\n")
        resolv = str(resolv_file)
    return ["env", f"RESOLV={resolv}", f"PY={sys.executable}", f"BLACKHOLE={BLACKHOLE}",
            "unshare", "--net", "--mount", "sh", "-c", SETUP, "netns"]
