"""The file writer behind torch's ``SummaryWriter`` (torch 2.3 - 2.13).

The HParams plugin's summaries must be written as raw protobuf summaries so the HParams tab shows the run's
real final metrics; ``SummaryWriter.add_hparams`` instead opens a second run directory per call
(pytorch/pytorch issue #32651) and Lightning's ``log_hyperparams`` writes placeholder metrics.
"""

from typing import Any

from torch.utils.tensorboard import SummaryWriter


def file_writer(writer: SummaryWriter) -> Any:
    return writer._get_file_writer()
