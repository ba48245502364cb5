"""Generate the transfer set: labelled questions built differently from the escalation set.

    python -m edgekit.sdk.evalset.generate_transfer     # rewrites transfer_set.jsonl next to this file

A policy fitted on ``escalation_set.jsonl`` is measured here on questions it never saw, asked in other ways and
from other task families, so ``edgekit eval escalation --fit-records`` can report how far its figures carry over:

- arithmetic: operators in words ("times", "multiplied by", "divided by", "plus", "minus", "how much is"),
  numbers written out at the easiest level;
- conversion: units and phrasings the escalation set does not use ("Convert ... to ...", "How many grams is
  ...", centuries, decades, tonnes, milligrams, months);
- yesno: yes/no questions on parity, primes, comparisons and facts (no such family in the escalation set);
- fact: other facts than capitals (reverse capitals, colours, animals, inventors, body, shapes);
- calendar: days of the week and months, answered by name;
- reasoning: two-step word problems (rates, change, groups then remainder).

Six families, four levels each (``l1`` easiest), ten items per level: 240 items. Each item: id, family, level,
question, checker, expected (answers computed or listed once, with aliases).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import seeded_set

__all__ = ["generate", "DEFAULT_PATH", "SEED"]

SEED = 20261207
DEFAULT_PATH = Path(__file__).with_name("transfer_set.jsonl")
PER_LEVEL = 10

_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split()
)
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
_MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def _item(family: str, level: int, question: str, checker: str, expected: Any) -> dict[str, Any]:
    return {"family": family, "level": f"l{level}", "question": question, "checker": checker, "expected": expected}


def _distinct(rng: random.Random, make: Callable[[random.Random], tuple[str, str, Any]]) -> Iterator[tuple]:
    """PER_LEVEL items from ``make`` with distinct questions."""
    seen: set[str] = set()
    for _ in range(1000 * PER_LEVEL):  # a maker with too few distinct questions is a bug, not a hang
        if len(seen) == PER_LEVEL:
            return
        question, checker, expected = make(rng)
        if question not in seen:
            seen.add(question)
            yield question, checker, expected
    raise RuntimeError(f"{make.__name__} makes fewer than {PER_LEVEL} distinct questions")


def _number_or_word(n: int) -> list[str]:
    return [str(n), _WORDS[n]] if 0 <= n < len(_WORDS) else [str(n)]


def _arithmetic(rng: random.Random) -> Iterator[dict[str, Any]]:
    def words(r):
        a, b = r.randint(2, 9), r.randint(1, 9)
        if r.random() < 0.5:
            return f"What is {_WORDS[a]} plus {_WORDS[b]}?", "entity", _number_or_word(a + b)
        a, b = max(a, b), min(a, b)
        return f"What is {_WORDS[a]} minus {_WORDS[b]}?", "entity", _number_or_word(a - b)

    def small(r):
        a, b = r.randint(2, 9), r.randint(2, 9)
        op = r.choice(["times", "multiplied by"])
        return f"How much is {a} {op} {b}?", "number", a * b

    def medium(r):
        a, b = r.randint(12, 99), r.randint(12, 99)
        if r.random() < 0.5:
            return f"What is {a} plus {b}?", "number", a + b
        q, d = r.randint(3, 12), r.randint(3, 9)
        return f"What is {q * d} divided by {d}?", "number", q

    def hard(r):
        a, b = r.randint(100, 999), r.randint(11, 99)
        return f"What is {a} times {b}?", "number", a * b

    for level, make in enumerate((words, small, medium, hard), 1):
        for q, c, e in _distinct(rng, make):
            yield _item("arithmetic", level, q, c, e)


_CONVERT = [  # (from, to, factor)
    ("decades", "years", 10),
    ("centuries", "years", 100),
    ("tonnes", "kilograms", 1000),
    ("grams", "milligrams", 1000),
    ("meters", "millimeters", 1000),
    ("years", "months", 12),
    ("hours", "seconds", 3600),
    ("weeks", "hours", 168),
]


def _conversion(rng: random.Random) -> Iterator[dict[str, Any]]:
    def phrase(r, n, src, dst):
        return r.choice(
            [f"Convert {n} {src} to {dst}.", f"How many {dst} is {n} {src}?", f"{n} {src} is how many {dst}?"]
        )

    def level(lo, hi, units):
        def make(r):
            src, dst, factor = r.choice(units)
            n = r.randint(lo, hi)
            return phrase(r, n, src, dst), "number", n * factor

        return make

    easy = [u for u in _CONVERT if u[2] <= 1000]
    makes = (level(2, 9, easy[:3]), level(2, 9, easy), level(11, 99, easy), level(2, 99, _CONVERT[6:]))
    for n, make in enumerate(makes, 1):
        for q, c, e in _distinct(rng, make):
            yield _item("conversion", n, q, c, e)


_PRIMES = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97}
_YESNO_FACTS = [
    ("Is the Sun a star?", "yes"),
    ("Is the Moon a planet?", "no"),
    ("Do spiders have eight legs?", "yes"),
    ("Is water made of hydrogen and oxygen?", "yes"),
    ("Is a whale a fish?", "no"),
    ("Is Paris the capital of Italy?", "no"),
    ("Is Tokyo in Japan?", "yes"),
    ("Can penguins fly?", "no"),
    ("Is ice colder than boiling water?", "yes"),
    ("Is the Pacific the largest ocean?", "yes"),
    ("Do bats lay eggs?", "no"),
    ("Is Mars closer to the Sun than Earth is?", "no"),
    ("Is gold a metal?", "yes"),
    ("Is a tomato a vegetable in botany?", "no"),
    ("Does a triangle have four sides?", "no"),
    ("Is Canberra the capital of Australia?", "yes"),
]


def _yesno(rng: random.Random) -> Iterator[dict[str, Any]]:
    def parity(r):
        n = r.randint(2, 40)
        kind = r.choice(["even", "odd"])
        return f"Is {n} an {kind} number?", "yesno", "yes" if (n % 2 == 0) == (kind == "even") else "no"

    def compare(r):
        a, b = r.sample(range(10, 999), 2)
        return f"Is {a} greater than {b}?", "yesno", "yes" if a > b else "no"

    def prime(r):
        n = r.randint(10, 99)
        return f"Is {n} a prime number?", "yesno", "yes" if n in _PRIMES else "no"

    facts = iter(rng.sample(_YESNO_FACTS, len(_YESNO_FACTS)))

    def fact(r):
        q, a = next(facts)
        return q, "yesno", a

    for level, make in enumerate((fact, parity, compare, prime), 1):
        for q, c, e in _distinct(rng, make):
            yield _item("yesno", level, q, c, e)


_FACT_LEVELS = [
    [  # l1: very common knowledge
        ("What color is the sky on a clear day?", ["blue"]),
        ("What color do you get by mixing blue and yellow?", ["green"]),
        ("Which animal is known as the king of the jungle?", ["lion"]),
        ("How many days are in a week?", ["7", "seven"]),
        ("What do bees make?", ["honey"]),
        ("What is frozen water called?", ["ice"]),
        ("Which animal says moo?", ["cow"]),
        ("How many sides does a triangle have?", ["3", "three"]),
        ("What is the opposite of hot?", ["cold"]),
        ("Which fruit is yellow and curved?", ["banana"]),
    ],
    [  # l2
        ("Tokyo is the capital of which country?", ["Japan"]),
        ("Madrid is the capital of which country?", ["Spain"]),
        ("Cairo is the capital of which country?", ["Egypt"]),
        ("Ottawa is the capital of which country?", ["Canada"]),
        ("Berlin is the capital of which country?", ["Germany"]),
        ("Rome is the capital of which country?", ["Italy"]),
        ("Moscow is the capital of which country?", ["Russia"]),
        ("Lisbon is the capital of which country?", ["Portugal"]),
        ("Athens is the capital of which country?", ["Greece"]),
        ("Dublin is the capital of which country?", ["Ireland"]),
    ],
    [  # l3
        ("How many sides does a hexagon have?", ["6", "six"]),
        ("How many sides does an octagon have?", ["8", "eight"]),
        ("What organ pumps blood through the body?", ["heart"]),
        ("How many bones are in the adult human body?", ["206"]),
        ("What is the boiling point of water in degrees Fahrenheit?", ["212"]),
        ("Which metal is liquid at room temperature?", ["mercury"]),
        ("Who invented the telephone?", ["Bell", "Alexander Graham Bell"]),
        ("Who developed the theory of relativity?", ["Einstein", "Albert Einstein"]),
        ("What is the largest desert in the world?", ["Antarctica", "Antarctic", "Sahara"]),
        ("What is the longest river in the world?", ["Nile", "Amazon"]),
    ],
    [  # l4: rarer facts
        ("Who discovered penicillin?", ["Fleming", "Alexander Fleming"]),
        ("Who composed the Fifth Symphony that begins with four famous notes?", ["Beethoven"]),
        ("What is the chemical symbol for potassium?", ["K"]),
        ("What is the chemical symbol for lead?", ["Pb"]),
        ("In which year did the Second World War end?", ["1945"]),
        ("In which year did humans first land on the Moon?", ["1969"]),
        ("What is the smallest country in the world?", ["Vatican", "Vatican City"]),
        ("Which planet has the most famous rings?", ["Saturn"]),
        ("What is the square root of 144?", ["12", "twelve"]),
        ("Who wrote the Odyssey?", ["Homer"]),
    ],
]


def _fact(rng: random.Random) -> Iterator[dict[str, Any]]:
    for level, facts in enumerate(_FACT_LEVELS, 1):
        for q, aliases in facts:
            yield _item("fact", level, q, "entity", aliases)


def _calendar(rng: random.Random) -> Iterator[dict[str, Any]]:
    def after(r):
        d, step = r.randrange(7), r.choice([1, -1])
        return f"What day comes {'after' if step > 0 else 'before'} {_DAYS[d]}?", "entity", [_DAYS[(d + step) % 7]]

    def month_after(r):
        m = r.randrange(12)
        return f"Which month comes after {_MONTHS[m]}?", "entity", [_MONTHS[(m + 1) % 12]]

    def days_later(r):
        d, k = r.randrange(7), r.randint(2, 5)
        return f"If today is {_DAYS[d]}, what day will it be in {k} days?", "entity", [_DAYS[(d + k) % 7]]

    def month_days(r):
        m = r.choice([i for i in range(12) if i != 1])
        return f"How many days are there in {_MONTHS[m]}?", "number", _MONTH_DAYS[m]

    for level, make in enumerate((after, month_after, month_days, days_later), 1):
        for q, c, e in _distinct(rng, make):
            yield _item("calendar", level, q, c, e)


_NAMES = ["Ava", "Noah", "Zoe", "Omar", "Ivy", "Raj", "Nina", "Luis", "Kate", "Finn"]


def _reasoning(rng: random.Random) -> Iterator[dict[str, Any]]:
    def eat(r):
        a, b, n = r.randint(5, 12), r.randint(1, 4), r.choice(_NAMES)
        return f"{n} had {a} grapes and ate {b}. How many grapes remain?", "number", a - b

    def bags(r):
        bags_, each, n = r.randint(2, 5), r.randint(2, 6), r.choice(_NAMES)
        return (
            f"{n} has {bags_} bags with {each} marbles in each bag. How many marbles is that?",
            "number",
            bags_ * each,
        )

    def speed(r):
        v, t = r.randint(3, 9) * 10, r.randint(2, 5)
        return f"A car drives {v} km per hour for {t} hours. How many km does it travel?", "number", v * t

    def change(r):
        price, count, paid = r.randint(2, 4), r.randint(2, 4), 20
        return (
            f"Pens cost {price} dollars each. {r.choice(_NAMES)} buys {count} pens and pays with a {paid} dollar "
            "note. How many dollars of change does she get?",
            "number",
            paid - price * count,
        )

    for level, make in enumerate((eat, bags, speed, change), 1):
        for q, c, e in _distinct(rng, make):
            yield _item("reasoning", level, q, c, e)


_FAMILIES = (_arithmetic, _conversion, _yesno, _fact, _calendar, _reasoning)


def generate(seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for family in _FAMILIES:
        items.extend(family(rng))
    return [{"id": f"t{it['family'][:4]}-{i:03d}", **it} for i, it in enumerate(items)]


def write(path: Path = DEFAULT_PATH, seed: int = SEED) -> Path:
    return seeded_set.write(path, generate(seed))


def main(argv: list[str] | None = None) -> None:
    seeded_set.main(__doc__, generate, DEFAULT_PATH, SEED, argv)


if __name__ == "__main__":
    main()
