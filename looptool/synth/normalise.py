"""How values are found in conversation text: words, numbers, dates and times, normalised the way a
careful annotator reads them (grounding, looptool.synth.grounding, uses these).

Words: case-folded, accents removed, split on anything that is not a letter or digit, with a
light plural rule ("nights" finds "night"). Numbers: digits with or without thousands separators
("1,000", "1000.0"), signs, multipliers ("5k", "2 million"), spelled numbers ("twenty five", via
text2num), percentages (15 % is 15 or 0.15) and unit conversions within one dimension ("2 hours"
is 2, 120 or 7200; "5 km" is 5 or 5000). Dates: ISO, slashed, dotted and month-name forms, and
relative phrases anchored at the conversation's date ("tomorrow", "in 3 days", "next Monday").
Times: "15:30", "3pm", "3:30 p.m.", "noon", "midnight", "7 o'clock".

Everything here is a pure function of the text; no regular expression here depends on input.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOPWORDS = frozenset(
    """a an the of to for in on at by and or with from into my your our their his her its this that
    these those is are be was were it i me we you he she they please some any as""".split()
)


def fold(text: str) -> str:
    """Lower case without accents: "Zürich" and "zurich" read the same."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def words(text: str) -> list[str]:
    return WORD.findall(fold(text))


@functools.lru_cache(maxsize=65536)
def variants(word: str) -> frozenset[str]:
    """A word and its stem readings: plurals ("cities" -> "city", "nights" -> "night") and -ing /
    -ed forms ("running" -> "run", "booked" -> "book"), so "a 2 hour run" backs "running"."""
    out = {word}
    if len(word) > 3 and word.endswith("ies"):
        out.add(word[:-3] + "y")
    if len(word) > 3 and word.endswith("es"):
        out.add(word[:-2])
    if len(word) > 2 and word.endswith("s") and not word.endswith("ss"):
        out.add(word[:-1])
    for suffix in ("ing", "ed"):
        stem = word[: -len(suffix)]
        if len(stem) >= 3 and word.endswith(suffix) and not stem.isdigit():
            out |= {stem, stem + "e"}
            if len(stem) >= 4 and stem[-1] == stem[-2]:
                out.add(stem[:-1])
    return frozenset(out)


def content_words(text: str) -> list[str]:
    """The words that carry a value; a value made only of stop words keeps them all."""
    found = words(text)
    content = [w for w in found if w not in STOPWORDS]
    return content or found


def collapse(text: str) -> str:
    """Case-folded text with runs of whitespace as one space (for "stated exactly")."""
    return " ".join(fold(text).split())


# -- numbers ------------------------------------------------------------------------------------
_NUMBER = re.compile(
    r"(?<![\w.])([-+−]?)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:\s*(k|thousand|m|mn|million|bn|billion)\b)?(?:\s*(%|percent\b|per cent\b))?",
    re.IGNORECASE,
)
_MULTIPLIERS = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
_WORD_NUMBERS = {"a dozen": 12, "dozen": 12, "a couple of": 2, "a pair of": 2, "twice": 2, "once": 1, "half": 0.5, "a half": 0.5}
# unit word -> (dimension, size in the dimension's base unit)
UNITS: dict[str, tuple[str, float]] = {}
for _names, _dimension, _size in (
    (("s", "sec", "secs", "second", "seconds"), "time", 1.0),
    (("min", "mins", "minute", "minutes"), "time", 60.0),
    (("h", "hr", "hrs", "hour", "hours"), "time", 3600.0),
    (("day", "days"), "time", 86400.0),
    (("week", "weeks"), "time", 604800.0),
    (("mm", "millimeter", "millimeters", "millimetre", "millimetres"), "length", 0.001),
    (("cm", "centimeter", "centimeters", "centimetre", "centimetres"), "length", 0.01),
    (("meter", "meters", "metre", "metres"), "length", 1.0),
    (("km", "kilometer", "kilometers", "kilometre", "kilometres"), "length", 1000.0),
    (("in", "inch", "inches"), "length", 0.0254),
    (("ft", "foot", "feet"), "length", 0.3048),
    (("mi", "mile", "miles"), "length", 1609.344),
    (("g", "gram", "grams"), "mass", 1.0),
    (("kg", "kilo", "kilos", "kilogram", "kilograms"), "mass", 1000.0),
    (("lb", "lbs", "pound", "pounds"), "mass", 453.59237),
    (("oz", "ounce", "ounces"), "mass", 28.349523125),
    (("ml", "milliliter", "milliliters", "millilitre", "millilitres"), "volume", 0.001),
    (("l", "liter", "liters", "litre", "litres"), "volume", 1.0),
    (("gal", "gallon", "gallons"), "volume", 3.785411784),
):
    for _name in _names:
        UNITS[_name] = (_dimension, _size)
_UNIT_AFTER = re.compile(r"\s*(°\s*[cf]\b|degrees?\s+(?:celsius|fahrenheit|c|f)\b|[a-z]+)", re.IGNORECASE)


@dataclass(frozen=True)
class FoundNumber:
    value: float
    exact: bool  # written as this very number (digits, no conversion)


def _spelled_to_digits(text: str) -> str:
    """Spelled numbers as digits ("twenty five" -> "25", "one" -> "1"); the text unchanged if
    text2num cannot read it."""
    from text_to_num import alpha2digit

    try:
        return alpha2digit(text, "en", threshold=0)
    except Exception:  # noqa: BLE001 - a converter failure only loses the spelled reading
        return text


def _numbers_in(text: str, exact: bool) -> list[FoundNumber]:
    found: list[FoundNumber] = []
    for match in _NUMBER.finditer(text):
        sign, whole, fraction, multiplier, percent = match.groups()
        value = float(whole.replace(",", "") + (fraction or ""))
        if sign in ("-", "−"):
            value = -value
        plain = exact and not multiplier and "," not in whole
        if multiplier:
            value *= _MULTIPLIERS[multiplier.lower()]
        found.append(FoundNumber(value, plain))
        if percent:
            found.append(FoundNumber(value / 100, False))
        unit = _UNIT_AFTER.match(text, match.end())
        if unit is not None and not percent:
            found.extend(_converted(value, unit.group(1)))
    return found


def _converted(value: float, unit: str) -> list[FoundNumber]:
    word = fold(unit).replace(" ", "")
    if word.startswith("°") or word.startswith("degree"):
        if word.endswith(("c", "celsius")):
            return [FoundNumber(value * 9 / 5 + 32, False)]
        return [FoundNumber((value - 32) * 5 / 9, False)]
    known = UNITS.get(word)
    if known is None:
        return []
    dimension, size = known
    sizes = {s for d, s in UNITS.values() if d == dimension}
    return [FoundNumber(value * size / other, False) for other in sorted(sizes) if other != size]


_UNIT_PHRASE = re.compile(
    r"\b(an?|one|half\s+an?|a\s+half|a\s+quarter\s+of\s+an?|an?\s+(?=\w+\s+and\s+a\s+half))\s+([a-z]+)(\s+and\s+a\s+half)?\b"
)
_FRACTIONS = {"half": 0.5, "quarter": 0.25}


def _unit_phrases(folded: str) -> list[FoundNumber]:
    """ "an hour" (1), "half an hour" (0.5), "an hour and a half" (1.5), with their conversions."""
    found: list[FoundNumber] = []
    for match in _UNIT_PHRASE.finditer(folded):
        if match.group(2) not in UNITS:
            continue
        head = match.group(1)
        amount = next((v for k, v in _FRACTIONS.items() if k in head), 1.0) + (0.5 if match.group(3) else 0.0)
        found.append(FoundNumber(amount, False))
        found.extend(_converted(amount, match.group(2)))
    return found


def numbers(text: str) -> list[FoundNumber]:
    """Every number the text states, with its normalised readings (see the module doc). Numbers
    inside dates and times are not numbers of their own ("2024-05-01" does not state 5)."""
    masked = _DATE_TIME_SPANS.sub(" ", text)
    found = _numbers_in(masked, True)
    spelled = _spelled_to_digits(masked)
    if spelled != masked:
        found += [FoundNumber(n.value, False) for n in _numbers_in(spelled, False)]
    folded = fold(masked)
    found += _unit_phrases(folded)
    for phrase, value in _WORD_NUMBERS.items():
        if re.search(r"\b" + re.escape(phrase) + r"\b", folded):
            found.append(FoundNumber(float(value), False))
    return found


def same_number(a: float, b: float, tolerance: float = 0.0) -> bool:
    if tolerance <= 0:
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    return abs(a - b) <= tolerance * max(abs(a), abs(b), 1e-9) or abs(a - b) < 0.005


# -- dates and times ----------------------------------------------------------------------------
MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
WEEKDAYS = {
    name: number
    for number, names in enumerate(
        (
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        )
    )
    for name in names
}
_MONTH = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_WEEKDAY = r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
SLASH_DATE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d/])")
DOT_DATE = re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(\d{4})(?![\d.])")
MONTH_DAY = re.compile(_MONTH + r"\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4}))?", re.IGNORECASE)
DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"\b\.?(?:,?\s+(\d{4}))?", re.IGNORECASE)
TIME_24 = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::\d{2})?(?:\s*([ap])\.?\s?m\b\.?)?", re.IGNORECASE)
TIME_12 = re.compile(r"(?<![\d:])(\d{1,2})(?:\s+(\d{2}))?\s*([ap])\.?\s?m\b\.?", re.IGNORECASE)
OCLOCK = re.compile(r"\b(\d{1,2})\s*o'?\s?clock\b", re.IGNORECASE)
_DATE_TIME_SPANS = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?|(?<![\d:])\d{1,2}:\d{2}(?::\d{2})?"
    r"|(?<![\d/])\d{1,2}/\d{1,2}/\d{2,4}(?![\d/])|(?<![\d.])\d{1,2}\.\d{1,2}\.\d{4}(?![\d.])"
)


def _month(name: str) -> int:
    word = fold(name)
    return MONTHS.get(word) or MONTHS[word[:3]]


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def conversation_day(current_time: str | None) -> date | None:
    """The conversation's date from its current_time ("2024-05-01, Wednesday"), if it has one."""
    match = ISO_DATE.search(current_time or "")
    return _safe_date(int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


@dataclass
class FoundDates:
    """Dates a text states: written out (any format) or relative to the conversation's date.
    `ranges` are vaguer phrases ("next week"): any day in them is plausible, not stated."""

    absolute: set[date] = field(default_factory=set)
    month_days: set[tuple[int, int]] = field(default_factory=set)  # written without a year
    relative: set[date] = field(default_factory=set)
    ranges: set[date] = field(default_factory=set)


def _years(today: date | None) -> list[int] | None:
    return [today.year, today.year + 1] if today else None


def _weekday_dates(today: date, weekday: int, qualifier: str) -> set[date]:
    ahead = (weekday - today.weekday()) % 7
    coming = today + timedelta(days=ahead)
    if qualifier == "last":
        return {today - timedelta(days=((today.weekday() - weekday) % 7) or 7)}
    if qualifier == "next":  # the coming one, or the one in the following week: both readings are common
        return {coming if ahead else coming + timedelta(days=7), coming + timedelta(days=7)}
    if qualifier == "this":
        return {today + timedelta(days=weekday - today.weekday()), coming}
    return {coming, coming + timedelta(days=7)} if ahead == 0 else {coming}


_RELATIVE_DAYS = (
    ("day after tomorrow", 2),
    ("day before yesterday", -2),
    ("tomorrow", 1),
    ("yesterday", -1),
    ("today", 0),
    ("tonight", 0),
    ("this morning", 0),
    ("this afternoon", 0),
    ("this evening", 0),
    ("now", 0),
)
_IN_N = re.compile(r"\bin\s+(\d+)\s+(day|week)s?\b|\b(\d+)\s+(day|week)s?\s+from\s+(?:now|today)\b|\ba\s+(week)\s+from\s+(?:now|today)\b")
_WEEKDAY_PHRASE = re.compile(r"\b(?:(next|this|coming|last|on)\s+)?" + _WEEKDAY + r"\b")
_WEEK_PHRASE = re.compile(r"\b(next|this)\s+(week|weekend)\b")
_DAY_OF_MONTH = re.compile(r"\bthe\s+(\d{1,2})(?:st|nd|rd|th)\b")


def dates(text: str, today: date | None) -> FoundDates:
    out = FoundDates()
    for match in ISO_DATE.finditer(text):
        day = _safe_date(*(int(g) for g in match.groups()))
        if day:
            out.absolute.add(day)
    for match in DOT_DATE.finditer(text):
        day = _safe_date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
        if day:
            out.absolute.add(day)
    for match in SLASH_DATE.finditer(text):
        first, second, year = int(match.group(1)), int(match.group(2)), match.group(3)
        for month, day_number in ((first, second), (second, first)):  # US and European order
            if year:
                full = int(year) + (2000 if len(year) == 2 else 0)
                day = _safe_date(full, month, day_number)
                if day:
                    out.absolute.add(day)
            elif 1 <= month <= 12 and 1 <= day_number <= 31:
                out.month_days.add((month, day_number))
    for pattern, month_group, day_group in ((MONTH_DAY, 1, 2), (DAY_MONTH, 2, 1)):
        for match in pattern.finditer(text):
            month = _month(match.group(month_group))
            day_number = int(match.group(day_group))
            if match.group(3):
                day = _safe_date(int(match.group(3)), month, day_number)
                if day:
                    out.absolute.add(day)
            elif 1 <= day_number <= 31:
                out.month_days.add((month, day_number))
    if today is None:
        return out
    folded = fold(_spelled_to_digits(text))
    for phrase, offset in _RELATIVE_DAYS:
        if re.search(r"\b" + phrase + r"\b", folded):
            out.relative.add(today + timedelta(days=offset))
    for match in _IN_N.finditer(folded):
        count = int(match.group(1) or match.group(3) or 1)
        unit = match.group(2) or match.group(4) or match.group(5)
        out.relative.add(today + timedelta(days=count * (7 if unit == "week" else 1)))
    for match in _WEEKDAY_PHRASE.finditer(folded):
        out.relative |= _weekday_dates(today, WEEKDAYS[match.group(2)], match.group(1) or "")
    monday = today - timedelta(days=today.weekday())
    for match in _WEEK_PHRASE.finditer(folded):
        start = monday + timedelta(days=7 if match.group(1) == "next" else 0)
        if match.group(2) == "week":
            out.ranges |= {start + timedelta(days=i) for i in range(7)}
        else:
            out.relative |= {start + timedelta(days=5), start + timedelta(days=6)}
    for match in _DAY_OF_MONTH.finditer(folded):
        number = int(match.group(1))
        this_month = _safe_date(today.year, today.month, number)
        following = _safe_date(today.year + (today.month == 12), today.month % 12 + 1, number)
        out.relative |= {d for d in (this_month, following) if d}
    return out


def date_matches(day: date, found: FoundDates, today: date | None) -> str | None:
    """How a date is backed by what a text says: "absolute", "relative", "range" or None."""
    if day in found.absolute:
        return "absolute"
    if (day.month, day.day) in found.month_days and (today is None or day.year in (_years(today) or [])):
        return "absolute"
    if day in found.relative:
        return "relative"
    if day in found.ranges:
        return "range"
    return None


def times(text: str) -> set[tuple[int, int]]:
    """(hour, minute) pairs a text states; a bare "7 o'clock" is 07:00 or 19:00."""
    found: set[tuple[int, int]] = set()
    spelled = _spelled_to_digits(text)
    for source in {text, spelled}:
        for match in TIME_24.finditer(source):
            hour, minute = int(match.group(1)), int(match.group(2))
            if match.group(3):
                hour = hour % 12 + (12 if match.group(3).lower() == "p" else 0)
            if hour < 24 and minute < 60:
                found.add((hour, minute))
        for match in TIME_12.finditer(source):
            hour, minute = int(match.group(1)), int(match.group(2) or 0)
            if 1 <= hour <= 12 and minute < 60:
                found.add((hour % 12 + (12 if match.group(3).lower() == "p" else 0), minute))
        for match in OCLOCK.finditer(source):
            hour = int(match.group(1))
            if 1 <= hour <= 12:
                found |= {(hour % 12, 0), (hour % 12 + 12, 0)}
    folded = fold(text)
    if re.search(r"\bnoon\b|\bmidday\b", folded):
        found.add((12, 0))
    if re.search(r"\bmidnight\b", folded):
        found.add((0, 0))
    return found


@dataclass(frozen=True)
class DateValue:
    """What a date-like argument value says: candidate days (a slashed date can be read two ways)
    and a time of day, if any."""

    days: frozenset[date]
    time: tuple[int, int] | None


_VALUE_DATETIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")
_VALUE_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([ap])\.?m\.?)?$", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def date_value(value: str) -> DateValue | None:
    """The date (and time) an argument value names, or None when it is not a date."""
    text = value.strip()
    match = _VALUE_DATETIME.match(text)
    if match:
        day = _safe_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        if day is None:
            return None
        time = (int(match.group(4)), int(match.group(5))) if match.group(4) else None
        if time == (0, 0) and not (match.group(6) or "").strip("0"):
            time = None  # midnight with no seconds is how date-only values are often written
        return DateValue(frozenset({day}), time)
    found = dates(text, None)
    whole = (
        ISO_DATE.fullmatch(text)
        or SLASH_DATE.fullmatch(text)
        or DOT_DATE.fullmatch(text)
        or MONTH_DAY.fullmatch(text)
        or DAY_MONTH.fullmatch(text)
    )
    if whole and found.absolute:
        return DateValue(frozenset(found.absolute), None)
    return None


def time_value(value: str) -> tuple[int, int] | None:
    match = _VALUE_TIME.match(value.strip())
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if match.group(4):
        hour = hour % 12 + (12 if match.group(4).lower() == "p" else 0)
    return (hour, minute) if hour < 24 and minute < 60 else None
