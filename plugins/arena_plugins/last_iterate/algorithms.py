"""MPO, INPO, EGPO and Nash Mirror Prox on the shared Trainer loop: each an `AnchoredSelfPlay` with its
step's coefficients (a, b) and, for the extragradient ones, two phases per iteration."""

from __future__ import annotations

from arena_plugins.last_iterate import EGPOArgs, INPOArgs, MPOArgs, NashMPArgs
from arena_plugins.last_iterate.steps import AnchoredSelfPlay, mirror_descent_step, proximal_step


class INPO(AnchoredSelfPlay):
    """Iterative Nash Policy Optimization (Zhang et al. 2024, arXiv 2407.00617)."""

    def __init__(self, args: INPOArgs) -> None:
        super().__init__(mirror_descent_step(args.eta, args.tau), args.iteration_steps)
        self.args = args
        self.kl_coefficient = args.tau


class MPO(AnchoredSelfPlay):
    """Magnetic Preference Optimization (Wang et al. 2024, arXiv 2410.16714): magnetic mirror descent
    (Sokota et al. 2023) with a magnet that is the reference, or refreshed every `magnet_every` iterations."""

    def __init__(self, args: MPOArgs) -> None:
        super().__init__(proximal_step(args.eta, args.tau), args.iteration_steps, args.magnet_every)
        self.args = args
        # With a refreshed magnet the limit is the Nash equilibrium of P, not pi*_tau: no tau to evaluate at.
        self.kl_coefficient = None if args.magnet_every else args.tau


class EGPO(AnchoredSelfPlay):
    """Extragradient Preference Optimization (Zhou et al. 2025, arXiv 2503.08942)."""

    extragradient = True

    def __init__(self, args: EGPOArgs) -> None:
        super().__init__(mirror_descent_step(args.eta, args.tau), args.iteration_steps)
        self.args = args
        self.kl_coefficient = args.tau


class NashMP(AnchoredSelfPlay):
    """Nash Mirror Prox (Tiapkin et al. 2025, arXiv 2505.19731)."""

    extragradient = True

    def __init__(self, args: NashMPArgs) -> None:
        super().__init__(proximal_step(args.eta, args.beta), args.iteration_steps)
        self.args = args
        self.kl_coefficient = args.beta
