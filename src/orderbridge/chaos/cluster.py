"""The cluster a chaos run can stage on PostgreSQL (`--workers N --serve M`): `orderbridge serve`
processes (the API and VTEX's hook receiver) and `orderbridge worker` processes (jobs, and the
once-per-cluster loops: feed pollers, reconciliation, the warehouse's way back), all on one configuration
file, as docs/deploy.md describes. A kill SIGKILLs one worker drawn at random and starts it again at
once; the `serve` processes are left alone (a load balancer would route around a dead one)."""

from __future__ import annotations

import random
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orderbridge.demo.processes import PipelineDied, check_alive, kill, start_pipeline, stop


@dataclass
class _Member:
    name: str
    role: str
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]


class Cluster:
    """`serve_ports` gives each `serve` its API port (the first is the configuration file's, where
    VTEX's hook points); `seed` draws the workers to kill."""

    def __init__(self, config: Path, workdir: Path, workers: int, serve_ports: list[int], seed: int) -> None:
        if workers < 1:
            raise ValueError("a cluster needs at least one worker")
        self.config = config
        self.rng = random.Random(f"{seed}:victims")
        self.members: list[_Member] = []
        for n, port in enumerate(serve_ports, start=1):
            self._start(f"serve-{n}", "serve", workdir, {"ORDERBRIDGE_API__PORT": str(port)})
        for n in range(1, workers + 1):
            self._start(f"worker-{n}", "worker", workdir, {})
        self.kills = 0
        self.kills_by_process: Counter[str] = Counter()

    def _start(self, name: str, role: str, workdir: Path, env: dict[str, str]) -> None:
        log_path = workdir / f"{name}.log"
        process = start_pipeline(self.config, log_path, role, env)
        self.members.append(_Member(name, role, log_path, env, process))

    def kill_and_restart(self) -> None:
        victim = self.rng.choice([m for m in self.members if m.role == "worker"])
        kill(victim.process)
        self.kills += 1
        self.kills_by_process[victim.name] += 1
        victim.process = start_pipeline(self.config, victim.log_path, victim.role, victim.env)

    def check(self) -> None:
        for member in self.members:
            try:
                check_alive(member.process, member.log_path)
            except PipelineDied as died:
                raise PipelineDied(f"{member.name}: {died}") from None

    def stop(self) -> None:
        # SIGTERM to all first: each then finishes its running jobs while the others do too.
        for member in self.members:
            if member.process.poll() is None:
                member.process.terminate()
        for member in self.members:
            stop(member.process)

    def figures(self) -> dict[str, Any]:
        roles = Counter(m.role for m in self.members)
        return {
            "processes": dict(roles),
            "kills_by_process": {m.name: self.kills_by_process[m.name] for m in self.members},
        }
