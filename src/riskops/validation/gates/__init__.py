"""The gate library; ``GATES`` runs in this order."""

from riskops.validation.gate import Gate
from riskops.validation.gates.backtest import BacktestGate
from riskops.validation.gates.benchmark import BenchmarkGate
from riskops.validation.gates.calibration import CalibrationGate
from riskops.validation.gates.champion import ChampionGate
from riskops.validation.gates.data_quality import DataQualityGate
from riskops.validation.gates.decisions import DecisionsGate
from riskops.validation.gates.dependence import DependenceGate
from riskops.validation.gates.detection import DetectionGate
from riskops.validation.gates.explainability import ExplainabilityGate
from riskops.validation.gates.fairness import FairnessGate
from riskops.validation.gates.generalisation import GeneralisationGate
from riskops.validation.gates.monotonicity import MonotonicityGate
from riskops.validation.gates.performance import PerformanceGate
from riskops.validation.gates.robustness import RobustnessGate
from riskops.validation.gates.stability import StabilityGate

GATES: tuple[Gate, ...] = (
    PerformanceGate(),
    BacktestGate(),
    GeneralisationGate(),
    CalibrationGate(),
    DetectionGate(),
    DecisionsGate(),
    StabilityGate(),
    ChampionGate(),
    BenchmarkGate(),
    DataQualityGate(),
    FairnessGate(),
    RobustnessGate(),
    MonotonicityGate(),
    ExplainabilityGate(),
    DependenceGate(),
)

__all__ = ["GATES"]
