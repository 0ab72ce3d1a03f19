"""The facts a product answer must not get wrong, read from a sentence: numbers with their units (prices,
sizes, durations), codes and model names, and whether the sentence is negated.

A sentence's facts must all be found in the passage that supports it; its polarity must match the
supporting sentence's. Both checks are strict on purpose: "$39" is not "$49", "E4" is not "E5", and "you
cannot" is not "you can"."""

import re

from tutorbook_grounding.sentences import without_citations

# A number (1,200 / 2.5 / 40) with an optional currency before and unit after; not one inside a code (AP3-F).
QUANTITY = re.compile(
    r"(?<![A-Za-z0-9.-])(?P<currency>[$\u20ac\u00a3])?\s?(?P<number>\d+(?:[.,]\d+)*)[\s-]?(?P<unit>%|[a-zA-Z\u00b2\u00b3]+)?"
)
# A code or model name: letters and digits together (E4, AP3-F, PM2.5, S7, X100), or two or more capitals.
CODE = re.compile(r"\b(?=[A-Za-z0-9-]*[0-9])(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9]+(?:[-.][A-Za-z0-9]+)*\b|\b[A-Z]{2,}\b")
UNIT_NAMES = {
    "h": "hour", "hr": "hour", "hrs": "hour", "hour": "hour", "hours": "hour",
    "min": "minute", "mins": "minute", "minute": "minute", "minutes": "minute",
    "s": "second", "sec": "second", "secs": "second", "second": "second", "seconds": "second",
    "day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month", "months": "month",
    "year": "year", "years": "year", "yr": "year", "yrs": "year",
    "w": "watt", "watt": "watt", "watts": "watt", "kg": "kg", "g": "g", "lb": "lb", "lbs": "lb",
    "l": "litre", "liter": "litre", "liters": "litre", "litre": "litre", "litres": "litre", "ml": "ml",
    "m": "m", "cm": "cm", "mm": "mm", "ft": "ft", "inch": "inch", "inches": "inch",
    "m\u00b2": "m2", "m2": "m2", "sq": "sq", "db": "db", "%": "percent", "percent": "percent", "bar": "bar",
    "mah": "mah", "v": "volt", "volt": "volt", "volts": "volt", "hz": "hz", "ghz": "ghz", "gb": "gb", "tb": "tb",
    "$": "usd", "usd": "usd", "\u20ac": "eur", "eur": "eur", "\u00a3": "gbp", "gbp": "gbp",
}  # fmt: skip
NEGATIONS = frozenset({"not", "no", "never", "cannot", "can't", "cant", "don't", "doesn't", "isn't",
                       "aren't", "won't", "wasn't", "shouldn't", "mustn't", "none", "nothing"})  # fmt: skip
NEGATION_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|n't")


def quantities(text: str) -> set[tuple[str, str | None]]:
    """The numbers in a text, each with its unit when it has a known one (a currency counts as a unit)."""
    found = set()
    for match in QUANTITY.finditer(text.replace("\u2019", "'")):
        number = match["number"].replace(",", "")
        unit = match["currency"] or (match["unit"] or "").lower()
        found.add((number.rstrip("0").rstrip(".") if "." in number else number, UNIT_NAMES.get(unit)))
    return found


def codes(text: str) -> set[str]:
    """Codes and model names in a text, lower-cased; a number alone or with its unit ("5GHz", "2-year")
    is a quantity, not a code."""
    return {
        code.lower() for code in CODE.findall(text) if not code.replace(".", "").isdigit() and not is_quantity(code)
    }


def is_quantity(token: str) -> bool:
    match = QUANTITY.fullmatch(token)
    return match is not None and (match["unit"] or "").lower() in UNIT_NAMES


def states(passage: str, code: str) -> bool:
    """Whether the passage names the code as a whole word ("S1" is not stated by "S10")."""
    return re.search(rf"(?<![a-z0-9]){re.escape(code)}(?![a-z0-9])", passage.lower()) is not None


def negated(text: str) -> bool:
    tokens = NEGATION_WORD.findall(text.lower().replace("\u2019", "'"))
    return any(token in NEGATIONS or token.endswith("n't") for token in tokens)


def missing_facts(sentence: str, passage: str) -> list[str]:
    """The sentence's numbers and codes that the passage does not state; a number the sentence gives a
    unit must have that unit in the passage too ("300 m\u00b2" is not stated by "AeroPure 300")."""
    sentence = without_citations(sentence)
    stated = quantities(passage)
    stated_numbers = {number for number, _ in stated}
    missing = []
    for number, unit in sorted(quantities(sentence), key=str):
        if number not in stated_numbers or (unit is not None and (number, unit) not in stated):
            missing.append(number if unit is None else f"{number} {unit}")
    missing.extend(code for code in sorted(codes(sentence)) if not states(passage, code))
    return missing
