from tests.agents.fixtures import fake_llm, model_coach

__all__ = ["fake_llm", "model_coach"]
