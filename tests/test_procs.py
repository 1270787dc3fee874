"""The /proc helpers the stack's tests and the benchmarks read processes with."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from devstack.procs import alive, command_line, cpu_seconds, descendants, free_port, parent_of


def test_a_free_port_can_be_listened_on() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()


def test_descendants_follow_children_of_children_and_their_ends() -> None:
    # a shell whose child python spawns one more sleeper: two levels below the shell
    inner = ("import subprocess, sys, time; "
             "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)")
    proc = subprocess.Popen(["sh", "-c", f'"{sys.executable}" -c "{inner}"; true'], start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while len(descendants(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        found = descendants(proc.pid)
        assert len(found) == 2
        child, grandchild = found
        assert parent_of(child) == proc.pid and parent_of(grandchild) == child
        assert all(alive(pid) for pid in found)
        assert "time.sleep(60)" in command_line(grandchild)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in found) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in found)


def test_cpu_seconds_count_work_and_a_gone_process_has_none() -> None:
    before = cpu_seconds(os.getpid())
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    assert cpu_seconds(os.getpid()) >= before + 0.1
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert cpu_seconds(proc.pid) == 0.0 and command_line(proc.pid) == "" and not alive(proc.pid)
