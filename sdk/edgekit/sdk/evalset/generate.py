"""Generate the labelled escalation set (deterministic; answers computed, facts listed once).

    python -m edgekit.sdk.evalset.generate            # rewrites escalation_set.jsonl next to this file

Families and graded levels (the default 135M model gets the easy levels right
and the hard ones wrong, which is what an escalation policy must tell apart):
- arithmetic: one-digit sums and differences, one-digit products, two-digit
  sums/differences, 2x1-digit products, three-digit sums, exact divisions,
  2x2- and 3x2-digit products;
- conversion: exact unit factors (km/m, m/cm, kg/g, h/min, min/s, day/h,
  week/day, ft/in, yd/ft, L/mL, dozen, cm/mm) with small and large quantities;
- fact: capitals and other well-known facts with certain answers (aliases for
  spellings);
- reasoning: short word problems, sequences, comparisons, doubling/halving.
Each item: id, family, level, question, checker, expected.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import seeded_set

__all__ = ["generate", "DEFAULT_PATH", "SEED"]

SEED = 20251129
DEFAULT_PATH = Path(__file__).with_name("escalation_set.jsonl")

CAPITALS = [
    ("France", ["Paris"]),
    ("Germany", ["Berlin"]),
    ("Italy", ["Rome"]),
    ("Spain", ["Madrid"]),
    ("Japan", ["Tokyo"]),
    ("China", ["Beijing", "Peking"]),
    ("Russia", ["Moscow"]),
    ("the United Kingdom", ["London"]),
    ("Egypt", ["Cairo"]),
    ("Canada", ["Ottawa"]),
    ("Australia", ["Canberra"]),
    ("Brazil", ["Brasília"]),
    ("Argentina", ["Buenos Aires"]),
    ("Mexico", ["Mexico City"]),
    ("India", ["New Delhi"]),
    ("Portugal", ["Lisbon"]),
    ("Greece", ["Athens"]),
    ("the Netherlands", ["Amsterdam"]),
    ("Belgium", ["Brussels"]),
    ("Austria", ["Vienna"]),
    ("Switzerland", ["Bern", "Berne"]),
    ("Sweden", ["Stockholm"]),
    ("Norway", ["Oslo"]),
    ("Denmark", ["Copenhagen"]),
    ("Finland", ["Helsinki"]),
    ("Poland", ["Warsaw"]),
    ("Ireland", ["Dublin"]),
    ("Turkey", ["Ankara"]),
    ("Iran", ["Tehran"]),
    ("Iraq", ["Baghdad"]),
    ("Saudi Arabia", ["Riyadh"]),
    ("Kenya", ["Nairobi"]),
    ("Nigeria", ["Abuja"]),
    ("South Korea", ["Seoul"]),
    ("Thailand", ["Bangkok"]),
    ("Vietnam", ["Hanoi"]),
    ("the Philippines", ["Manila"]),
    ("Peru", ["Lima"]),
    ("Chile", ["Santiago"]),
    ("Colombia", ["Bogotá"]),
    ("Cuba", ["Havana"]),
    ("Hungary", ["Budapest"]),
    ("the Czech Republic", ["Prague"]),
    ("Ukraine", ["Kyiv", "Kiev"]),
    ("Pakistan", ["Islamabad"]),
    ("New Zealand", ["Wellington"]),
    ("Morocco", ["Rabat"]),
    ("Ethiopia", ["Addis Ababa"]),
]

FACTS = [
    ("What is the chemical symbol for gold?", ["Au"]),
    ("What is the chemical symbol for silver?", ["Ag"]),
    ("What is the chemical symbol for iron?", ["Fe"]),
    ("What is the chemical symbol for sodium?", ["Na"]),
    ("What is the chemical symbol for oxygen?", ["O"]),
    ("What is the chemical symbol for hydrogen?", ["H"]),
    ("What is the largest planet in our solar system?", ["Jupiter"]),
    ("Which planet is known as the Red Planet?", ["Mars"]),
    ("Which planet is closest to the Sun?", ["Mercury"]),
    ("What is the largest ocean on Earth?", ["Pacific", "Pacific Ocean"]),
    ("Who wrote Romeo and Juliet?", ["Shakespeare", "William Shakespeare"]),
    ("Who wrote Hamlet?", ["Shakespeare", "William Shakespeare"]),
    ("Who wrote Pride and Prejudice?", ["Austen", "Jane Austen"]),
    ("Who wrote the novel 1984?", ["Orwell", "George Orwell"]),
    ("Who painted the Mona Lisa?", ["Leonardo", "da Vinci", "Leonardo da Vinci"]),
    ("Who was the first person to walk on the Moon?", ["Armstrong", "Neil Armstrong"]),
    ("How many legs does a spider have?", ["8", "eight"]),
    ("How many legs does an insect have?", ["6", "six"]),
    ("How many continents are there on Earth?", ["7", "seven"]),
    ("What is the currency of Japan?", ["yen"]),
    ("What language is spoken in Brazil?", ["Portuguese"]),
    ("At what temperature in degrees Celsius does water freeze?", ["0", "zero"]),
    ("At what temperature in degrees Celsius does water boil at sea level?", ["100", "one hundred"]),
    ("What is the tallest mountain in the world?", ["Everest", "Mount Everest"]),
    ("What is the hardest natural substance?", ["diamond", "diamonds"]),
    ("What gas do plants absorb from the air for photosynthesis?", ["carbon dioxide", "CO2"]),
    ("What is the largest country in the world by area?", ["Russia"]),
    ("What is the smallest prime number?", ["2", "two"]),
    ("What is the freezing point of water in degrees Fahrenheit?", ["32", "thirty-two"]),
    ("What is the largest mammal in the world?", ["blue whale", "whale"]),
]

# (unit from, unit to, factor, noun for the question "How many <to> are in N <from>?")
CONVERSIONS = [
    ("kilometers", "meters", 1000),
    ("meters", "centimeters", 100),
    ("kilograms", "grams", 1000),
    ("hours", "minutes", 60),
    ("minutes", "seconds", 60),
    ("days", "hours", 24),
    ("weeks", "days", 7),
    ("feet", "inches", 12),
    ("yards", "feet", 3),
    ("liters", "milliliters", 1000),
    ("centimeters", "millimeters", 10),
    ("dozen", "eggs", 12),
]


def _item(family: str, level: str, question: str, checker: str, expected: Any) -> dict[str, Any]:
    return {"family": family, "level": level, "question": question, "checker": checker, "expected": expected}


def _arithmetic(rng: random.Random) -> Iterator[dict[str, Any]]:
    def pairs(n, lo_a, hi_a, lo_b, hi_b, cond=lambda a, b: True):
        seen: set[tuple[int, int]] = set()
        while len(seen) < n:
            a, b = rng.randint(lo_a, hi_a), rng.randint(lo_b, hi_b)
            if cond(a, b) and (a, b) not in seen:
                seen.add((a, b))
                yield a, b

    for a, b in pairs(20, 1, 9, 1, 9):
        yield _item("arithmetic", "add_1digit", f"What is {a} + {b}?", "number", a + b)
    for a, b in pairs(10, 2, 9, 1, 9, lambda a, b: a > b):
        yield _item("arithmetic", "sub_1digit", f"What is {a} - {b}?", "number", a - b)
    for a, b in pairs(20, 2, 9, 2, 9):
        yield _item("arithmetic", "mul_1digit", f"What is {a} * {b}?", "number", a * b)
    for a, b in pairs(20, 10, 99, 10, 99):
        yield _item("arithmetic", "add_2digit", f"What is {a} + {b}?", "number", a + b)
    for a, b in pairs(15, 20, 99, 10, 99, lambda a, b: a > b):
        yield _item("arithmetic", "sub_2digit", f"What is {a} - {b}?", "number", a - b)
    for a, b in pairs(15, 11, 99, 2, 9):
        yield _item("arithmetic", "mul_2x1", f"What is {a} * {b}?", "number", a * b)
    for a, b in pairs(10, 100, 999, 100, 999):
        yield _item("arithmetic", "add_3digit", f"What is {a} + {b}?", "number", a + b)
    for q, d in pairs(10, 2, 12, 2, 9):
        yield _item("arithmetic", "div_exact", f"What is {q * d} / {d}?", "number", q)
    for a, b in pairs(10, 11, 99, 11, 99):
        yield _item("arithmetic", "mul_2x2", f"What is {a} * {b}?", "number", a * b)
    for a, b in pairs(10, 100, 999, 11, 99):
        yield _item("arithmetic", "mul_3x2", f"What is {a} * {b}?", "number", a * b)


def _conversion(rng: random.Random) -> Iterator[dict[str, Any]]:
    for src, dst, factor in CONVERSIONS:
        for level, lo, hi in (
            ("convert_small", 1, 9),
            ("convert_small", 2, 9),
            ("convert_large", 11, 99),
            ("convert_large", 101, 999),
            ("convert_one", 1, 1),
        ):
            n = rng.randint(lo, hi)
            if src == "dozen":
                question = f"How many eggs are in {n} dozen?"
            else:
                unit = src if n != 1 else {"feet": "foot", "inches": "inch"}.get(src, src[:-1])
                question = f"How many {dst} are in {n} {unit}?"
            yield _item("conversion", level, question, "number", n * factor)


def _fact(rng: random.Random) -> Iterator[dict[str, Any]]:
    for country, aliases in CAPITALS:
        yield _item("fact", "capital", f"What is the capital of {country}?", "entity", aliases)
    for question, aliases in FACTS:
        yield _item("fact", "general_fact", question, "entity", aliases)


_NAMES = ["Tom", "Sara", "Ben", "Mia", "Leo", "Anna", "Sam", "Lily", "Max", "Emma"]


def _reasoning(rng: random.Random) -> Iterator[dict[str, Any]]:
    name = lambda: rng.choice(_NAMES)  # noqa: E731
    for _ in range(6):
        a, b, n = rng.randint(2, 9), rng.randint(2, 9), name()
        yield _item(
            "reasoning",
            "word_add",
            f"{n} has {a} apples and buys {b} more. How many apples does {n} have now?",
            "number",
            a + b,
        )
    for _ in range(6):
        a = rng.randint(10, 30)
        b = rng.randint(2, a - 1)
        yield _item(
            "reasoning",
            "word_sub",
            f"{name()} had {a} candies and gave away {b}. How many candies are left?",
            "number",
            a - b,
        )
    for _ in range(6):
        a, b = rng.randint(3, 12), rng.randint(2, 9)
        yield _item(
            "reasoning", "word_mul", f"A box holds {a} pencils. How many pencils are in {b} boxes?", "number", a * b
        )
    for _ in range(6):
        a, b, n = rng.randint(5, 60), rng.randint(2, 20), name()
        yield _item("reasoning", "age", f"{n} is {a} years old. How old will {n} be in {b} years?", "number", a + b)
    for _ in range(6):
        start, step = rng.randint(1, 20), rng.randint(2, 9)
        seq = [start + i * step for i in range(4)]
        yield _item(
            "reasoning",
            "sequence_add",
            f"What is the next number in the sequence {', '.join(map(str, seq))}?",
            "number",
            start + 4 * step,
        )
    for _ in range(5):
        start, ratio = rng.randint(1, 5), rng.choice([2, 3])
        seq = [start * ratio**i for i in range(4)]
        yield _item(
            "reasoning",
            "sequence_mul",
            f"What is the next number in the sequence {', '.join(map(str, seq))}?",
            "number",
            start * ratio**4,
        )
    for _ in range(6):
        a, b = rng.sample(range(10, 999), 2)
        yield _item("reasoning", "compare_larger", f"Which number is larger, {a} or {b}?", "number", max(a, b))
    for _ in range(5):
        a, b = rng.sample(range(10, 999), 2)
        yield _item("reasoning", "compare_smaller", f"Which number is smaller, {a} or {b}?", "number", min(a, b))
    for _ in range(6):
        a = rng.randint(3, 60)
        yield _item("reasoning", "twice", f"What is twice {a}?", "number", 2 * a)
    for _ in range(6):
        a = 2 * rng.randint(3, 60)
        yield _item("reasoning", "half", f"What is half of {a}?", "number", a // 2)
    for _ in range(6):
        price, count = rng.randint(2, 9), rng.randint(2, 9)
        yield _item(
            "reasoning",
            "word_cost",
            f"One notebook costs {price} dollars. How much do {count} notebooks cost in dollars?",
            "number",
            price * count,
        )
    for _ in range(6):
        total, groups = rng.randint(2, 9), rng.randint(2, 6)
        yield _item(
            "reasoning",
            "word_share",
            f"{total * groups} cookies are shared equally among {groups} children. How many cookies does each child "
            "get?",
            "number",
            total,
        )


def generate(seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for family in (_arithmetic, _conversion, _fact, _reasoning):
        items.extend(family(rng))
    for i, item in enumerate(items):
        item["id"] = f"{item['family'][:4]}-{i:03d}"
    return [{"id": it["id"], **{k: v for k, v in it.items() if k != "id"}} for it in items]


def write(path: Path = DEFAULT_PATH, seed: int = SEED) -> Path:
    return seeded_set.write(path, generate(seed))


def main(argv: list[str] | None = None) -> None:
    seeded_set.main(__doc__, generate, DEFAULT_PATH, SEED, argv)


if __name__ == "__main__":
    main()
