"""The coach's LLM platform: providers and router with cost control, usage accounting, embeddings, memory.

The orchestration that uses it (the graph, the chat turn, the runtime built at startup) lives in
``backend.agents``; nothing here imports it.
"""
