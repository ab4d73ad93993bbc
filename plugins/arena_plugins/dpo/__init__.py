"""DPO and IPO (with their variants: cDPO, robust DPO, SLiC's hinge, RPO, length normalisation) on preference
pairs. Registration and args only; the losses are in `arena_plugins.dpo.losses` (no torch at import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from arena.api import Range, Register, hookimpl


@dataclass
class DPOArgs:
    """-log sigmoid(beta * h), h = [log pi(y_w) - log pi_ref(y_w)] - [log pi(y_l) - log pi_ref(y_l)]."""

    beta: Annotated[float, Range(0, low_open=True)] = (
        0.1  # inverse temperature of the implicit reward; higher stays nearer the reference
    )
    loss: Literal["sigmoid", "hinge", "robust"] = (
        "sigmoid"  # DPO, SLiC's hinge max(0, 1 - beta h), robust DPO
    )
    # Probability that a label is flipped: cDPO with `sigmoid`, the unbiased estimator with `robust`.
    label_smoothing: Annotated[float, Range(0, 0.49)] = 0.0
    length_normalized: bool = False  # divide each log-ratio by the completion's token count
    # RPO: + rpo_alpha x the chosen completion's per-token NLL (TRL's `rpo_alpha`; 0: plain DPO).
    rpo_alpha: Annotated[float, Range(0)] = 0.0

    def check(self) -> tuple[str, str] | None:
        if self.loss == "hinge" and self.label_smoothing:  # SLiC's hinge has no noise model to smooth
            return (
                "label_smoothing",
                "expected loss 'sigmoid' or 'robust' beside it (the hinge loss takes none)",
            )
        return None


@dataclass
class IPOArgs:
    """(h - 1/(2 tau))^2 (Azar et al. 2023), h the same log-ratio margin as DPO's."""

    tau: Annotated[float, Range(0, low_open=True)] = 0.1  # regularisation: the target margin h is 1/(2 tau)
    # Off by default, as in the paper. TRL's `loss_type="ipo"` averages log-probs over tokens (on).
    length_normalized: bool = False
    rpo_alpha: Annotated[float, Range(0)] = 0.0  # as DPO's: + rpo_alpha x the chosen per-token NLL


@hookimpl
def register_algorithms(register: Register) -> None:
    register(
        "dpo",
        "arena_plugins.dpo.losses:DPO",
        config=DPOArgs,
        description="direct preference optimisation (Rafailov et al. 2023); cDPO, robust and hinge variants",
    )
    register(
        "ipo",
        "arena_plugins.dpo.losses:IPO",
        config=IPOArgs,
        description="identity preference optimisation (Azar et al. 2023)",
    )
