"""Peak RSS of one project run at a given data size: ``python -m mlplab.bench.memory N OUT_DIR``.

Run in its own process, since peak RSS only ever grows within a process.
"""

import json
import subprocess
import sys
from pathlib import Path

import torch

from mlplab.bench.project import build, compose_run
from mlplab.bench.rss import own_peak_rss_bytes


def main(num_samples: int, output_dir: Path) -> dict[str, int]:
    torch.set_num_threads(1)
    cfg = compose_run(
        [f"data.num_samples={num_samples}", "data.batch_size=1024", "trainer.max_epochs=1", "trainer.accelerator=cpu"],
        output_dir,
    )
    datamodule, model, trainer = build(cfg, progress_bar=False)
    trainer.fit(model, datamodule=datamodule)
    data_bytes = num_samples * (cfg.data.in_dim + cfg.data.out_dim) * 4  # float32 x and y
    return {"num_samples": num_samples, "peak_rss": own_peak_rss_bytes(), "data_bytes": data_bytes}


def memory_case(big: int, small: int, tmp: Path) -> dict[str, float]:
    """Peak RSS of a run at ``big`` samples minus one at ``small``, against the data tensors' bytes."""
    # Side by side: each process reports its own peak, which the other does not change.
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlplab.bench.memory", str(n), str(tmp / f"mem{n}")],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in (small, big)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, proc.args, out)
        results.append(json.loads(out.strip().splitlines()[-1]))
    extra = results[1]["peak_rss"] - results[0]["peak_rss"]
    data = results[1]["data_bytes"]
    return {
        "small_n": small,
        "big_n": big,
        "small_peak_mb": results[0]["peak_rss"] / 2**20,
        "big_peak_mb": results[1]["peak_rss"] / 2**20,
        "data_mb": data / 2**20,
        "ratio": extra / data,
        "target": 1.25,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), Path(sys.argv[2]))))
