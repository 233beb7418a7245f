"""The gate library; ``GATES`` runs in this order."""

from riskops.validation.gate import Gate
from riskops.validation.gates.champion import ChampionGate
from riskops.validation.gates.performance import PerformanceGate

GATES: tuple[Gate, ...] = (PerformanceGate(), ChampionGate())

__all__ = ["GATES"]
