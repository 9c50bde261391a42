"""Measuring one benchmark configuration in a child process of its own: timed steps with the CPU other processes
used meanwhile, peak memory under an RSS watchdog and an address-space backstop, a time limit, and the machine.

A configuration that does not fit is recorded as `killed (over N GiB)` / `OOM` / `timeout` (with the steps it did
finish) instead of taking the machine down. Shared by `bench_training.py` and `bench_hierarchical.py`.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time

GIB = 1024**3


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def machine_busy_seconds() -> float:
    """CPU-seconds spent busy by the whole machine so far (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_steps(step, args) -> dict | None:
    """`args.warmup` warm-up steps, then `args.steps` timed ones. After every step a progress line goes to
    stdout, so that a run stopped by the time limit still reports the steps it finished. None (the OOM status
    printed) when a step runs out of memory."""
    times, others, shares = [], [], []
    for i in range(args.warmup + args.steps):
        busy0, own0, t0 = machine_busy_seconds(), own_cpu_seconds(), time.perf_counter()
        try:
            loss = step()
        except (MemoryError, RuntimeError) as error:
            if out_of_memory(error):
                return None
            raise
        elapsed = time.perf_counter() - t0
        own = own_cpu_seconds() - own0
        other = max(machine_busy_seconds() - busy0 - own, 0.0) / elapsed  # cores used by other processes
        warm = i < args.warmup
        if not warm:
            times.append(elapsed)
            others.append(other)
            shares.append(own / elapsed)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps({"event": "step", "warmup": warm, "seconds": elapsed, "others_cores": other,
                          "peak_rss": peak}), flush=True)
        print(f"[{args.model} {args.length}] step {i} {'(warm-up) ' if warm else ''}{elapsed:.2f}s loss {loss:.3f} "
              f"(this process {own / elapsed:.2f} cores, others {other:.2f} cores)", file=sys.stderr, flush=True)
    return {"times": times, "others_cores": others, "own_cores": shares}


def mem_available_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 1 << 62


def process_rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def run_isolated(cmd: list[str], label: str, timeout: float, args) -> dict:
    """Run a child (`cmd`, which prints JSON lines: step events, then one result) under `args.mem_cap_gb`,
    `args.address_slack_gb`, `args.min_free_gb` and `timeout`; returns its result (status "ok" or why not),
    with its wall time and the peak RSS seen."""
    cap = int(args.mem_cap_gb * GIB)
    address_cap = cap + int(args.address_slack_gb * GIB)

    def limit():
        # Backstop: the RSS watchdog below is the main guard, but a single huge allocation must fail
        # in the child (RuntimeError / MemoryError) rather than push the machine into the OOM killer.
        # Not on a GPU: a CUDA process reserves far more address space than it uses (flash-attn-4's compiler
        # stopped with "LLVM ERROR: out of memory" under this cap on an H200), and torch reports GPU OOM itself.
        if getattr(args, "device", "cpu") != "cuda":
            resource.setrlimit(resource.RLIMIT_AS, (address_cap, address_cap))
        os.setsid()

    print(f"--> {label}", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    report = tempfile.TemporaryFile(mode="w+")  # the child's stdout: JSON lines
    proc = subprocess.Popen(cmd, stdout=report, stderr=None, preexec_fn=limit, text=True)
    watched_peak, reason = 0, None
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        rss = process_rss_bytes(proc.pid)
        watched_peak = max(watched_peak, rss)
        if reason is None:
            if rss > cap:
                reason = f"killed (over {args.mem_cap_gb:g} GiB)"
            elif mem_available_bytes() < args.min_free_gb * GIB:
                reason = f"killed (machine below {args.min_free_gb:g} GiB free at {rss / GIB:.1f} GiB)"
            elif time.monotonic() - t0 > timeout:
                reason = f"timeout (> {timeout:g} s)"
            if reason is not None:
                os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    report.seek(0)
    out = report.read()
    report.close()
    result, progress = None, []
    for line in out.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == "step":
                progress.append(record)
            else:
                result = record
    if result is None:
        if reason is None:
            reason = "OOM (allocation failed under the cap)" if proc.returncode == 1 else f"failed (exit {proc.returncode})"
        result = {"status": reason, "finished_steps": progress}
    result.update(wall=time.monotonic() - t0, peak_rss_observed=max(rusage.ru_maxrss * 1024, watched_peak))
    return result


def child_result(timing: dict, **fields) -> None:
    """Print a child's result line: the timing, the fields, and its peak RSS."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"status": "ok", **timing, **fields, "peak_rss": peak}), flush=True)


def out_of_memory(error: BaseException) -> bool:
    """Whether a child's error is an allocation failure (reported as OOM, not raised)."""
    if isinstance(error, MemoryError) or "allocate" in str(error):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps({"status": f"OOM (allocation failed at {peak / GIB:.1f} GiB RSS: {str(error)[:80]})"}),
              flush=True)
        return True
    return False


def machine_info() -> dict:
    import torch
    import transformers

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "ram_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    }


