"""A fake Ollama/OpenAI server on loopback for load runs: ``python -m tests.load.fake_llm``.

Prints its base URL (use it as LOCAL_LLM_URL and OPENAI_BASE_URL + "/v1") and serves until
interrupted. It is the same fake the coach's tests use: real HTTP, the providers' wire format,
default answers, 384-dimensional embeddings.
"""

from __future__ import annotations

import signal
import threading

from tests.services.coach.fake_llm import FakeLlmServer


def main() -> None:
    server = FakeLlmServer(dimensions=384).start()
    print(server.url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
