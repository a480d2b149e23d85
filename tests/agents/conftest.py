from tests.agents.fixtures import model_coach

__all__ = ["model_coach"]
