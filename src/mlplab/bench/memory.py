"""Peak RSS of one project run at a given data size: ``python -m mlplab.bench.memory N OUT_DIR``.

Run in its own process, since peak RSS only ever grows within a process.
"""

import json
import resource
import sys
from pathlib import Path

import torch

from mlplab.bench.project import build, compose_run


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main(num_samples: int, output_dir: Path) -> dict[str, int]:
    torch.set_num_threads(1)
    cfg = compose_run(
        [f"data.num_samples={num_samples}", "data.batch_size=1024", "trainer.max_epochs=1", "trainer.accelerator=cpu"],
        output_dir,
    )
    datamodule, model, trainer = build(cfg, progress_bar=False)
    trainer.fit(model, datamodule=datamodule)
    data_bytes = num_samples * (cfg.data.in_dim + cfg.data.out_dim) * 4  # float32 x and y
    return {"num_samples": num_samples, "peak_rss": peak_rss_bytes(), "data_bytes": data_bytes}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), Path(sys.argv[2]))))
