"""The AI coach: LLM providers and router with cost control, usage accounting, embeddings, memory."""
