"""The final models of benchmarks/stream_curve.sh evaluated on the same validation windows: the in-memory corpus's first
256 (what the in-memory runs evaluated on) and the stream's first 256 (what the streamed run did), same masks."""
import tempfile

from fgm.training.pretrain import PretrainDataArguments, PretrainingArguments, PretrainModelArguments, build_trainer

for corpus, streaming in (("runs/curve/arrow", False), ("runs/curve/shards", True)):
    for model in ("model_arrow", "model_arrow_seed1", "model_stream"):
        trainer = build_trainer(
            PretrainModelArguments(model_name_or_path=f"runs/curve/{model}"),
            PretrainDataArguments(corpus=corpus, max_length=200, mlm_probability=0.3, streaming=streaming),
            PretrainingArguments(output_dir=tempfile.mkdtemp(), max_steps=1, report_to="none", seed=0,
                                 disable_tqdm=True, per_device_eval_batch_size=16))
        print(corpus, model, round(trainer.evaluate()["eval_loss"], 4), flush=True)
