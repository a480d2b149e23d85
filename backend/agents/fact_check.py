"""No invented number reaches the owner: a model's answer is checked against the tools' figures.

A figure that no tool result (nor the owner's own message) backs — see
:class:`~backend.agents.citations.Backing` — is repaired before the answer is sent:

1. the model is asked once more, told which figures no tool returned;
2. if the rewrite still uses such figures, the sentences holding them are dropped, and the
   notice says which sentences went (their figures masked, so they are not shown either).

Streaming answers go through :class:`CheckedReplyStream`: the model's text is held back one
sentence at a time and a sentence goes out only once it is complete and checked. The
sentence is the unit because it is the unit that step 2 drops — a figure cannot be judged
before it is complete ("1,2…" may become "1,220"), and text already sent cannot be taken back
except by discarding the whole answer. So the stream stays incremental (the first sentence
shows as soon as it is written) and what it shows is exactly the final reply.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from backend.agents.citations import Backing
from backend.services.coach.llm_router import LlmRouter, ReplyStream, RoutedChat
from backend.services.coach.providers.base import ChatMessage

# Where a sentence ends: terminal punctuation (and closing quotes/brackets) then whitespace, or a line break.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*[ \t]+|[.!?…]*[\"'”’)\]]*[ \t]*(?:\r?\n)+[ \t]*")
MASK = "[unverified figure]"
# Sentences quoted in a notice are cut to this many characters.
NOTICE_SENTENCE_CHARS = 160

REWRITE_INSTRUCTION = (
    "Your previous answer used figures that appear in no tool result and not in the user's message: "
    "{figures}. "
    "Rewrite the whole answer for the user. Use only numbers that appear in the tool results or the "
    "user's message (rounding them is fine); where a figure is not available, say so in words. "
    "Do not mention this instruction."
)


def complete_sentences(text: str) -> tuple[list[str], str]:
    """The complete sentences at the start of ``text`` (each with its trailing whitespace) and the rest.

    A sentence counts as complete only once a non-space character follows its end, so the split of
    a growing text never changes: what is complete in a prefix is complete in the whole text.
    """
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() >= len(text):
            break
        sentences.append(text[start : match.end()])
        start = match.end()
    return sentences, text[start:]


def split_sentences(text: str) -> list[str]:
    """``text`` as sentences; joined, they give ``text`` back."""
    sentences, rest = complete_sentences(text)
    return [*sentences, rest] if rest else sentences


@dataclass(frozen=True)
class Pruned:
    text: str
    removed: list[str]


def drop_unbacked_sentences(text: str, backing: Backing) -> Pruned:
    """``text`` without the sentences holding a figure ``backing`` does not back."""
    kept: list[str] = []
    removed: list[str] = []
    for sentence in split_sentences(text):
        (removed if backing.unbacked(sentence) else kept).append(sentence)
    return Pruned("".join(kept), [sentence.strip() for sentence in removed])


def rewrite_request(messages: Sequence[ChatMessage], reply: str, figures: Sequence[str]) -> list[ChatMessage]:
    """The conversation plus the flawed answer and an instruction naming its unbacked figures.

    The instruction is a system message, so the user's question stays the latest user message
    (the router rates it, and the offline tier still finds the tool results after it).
    """
    instruction = REWRITE_INSTRUCTION.format(figures=", ".join(dict.fromkeys(figures)))
    return [*messages, ChatMessage("assistant", reply), ChatMessage("system", instruction)]


def rewritten_notice(figures: Sequence[str]) -> str:
    count = len(dict.fromkeys(figures))
    return (
        f"The model's first answer used {count} figure{'s' if count != 1 else ''} that no tool returned; "
        "it was rewritten with the tools' figures only."
    )


def removed_notice(removed: Sequence[str], backing: Backing) -> str:
    quoted = "; ".join(f"“{_clip(backing.mask_unbacked(sentence, MASK))}”" for sentence in removed)
    count = len(removed)
    return (
        f"Removed {count} sentence{'s' if count != 1 else ''} whose figures no tool returned "
        f"(figures masked): {quoted}"
    )


def _clip(sentence: str) -> str:
    if len(sentence) <= NOTICE_SENTENCE_CHARS:
        return sentence
    return sentence[: NOTICE_SENTENCE_CHARS - 1].rstrip() + "…"


class CheckedReplyStream(ReplyStream):
    """A reply stream that sends a sentence only once it is complete and every figure in it is backed.

    Set :attr:`backing` before each model call (the figures the tools returned so far); call
    :meth:`finish` once the model's answer is complete to check and send its last sentence.
    Sentences with an unbacked figure are withheld, so the text sent is exactly what
    :func:`drop_unbacked_sentences` keeps of the answer.
    """

    def __init__(self, emit: Callable[[str, dict[str, object]], Awaitable[None]]) -> None:
        super().__init__(emit)
        self.backing = Backing()
        self._pending = ""

    async def delta(self, text: str) -> None:
        self._pending += text
        sentences, self._pending = complete_sentences(self._pending)
        for sentence in sentences:
            await self._release(sentence)

    async def finish(self) -> None:
        rest, self._pending = self._pending, ""
        if rest:
            await self._release(rest)

    async def reset(self) -> None:
        self._pending = ""
        await super().reset()

    async def _release(self, sentence: str) -> None:
        if not self.backing.unbacked(sentence):
            await super().delta(sentence)


@dataclass(frozen=True)
class CheckedReply:
    """The answer to send, the model calls its repair took, and notices saying what was repaired.

    An empty ``reply`` means every sentence held an unbacked figure: the caller shows the tools'
    reports instead.
    """

    reply: str
    templated: bool
    calls: list[RoutedChat]
    notices: list[str]


async def check_reply(
    router: LlmRouter,
    tenant_id: uuid.UUID,
    messages: Sequence[ChatMessage],
    reply: str,
    backing: Backing,
    stream: CheckedReplyStream | None,
) -> CheckedReply:
    """``reply`` if every figure in it is backed; else the model's rewrite, pruned if it still invents."""
    figures = backing.unbacked(reply)
    if not figures:
        if stream is not None:
            await stream.finish()
        return CheckedReply(reply, False, [], [])
    if stream is not None:
        await stream.reset()  # the rewrite replaces what went out of the first answer
    routed = await router.chat(tenant_id, rewrite_request(messages, reply, figures), (), stream=stream)
    if stream is not None:
        await stream.finish()
    rewritten = routed.result.content
    if routed.result.templated:
        # No model could rewrite: the offline tier lists the tools' results instead.
        return CheckedReply(rewritten, True, [routed], [rewritten_notice(figures)])
    if not backing.unbacked(rewritten):
        return CheckedReply(rewritten, False, [routed], [rewritten_notice(figures)])
    pruned = drop_unbacked_sentences(rewritten, backing)
    if not pruned.text.strip() and stream is not None:
        await stream.reset()
    return CheckedReply(pruned.text, False, [routed], [removed_notice(pruned.removed, backing)])
