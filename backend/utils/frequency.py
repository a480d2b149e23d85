"""One frequency vocabulary for the API: day, week, month, quarter, year.

Requests may also spell a frequency the pandas way (``D``, ``W-MON``, ``MS``, ``QS``, ``YS``, …):
those are documented aliases, mapped to the vocabulary on the way in; responses always use the
vocabulary. Weeks start on Monday; months, quarters and years are calendar periods (the bucket is
labelled by its first day). Compute code that needs pandas gets the offset alias from
``pandas_code``.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BeforeValidator

from backend.utils.calendar import Period as Frequency

FREQUENCIES: tuple[str, ...] = get_args(Frequency)

# The pandas offset alias each period is computed with.
_PANDAS_CODE: dict[str, str] = {
    "day": "D",
    "week": "W-MON",
    "month": "MS",
    "quarter": "QS-JAN",
    "year": "YS-JAN",
}
# Accepted spellings besides the vocabulary itself (case-sensitive, as pandas reads them: "M" is a
# month, "min" a minute). Period-end codes (ME, QE, YE, A) name the same calendar periods.
ALIASES: dict[str, Frequency] = {
    "D": "day",
    "1D": "day",
    "W": "week",
    "W-MON": "week",
    "MS": "month",
    "M": "month",
    "ME": "month",
    "QS": "quarter",
    "QS-JAN": "quarter",
    "Q": "quarter",
    "QE": "quarter",
    "YS": "year",
    "YS-JAN": "year",
    "AS": "year",
    "Y": "year",
    "YE": "year",
    "A": "year",
}
_BY_PANDAS_CODE: dict[str, str] = {code: name for name, code in _PANDAS_CODE.items()}

FREQUENCY_TEXT = (
    "day, week (starting Monday), month, quarter or year. Pandas codes are accepted as aliases: "
    + ", ".join(f"{code} → {name}" for code, name in ALIASES.items())
    + "."
)


def normalise(value: object) -> object:
    """The vocabulary word for ``value``: a word, an alias, or else as given (the Literal refuses it)."""
    if isinstance(value, str):
        word = value.strip()
        if word.lower() in FREQUENCIES:
            return word.lower()
        return ALIASES.get(word, word)
    return value


def pandas_code(frequency: str) -> str:
    """The pandas offset alias of a vocabulary word; any other text is passed through (internal codes)."""
    return _PANDAS_CODE.get(frequency, frequency)


def vocabulary_of(code: object) -> object:
    """The vocabulary word of a pandas code (stored results written before the vocabulary); else as given."""
    if isinstance(code, str):
        return _BY_PANDAS_CODE.get(code) or ALIASES.get(code) or code
    return code


# A request field: the vocabulary, with aliases mapped before the Literal checks it; an unknown
# value is a 422 listing the allowed words.
FrequencyIn = Annotated[Frequency, BeforeValidator(normalise)]
# Marketing-mix models fit daily or weekly buckets only.
MmmFrequency = Literal["day", "week"]
MmmFrequencyIn = Annotated[MmmFrequency, BeforeValidator(normalise)]
# A response field: stored results written before the vocabulary read as the vocabulary too.
FrequencyOut = Annotated[str, BeforeValidator(vocabulary_of)]
