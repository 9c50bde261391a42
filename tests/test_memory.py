"""Sliding-window layers use memory linear in length: 4x the tokens, about 4x the peak (not 16x)."""

import json
import subprocess
import sys
import textwrap

MEASURE = textwrap.dedent(
    """
    import json, resource, sys, torch
    resource.setrlimit(resource.RLIMIT_AS, (12 * 2**30, 12 * 2**30))  # a dense n x n blow-up fails here, cleanly
    from fgm.model.configuration_fgm import FGMConfig
    from fgm.model.modeling_fgm import FGMForMaskedLM

    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

    length = int(sys.argv[1])
    torch.manual_seed(0)
    config = FGMConfig.preset("tiny", hidden_size=128, num_hidden_layers=4, layer_types=["sliding_attention"] * 4,
                              sliding_window=64)
    model = FGMForMaskedLM(config)
    ids = torch.randint(6, 4107, (1, length))
    labels = ids.masked_fill(torch.rand(ids.shape) > 0.15, -100)
    before = rss_mb()
    model(ids, labels=labels).loss.backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"length": length, "peak_over_start_mb": peak - before}))
    """
)


def peak_growth(length: int) -> float:
    run = subprocess.run([sys.executable, "-c", MEASURE, str(length)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])["peak_over_start_mb"]


def test_sliding_only_peak_memory_grows_linearly():
    short, long = peak_growth(8192), peak_growth(32768)
    ratio = long / short
    assert short > 20, f"too little memory used to measure ({short:.0f} MB)"
    assert ratio < 6.5, f"peak memory grew {ratio:.1f}x for 4x the tokens ({short:.0f} -> {long:.0f} MB)"


def test_benchmark_children_get_an_address_space_cap_on_the_cpu_only():
    """benchmarks/harness.py caps a CPU run's address space; a CUDA run's (which reserves far more than it
    uses: flash-attn-4's compiler failed under the cap on an H200) is left alone."""
    import resource
    from argparse import Namespace
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from harness import run_isolated

    child = [sys.executable, "-c", "import json, resource; "
             "print(json.dumps({'status': 'ok', 'cap': resource.getrlimit(resource.RLIMIT_AS)[0]}))"]
    caps = {}
    for device in ("cpu", "cuda"):
        args = Namespace(mem_cap_gb=2.0, address_slack_gb=1.0, min_free_gb=0.0, device=device)
        caps[device] = run_isolated(child, device, 60, args)["cap"]
    assert caps == {"cpu": 3 * 2**30, "cuda": resource.getrlimit(resource.RLIMIT_AS)[0]}
