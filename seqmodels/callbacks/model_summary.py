"""Lightning's rich model summary, without a FLOPs count that was never measured.

Lightning counts a model's FLOPs only by running its ``example_input_array``, which no seqmodels task sets (a
recurrent model's cost depends on the lengths of the batch, and the ``custom`` backend's C loops are no torch
operators a FLOP counter could see). Its summary then prints a ``FLOPs`` column of zeros and ``Total FLOPs: 0``
at the start of every run, which reads as a fault. This one prints the same table and totals and leaves the
FLOPs out when none were counted; a module that does set ``example_input_array`` gets them as in Lightning.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import RichModelSummary
from lightning.pytorch.utilities.model_summary import get_formatted_model_size, get_human_readable_count

_LEFT_ALIGNED = (" ", "Name", "Type", "Mode")


class ModelSummary(RichModelSummary):
    """``RichModelSummary`` (same arguments: ``max_depth``, ``header_style``) that shows FLOPs only when counted."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        from rich import get_console
        from rich.table import Table

        columns = [(name, values) for name, values in summary_data if name != "FLOPs" or total_flops]
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        for name, _ in columns:
            left = name in _LEFT_ALIGNED
            table.add_column(name, justify="left" if left else "right", style="dim" if name == " " else None)
        for row in zip(*(values for _, values in columns)):
            table.add_row(*row)

        totals = [
            ("Trainable params", get_human_readable_count(int(trainable_parameters))),
            ("Non-trainable params", get_human_readable_count(int(total_parameters - trainable_parameters))),
            ("Total params", get_human_readable_count(int(total_parameters))),
            ("Total estimated model params size (MB)", get_formatted_model_size(model_size)),
            ("Modules in train mode", str(total_training_modes["train"])),
            ("Modules in eval mode", str(total_training_modes["eval"])),
        ]
        if total_flops:
            totals.append(("Total FLOPs", get_human_readable_count(total_flops)))
        grid = Table.grid(expand=True)
        grid.add_column()
        for label, value in totals:
            grid.add_row(f"[bold]{label}[/]: {value}")

        console = get_console()
        console.print(table)
        console.print(grid)
