"""Hand a sweep's trials to Ray and record each finished one as it arrives.

Ray schedules the trials (locally on this machine's cores, or on a cluster
with ``address``); this module only keeps at most ``max_concurrent`` in
flight, writes each result row as soon as it comes back, and reports
progress.  Ray is imported here only, so the rest of bpsom never needs it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

from bpsom_core.atomic import exclusive_lock
from bpsom_core.errors import InputError, Terminated, plural, printable_line
from .results import ResultsFile, columns_for, numeric_columns
from .spec import SweepSpec, Trial

MISSING_RAY = "bpsom sweep needs Ray: pip install 'bpsom[sweep]'"


def import_ray():
    """Ray, or an InputError that names the extra to install."""
    try:
        import ray
    except ImportError:
        raise InputError(MISSING_RAY) from None
    return ray


@dataclass
class SweepOutcome:
    total: int
    skipped: int
    started: int
    ok: int
    failed: int
    interruption: Optional[BaseException] = None   # Ctrl-C or SIGTERM, re-raised by the command for its exit code

    @property
    def interrupted(self) -> bool:
        return self.interruption is not None


def start_ray(address: Optional[str], num_cpus: Optional[int] = None):
    """Join ``address``, or start a private local Ray on this machine's cores (no dashboard)."""
    ray = import_ray()
    kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                  configure_logging=True)
    on_term = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise InputError(f"cannot start or join Ray ({str(exc).splitlines()[0]})", field="--address") from None
    except SystemExit as exc:   # SIGTERM inside ray.init meets Ray's handler there, which exits with 15
        if exc.code != signal.SIGTERM:
            raise
        _shutdown_started(ray)
        raise Terminated() from None
    except KeyboardInterrupt:
        _shutdown_started(ray)
        raise
    finally:
        if on_term is not None:   # Ray's core installs a SIGTERM handler that dumps its stack and exits;
            signal.signal(signal.SIGTERM, on_term)   # the program's own (rows kept, one line) stays
    return ray


def _shutdown_started(ray) -> None:
    """Stop what had started of a Ray whose start was interrupted: left to Ray's exit hook, its
    half-made state could crash the interpreter's exit, and its agents outlive the program."""
    try:
        ray.shutdown()
    except Exception:   # noqa: BLE001 - best effort on the way out; the interruption is what counts
        pass


ADDRESS_FORMS = "auto, local, HOST:PORT or ray://HOST:PORT"


def check_address(address: str) -> None:
    """Refuse an address Ray could not join, before anything is started or printed."""
    if address in ("auto", "local"):
        return
    scheme, sep, rest = address.partition("://")
    hostport = rest if sep else address
    host, _, port = hostport.rpartition(":")
    if (sep and scheme != "ray") or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"expected {ADDRESS_FORMS}, got {address[:80]!r}", field="--address")


def reachable(address: str, timeout: float = 5.0) -> bool:
    """Whether HOST:PORT (or ray://HOST:PORT) accepts a connection; other forms ('auto') are left to Ray,
    which would otherwise retry an unreachable address for minutes."""
    import socket

    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return True
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def trial_resources(command: str, cluster: dict) -> dict:
    """What one trial asks Ray for: a CPU, and a GPU for glue trials when the cluster has GPUs."""
    if command == "glue" and cluster.get("GPU", 0) >= 1:
        return {"num_cpus": 1, "num_gpus": 1}
    return {"num_cpus": 1}


def _remote_trial(trial: Trial, out_dir: str) -> dict:
    from .trials import run_trial
    return run_trial(trial, out_dir)


def run_sweep(spec: SweepSpec, out_dir: Path, address: Optional[str] = None,
              max_concurrent: Optional[int] = None, num_cpus: Optional[int] = None,
              retry_failed: bool = False, say: Callable[[str], None] = print) -> SweepOutcome:
    """Run every unfinished trial of ``spec``; rows go to ``out_dir/results.csv`` as they finish."""
    trials = spec.trials()
    todo = _unfinished(spec, trials, out_dir, retry_failed)
    outcome = SweepOutcome(len(trials), len(trials) - len(todo), 0, 0, 0)
    if todo:
        if address:
            check_address(address)
            if not reachable(address):
                raise InputError(f"no Ray cluster answers at {address}", field="--address")
        created = not out_dir.exists()
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            with exclusive_lock(out_dir / LOCK_NAME, f"another bpsom sweep is running in {out_dir}; "
                                                     "wait for it to finish or choose another --output-dir"):
                results = ResultsFile(out_dir / "results.csv", columns_for(spec), numeric_columns(spec.metrics))
                todo = _unfinished(spec, trials, out_dir, retry_failed, results)   # rows written before the lock
                outcome.skipped = len(trials) - len(todo)
                if todo:
                    _run_locked(spec, todo, results, out_dir, address, max_concurrent, num_cpus, outcome, say)
        finally:
            if created:
                _remove_if_empty(out_dir)   # stopped before any row: no empty directory left behind
    if not todo:
        say(f"all {len(trials)} trials already finished in {out_dir / 'results.csv'}; starting 0 trials")
    return outcome


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:   # not empty (rows were written), or gone already
        pass


LOCK_NAME = ".sweep.lock"   # one sweep at a time writes a directory, or one's rows would overwrite the other's


def _unfinished(spec: SweepSpec, trials: List[Trial], out_dir: Path, retry_failed: bool,
                results: Optional[ResultsFile] = None) -> List[Trial]:
    """The trials without a finished row (failed ones too with ``retry_failed``)."""
    results = results or ResultsFile(out_dir / "results.csv", columns_for(spec), numeric_columns(spec.metrics))
    finished = ("ok",) if retry_failed else ("ok", "failed")
    return [t for t in trials if results.status(t.trial_id) not in finished]


def _run_locked(spec: SweepSpec, todo: List[Trial], results: ResultsFile, out_dir: Path,
                address: Optional[str], max_concurrent: Optional[int], num_cpus: Optional[int],
                outcome: SweepOutcome, say: Callable[[str], None]) -> None:
    """Start (or join) Ray and run ``todo``; the caller holds the directory's lock."""
    say(f"{plural(outcome.total, 'trial')} ({outcome.skipped} already finished); starting {len(todo)}")
    own_ray = not import_ray().is_initialized()      # a caller's running Ray is used, and left running
    ray = start_ray(address, num_cpus) if own_ray else import_ray()
    try:
        cluster = ray.cluster_resources()
        resources = trial_resources(spec.command, cluster)
        slots = int(cluster.get("GPU", 0)) if "num_gpus" in resources else int(cluster.get("CPU", 1))
        limit = max(1, min(max_concurrent or slots, slots or 1))
        remote = ray.remote(max_retries=0)(_remote_trial).options(**resources)
        # a private local Ray's shutdown stops its trials; force-cancelling them first races with
        # replies on their way in (Ray aborts: "Tried to complete task that was not pending")
        _drive(ray, remote, todo, results, str(out_dir.resolve()), limit, outcome, say,
               cancel_on_stop=bool(address) or not own_ray)
    except KeyboardInterrupt as exc:
        outcome.interruption = exc
        recorded = outcome.ok + outcome.failed
        if recorded or outcome.skipped:
            say(f"interrupted: {plural(recorded, 'trial')} recorded in {out_dir / 'results.csv'}; "
                "run the same command again to resume")
    finally:
        if own_ray:
            ray.shutdown()


def _drive(ray, remote, todo: List[Trial], results: ResultsFile, out_dir: str, limit: int,
           outcome: SweepOutcome, say: Callable[[str], None], cancel_on_stop: bool = True) -> None:
    """Keep ``limit`` trials running until all are recorded; on Ctrl-C or SIGTERM the running
    ones are cancelled when ``cancel_on_stop`` (a cluster's trials outlive this process)."""
    pending = list(reversed(todo))
    running = {}
    t0 = time.perf_counter()
    try:
        while pending or running:
            while pending and len(running) < limit:
                trial = pending.pop()
                running[remote.remote(trial, out_dir)] = trial
                outcome.started += 1
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                trial = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:   # a worker died: record it, go on
                    result = {"status": "failed", "error": " ".join(str(exc).split())[:300]}
                results.record(trial, result)
                if result["status"] == "ok":
                    outcome.ok += 1
                else:
                    outcome.failed += 1
                say(progress_line(trial, result, outcome, len(running), len(todo), time.perf_counter() - t0))
    except BaseException:
        if cancel_on_stop:
            for ref in running:
                ray.cancel(ref, force=True)
        raise


ETA_AFTER = 3   # finished trials before the progress line estimates the time left


def progress_line(trial: Trial, result: dict, outcome: SweepOutcome, running: int, total: int,
                  elapsed: float) -> str:
    """'[done 3/8, running 2, failed 0, ETA 0:12] som=5 seed 0 fold 1: accuracy 0.97 (1.2 s)'."""
    done = outcome.ok + outcome.failed
    eta = "-:--"   # the first trials carry Ray's start and the first compile: no estimate from them alone
    if done >= ETA_AFTER or done == total:
        left = int(elapsed / done * (total - done))
        eta = f"{left // 60}:{left % 60:02d}"
    what = " ".join(f"{k}={v}" for k, v in trial.params.items() if k != "data") or "defaults"
    if "data" in trial.params:
        what = f"{Path(str(trial.params['data'])).name} {what}"
    where = f"seed {trial.seed}" + ("" if trial.fold is None else f" fold {trial.fold}")
    if result["status"] == "ok":
        score = next((f"{k} {v:.4g}" for k, v in result.items() if isinstance(v, float) and k != "seconds"), "ok")
        if result.get("note"):
            score += f" (note: {result['note']})"
    else:
        score = f"FAILED: {result['error']}"
    return printable_line(f"[done {done}/{total}, running {running}, failed {outcome.failed}, "
                          f"ETA {eta}] {what} {where}: {score} ({result.get('seconds', 0):.1f} s)")
