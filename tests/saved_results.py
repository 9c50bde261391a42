"""Result files as FGM wrote them before its results were typed: each must still read back into its `Record` type
and be written again as the same JSON."""

# results.json of `fgm benchmark vep` (a plain-gzip genome: with its BGZF copy)
VEP_RESULTS = """{
  "dataset": "yeast_stop_vs_synonymous",
  "model": "runs/demo/model",
  "genome": "data/genomes/sacCer_S288C.fa.gz",
  "genome_bgzf_copy": "runs/vep/reference_cache/0123abcd-sacCer_S288C.fa.gz",
  "window": 1200,
  "frames": "all",
  "strands": "both",
  "skipped_not_snv": 0,
  "n": 1000,
  "positives": 500,
  "auroc": [0.61, 0.58, 0.64],
  "auprc": [0.6, 0.57, 0.63],
  "auprc_baseline": 0.5,
  "tail_odds_ratio": {"tail": 0.1, "odds_ratio": 2.0, "low": 1.5, "high": 2.7, "p_value": 0.001,
                      "table": [[66, 34], [434, 466]]}
}
"""

# results.json of `fgm finetune` (two seeds, --dedup; the options cut to a few of each group)
FINETUNE_RESULTS = """{
  "task": "splice_sites_all",
  "benchmark": "revised",
  "model": "runs/yeast/model",
  "headline_metric": "mcc",
  "num_labels": 3,
  "label_names": ["acceptor", "donor", "none"],
  "data": {
    "source": "tests/data/nt/splice_sites_all",
    "n_train": 2400,
    "n_validation": null,
    "n_test": 600,
    "dedup": {"train": {"duplicates": 3, "conflicting": 1}, "test": {"duplicates": 0, "conflicting": 0},
              "train_test_overlap_removed": 2},
    "max_tokens": 101,
    "chunked_rows": {"train": 0, "test": 0},
    "truncated_rows": {"train": 0, "test": 0}
  },
  "n_runs": 2,
  "runs": [
    {"fold": null, "seed": 1, "n_train": 2160, "n_validation": 240,
     "test": {"mcc": 0.81, "f1": 0.87, "f1_macro": 0.87, "accuracy": 0.88},
     "validation": {"mcc": 0.8, "f1": 0.86, "f1_macro": 0.86, "accuracy": 0.87},
     "best_step": 120, "steps": 152, "epochs": 4.0},
    {"fold": null, "seed": 2, "n_train": 2160, "n_validation": 240,
     "test": {"mcc": 0.83, "f1": 0.88, "f1_macro": 0.88, "accuracy": 0.89},
     "validation": {"mcc": 0.82, "f1": 0.87, "f1_macro": 0.87, "accuracy": 0.88},
     "best_step": null, "steps": 152, "epochs": 4.0}
  ],
  "summary": {
    "mcc": {"mean": 0.82, "two_sd": 0.028, "n": 2},
    "f1": {"mean": 0.875, "two_sd": 0.014, "n": 2},
    "f1_macro": {"mean": 0.875, "two_sd": 0.014, "n": 2},
    "accuracy": {"mean": 0.885, "two_sd": 0.014, "n": 2}
  },
  "model_dir": "runs/splice/model",
  "arguments": {
    "model": {"model_name_or_path": "runs/yeast/model", "method": "full", "lora_target_modules": null},
    "data": {"benchmark": "revised", "dedup": true, "rc_average": false, "task": null, "class_names": null},
    "training": {"output_dir": "runs/splice", "learning_rate": 0.002, "seeds": [1, 2], "folds": 0,
                 "lr_scheduler_type": "linear"}
  }
}
"""

# nt_benchmark_revised.json of `fgm benchmark nt`
NT_BENCHMARK_RESULTS = """{
  "benchmark": "revised",
  "model": "runs/yeast/model",
  "data_dir": "tests/data/nt",
  "rows": [
    {
      "task": "splice_sites_all",
      "metric": "mcc",
      "score": {"mean": 0.82, "two_sd": 0.028, "n": 2},
      "all_metrics": {
        "mcc": {"mean": 0.82, "two_sd": 0.028, "n": 2},
        "f1": {"mean": 0.875, "two_sd": 0.014, "n": 2},
        "f1_macro": {"mean": 0.875, "two_sd": 0.014, "n": 2},
        "accuracy": {"mean": 0.885, "two_sd": 0.014, "n": 2}
      },
      "n_test": 600,
      "published": {"NT-v2 500M": 0.98, "DNABERT-2": null, "HyenaDNA": null}
    }
  ],
  "published_sources": ["Dalla-Torre et al., Nature Methods 22, 287-297 (2025), Fig. 2a"]
}
"""
