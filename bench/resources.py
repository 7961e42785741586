"""Memory and CPU of the stack's processes, read from /proc.

supervisord (which manage_all.sh runs the processes under) starts each process in a process
group of its own, with the pid `supervisorctl status` reports as its leader, so a
process's figures are those of every member of its group: gunicorn's master and workers,
Celery's main process and pool.

RSS counts pages shared between forked processes once per process, so the sum over
processes overstates; PSS (proportional set size) shares them out and sums to the real
total. Both are reported.
"""

import os
import re
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def group_members(leader: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == leader:  # field 5 of stat: the process group
            members.append(int(entry.name))
    return members


def _kib(pid: int, path: str, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_mib(leader: int) -> dict[str, float]:
    members = group_members(leader)
    return {
        "processes": len(members),
        "rss_mib": round(sum(_kib(pid, "status", "VmRSS:") for pid in members) / 1024, 1),
        "pss_mib": round(sum(_kib(pid, "smaps_rollup", "Pss:") for pid in members) / 1024, 1),
    }


def cpu_seconds(leader: int) -> float:
    """User + system CPU of the group so far: its live members, and the children the
    leader has reaped (gunicorn replaces its workers after max_requests; their CPU would
    otherwise vanish from the sum)."""
    total = 0
    for pid in group_members(leader):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        if pid == leader:
            total += int(fields[13]) + int(fields[14])  # cutime, cstime: reaped children
    return total / TICKS


# name -> (pid of its group leader, its group's CPU seconds so far), as taken at one moment.
CpuSnapshot = dict[str, tuple[int, float]]


def cpu_used(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """CPU seconds each process group used between two snapshots. A process restarted
    meanwhile (another pid) counts from its start; one gone by `after` is not counted (its
    CPU since `before` is lost with it)."""
    used = {}
    for name, (pid, seconds) in after.items():
        pid_before, seconds_before = before.get(name, (pid, 0.0))
        used[name] = max(0.0, seconds - (seconds_before if pid_before == pid else 0.0))
    return used


def cpu_ms_per_order(used: dict[str, float], orders: int) -> float | None:
    """All the processes' CPU over a window, in milliseconds per order that reached a
    terminal status in it; None without such an order."""
    if orders <= 0:
        return None
    return round(sum(used.values()) * 1000 / orders, 2)


# A line of `supervisorctl status`: "orders  RUNNING   pid 4242, uptime 0:01:02".
_RUNNING = re.compile(r"^(\S+)\s+RUNNING\s+pid (\d+),", re.MULTILINE)


def leaders(supervisor_status: str) -> dict[str, int]:
    """Process name -> pid of its group leader, for each running process in the output of
    `supervisorctl status` (supervisord itself is not one of the stack's processes)."""
    found = {}
    for name, pid in _RUNNING.findall(supervisor_status):
        if Path(f"/proc/{pid}").exists():
            found[name] = int(pid)
    return found
