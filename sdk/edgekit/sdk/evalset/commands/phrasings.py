"""The phrasing templates of the command set: per tool, how people ask; plus chat and no-tool requests.

A template is ``(text, slots)``: ``text`` is a ``str.format`` pattern, ``slots`` a function of a seeded
``random.Random`` returning ``(fields, arguments)`` (what fills the pattern, the call's expected arguments).
Some patterns write numbers in words, some carry a typo on purpose (``timmer``, ``alrm``), as typed requests do.
Everything here is data; generate.py draws from it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

__all__ = ["TEMPLATES", "CHAT", "NO_TOOL", "words"]

Slots = Callable[[random.Random], tuple[dict[str, Any], dict[str, Any]]]

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen \
seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def words(n: int) -> str:
    """0..99 in English words ("forty-five")."""
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")


# -- slot samplers ------------------------------------------------------------------------------------------------
_LABELS = ["pasta", "eggs", "laundry", "pizza", "tea", "bread"]
_NAMES = ["Mom", "Dad", "Alex", "Sam", "Priya", "Jordan", "Maria", "Chen", "Grandma", "Omar"]
_TEXTS = [
    "I'm running late",
    "see you at six",
    "call me when you can",
    "happy birthday",
    "I'm on my way",
    "dinner is ready",
    "don't forget the keys",
    "the meeting moved to Monday",
]
_TITLES = ["dentist appointment", "team meeting", "lunch with Sam", "yoga class", "haircut", "book club"]
_DAYS = ["today", "tomorrow", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_UNITS = {  # enum value -> (long name, short form)
    "km": ("kilometers", "km"),
    "mi": ("miles", "mi"),
    "m": ("meters", "m"),
    "ft": ("feet", "ft"),
    "kg": ("kilograms", "kg"),
    "lb": ("pounds", "lb"),
    "g": ("grams", "g"),
    "oz": ("ounces", "oz"),
    "l": ("liters", "L"),
    "gal": ("gallons", "gal"),
    "c": ("degrees Celsius", "°C"),
    "f": ("degrees Fahrenheit", "°F"),
}
_PAIRS = [("km", "mi"), ("mi", "km"), ("m", "ft"), ("ft", "m"), ("kg", "lb"), ("lb", "kg"), ("g", "oz"), ("oz", "g")]
_PAIRS += [("l", "gal"), ("gal", "l"), ("c", "f"), ("f", "c")]
_MUSIC = {
    "song": ["Bohemian Rhapsody", "Yesterday", "Hey Jude", "Imagine", "Clocks", "Hallelujah"],
    "artist": ["Taylor Swift", "The Beatles", "Adele", "Coldplay", "Miles Davis", "Queen"],
    "album": ["Abbey Road", "Thriller", "Rumours", "Kind of Blue", "Back in Black"],
    "playlist": ["workout", "chill", "road trip", "focus", "party"],
}
_TOGGLES = {  # enum value -> how people name it
    "wifi": ["Wi-Fi", "wifi"],
    "bluetooth": ["Bluetooth", "bluetooth"],
    "flashlight": ["the flashlight", "the torch"],
    "do_not_disturb": ["do not disturb", "Do Not Disturb"],
    "airplane_mode": ["airplane mode", "flight mode"],
}


def _minutes(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    n = rng.randint(1, 90)
    return {"n": n, "nw": words(n)}, {"minutes": n}


def _hours(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    h = rng.randint(1, 4)
    return {"hw": words(h), "s": "s" if h > 1 else ""}, {"minutes": 60 * h}


def _labelled(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    fields, args = _minutes(rng)
    label = rng.choice(_LABELS)
    return {**fields, "label": label}, {**args, "label": label}


def _am(rng: random.Random, minutes: tuple[int, ...] = (0, 5, 10, 15, 20, 30, 40, 45, 50)) -> tuple[int, int]:
    return rng.randint(5, 11), rng.choice(minutes)


def _alarm(repeat: str | None = None, pm: bool = False, minutes: tuple[int, ...] = ()) -> Slots:
    def slots(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
        h, m = _am(rng, minutes) if minutes else _am(rng)
        hour = h + 12 if pm else h
        fields = {"h": h, "mm": f"{m:02d}", "hw": words(h), "H": hour}
        args: dict[str, Any] = {"time": {"hour": hour, "minute": m}}
        if repeat:
            args["repeat"] = repeat
        return fields, args

    return slots


def _message(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    to, text = rng.choice(_NAMES), rng.choice(_TEXTS)
    return {"to": to, "text": text}, {"to": to, "text": text}


def _call(speaker: bool = False) -> Slots:
    def slots(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
        contact = rng.choice(_NAMES)
        return {"c": contact}, {"contact": contact, **({"speaker": True} if speaker else {})}

    return slots


def _day_phrase(day: str) -> str:
    return day if day in ("today", "tomorrow") else f"on {day.capitalize()}"


def _event(pm: bool = True, noon: bool = False, minutes: tuple[int, ...] = (0, 15, 30, 45)) -> Slots:
    def slots(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
        title, day = rng.choice(_TITLES), rng.choice(_DAYS)
        h, m = (12, 0) if noon else ((rng.randint(1, 6), rng.choice(minutes)) if pm else _am(rng, minutes))
        hour = h + 12 if pm and not noon else h
        fields = {"title": title, "day": _day_phrase(day), "h": h, "mm": f"{m:02d}", "hw": words(h), "H": hour}
        return fields, {"title": title, "day": day, "start": {"hour": hour, "minute": m}}

    return slots


def _convert(in_words: bool = False) -> Slots:
    def slots(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
        src, dst = rng.choice(_PAIRS)
        value: int | float = rng.randint(2, 40) if in_words or rng.random() < 0.7 else rng.randint(3, 99) / 2
        value = int(value) if value == int(value) else value  # 19, not 19.0: the label reads as it is said
        fields = {
            "v": words(int(value)) if in_words else f"{value:g}",
            "src": _UNITS[src][0],
            "dst": _UNITS[dst][0],
            "s_src": _UNITS[src][1],
            "s_dst": _UNITS[dst][1],
        }
        return fields, {"value": value, "from_unit": src, "to_unit": dst}

    return slots


def _music(kind: str) -> Slots:
    def slots(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
        query = rng.choice(_MUSIC[kind])
        return {"q": query}, {"query": query, "kind": kind}

    return slots


def _toggle(state: str) -> Slots:
    def slots(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
        setting = rng.choice(list(_TOGGLES))
        return {"s": rng.choice(_TOGGLES[setting])}, {"setting": setting, "state": state}

    return slots


def _level(setting: str, in_words: bool = False) -> Slots:
    def slots(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
        level = 5 * rng.randint(1, 19)
        return {"n": words(level) if in_words else level}, {"setting": setting, "level": level}

    return slots


# -- templates per tool (order matters: generate.py picks held-out phrasings by index with a seeded draw) ---------
TEMPLATES: dict[str, list[tuple[str, Slots]]] = {
    "set_timer": [
        ("Set a timer for {n} minutes", _minutes),
        ("set a timer for {nw} minutes", _minutes),
        ("Start a {n} minute timer", _minutes),
        ("timer {n} min please", _minutes),
        ("Can you time {nw} minutes for me?", _minutes),
        ("Set a {n} minute timer for the {label}", _labelled),
        ("Set a timer for {hw} hour{s}", _hours),
        ("set a timmer for {n} minutes", _minutes),
        ("Count down {nw} minutes", _minutes),
    ],
    "set_alarm": [
        ("Set an alarm for {h}:{mm} am", _alarm()),
        ("Wake me up at {hw} o'clock", _alarm(minutes=(0,))),
        ("Alarm at {H}:{mm}", _alarm()),
        ("Set an alarm for {h}:{mm} pm every day", _alarm("daily", pm=True)),
        ("wake me at half past {hw}", _alarm(minutes=(30,))),
        ("Set an alarm for {h}:{mm} on weekdays", _alarm("weekdays")),
        ("set an alrm for {h}:{mm} in the morning", _alarm()),
        ("I need to get up at quarter past {hw}", _alarm(minutes=(15,))),
        ("Weekend alarm at {h}:{mm} am please", _alarm("weekends")),
    ],
    "send_message": [
        ("Text {to} {text}", _message),
        ("Send a message to {to} saying {text}", _message),
        ('Tell {to} "{text}"', _message),
        ("Message {to}: {text}", _message),
        ("can you txt {to} {text}", _message),
        ("Send {to} a text: {text}", _message),
        ("Shoot {to} a message that says {text}", _message),
        ("Write to {to}: {text}", _message),
    ],
    "make_call": [
        ("Call {c}", _call()),
        ("Phone {c}", _call()),
        ("Give {c} a ring", _call()),
        ("Call {c} on speaker", _call(speaker=True)),
        ("Dial {c} please", _call()),
        ("Can you ring {c} on speakerphone", _call(speaker=True)),
        ("I want to talk to {c}, call them", _call()),
        ("cal {c}", _call()),
    ],
    "create_event": [
        ("Add {title} to my calendar {day} at {h} pm", _event(minutes=(0,))),
        ("Schedule {title} {day} at {H}:{mm}", _event()),
        ("Put {title} in my calendar {day} at {hw} in the morning", _event(pm=False, minutes=(0,))),
        ("Create an event called {title} {day} at {h}:{mm} pm", _event()),
        ("New calendar event: {title}, {day}, {H}:{mm}", _event()),
        ("Book {title} in my calender {day} at noon", _event(noon=True)),
        ("Please schedule {title} {day} at {hw} pm", _event(minutes=(0,))),
    ],
    "convert_units": [
        ("Convert {v} {src} to {dst}", _convert()),
        ("How many {dst} is {v} {src}?", _convert()),
        ("What's {v} {src} in {dst}", _convert(in_words=True)),
        ("{v} {s_src} to {s_dst}", _convert()),
        ("convert {v} {src} into {dst} please", _convert()),
        ("how many {dst} are in {v} {src}", _convert()),
        ("Change {v} {src} to {dst}", _convert(in_words=True)),
        ("convrt {v} {s_src} to {s_dst}", _convert()),
    ],
    "play_music": [
        ("Play the song {q}", _music("song")),
        ("Play some {q}", _music("artist")),
        ("Put on the album {q}", _music("album")),
        ("Play my {q} playlist", _music("playlist")),
        ("Play the track {q}", _music("song")),
        ("Play music by {q}", _music("artist")),
        ("Start my {q} playlist", _music("playlist")),
        ("Play the {q} album", _music("album")),
        ("ply songs by {q}", _music("artist")),
    ],
    "change_setting": [
        ("Turn on {s}", _toggle("on")),
        ("Switch off {s}", _toggle("off")),
        ("Set the volume to {n}", _level("volume")),
        ("brightness {n} percent", _level("brightness", in_words=True)),
        ("Turn the volume down to {n} percent", _level("volume")),
        ("Can you enable {s}", _toggle("on")),
        ("disable {s}", _toggle("off")),
        ("trun off {s}", _toggle("off")),
        ("Set brightness to {n}%", _level("brightness")),
    ],
}

# Questions a chat model answers in text: no listed tool serves them, and none is needed.
CHAT = [
    "What is the capital of France?",
    "Tell me a joke.",
    "How are you today?",
    "Why is the sky blue?",
    "Who wrote Romeo and Juliet?",
    "What is seven times eight?",
    "How many legs does a spider have?",
    "What's a synonym for happy?",
    "Tell me a fun fact about octopuses.",
    "What does DNA stand for?",
    "How do I boil an egg?",
    "Hi there!",
    "Thanks, that's all.",
    "Explain photosynthesis in one sentence.",
    "What day comes after Monday?",
    "What is the largest planet in our solar system?",
    "Can you suggest a name for my new cat?",
    "What rhymes with orange?",
    "How do you say thank you in Spanish?",
    "Who painted the Mona Lisa?",
    "What is the square root of 81?",
    "Give me a tip for sleeping better.",
    "What's the difference between a frog and a toad?",
    "Is a tomato a fruit?",
    "Write a haiku about rain.",
    "What year did humans first land on the Moon?",
    "How many continents are there?",
    "what is the opposite of cold",
    "Recommend a good book for a long flight.",
    "Why do cats purr?",
    "How many days are in a leap year?",
    "What is the chemical symbol for gold?",
    "Summarize the plot of Cinderella in two sentences.",
    "good morning!",
    "What's the tallest mountain in the world?",
    "Can you help me think of a birthday gift for my dad?",
    "wat is the speed of light",
    "How do plants drink water?",
    "What is a prime number?",
    "Who was the first president of the United States?",
]

# Requests a phone assistant should act on but no listed tool can serve: the answer must not be a call.
NO_TOOL = [
    "Book me a flight to Paris next week.",
    "Order a large pepperoni pizza.",
    "What's the weather like tomorrow?",
    "Get me an Uber to the airport.",
    "Transfer 50 dollars to Alex.",
    "Turn on the living room lights.",
    "Set the thermostat to 21 degrees.",
    "Navigate to the nearest gas station.",
    "Take a selfie.",
    "Read my latest email.",
    "Buy more paper towels on Amazon.",
    "Lock the front door.",
    "What's on my calendar tomorrow?",
    "Delete my 7 am alarm.",
    "Check my bank balance.",
    "Reserve a table for two at eight tonight.",
    "Track my package.",
    "Post this photo on Instagram.",
    "Start the washing machine.",
    "Record a voice memo.",
    "Scan this QR code.",
    "Find my keys.",
    "Show me photos from last summer.",
    "Open the garage door.",
    "Pay my electricity bill.",
    "Check the stock price of Apple.",
    "Order groceries for delivery tonight.",
    "How long is my commute right now?",
    "Cancel my dentist appointment.",
    "Turn up the heating in the bedroom.",
    "Show my step count for today.",
    "Unlock the car.",
    "Find a plumber near me.",
    "Read me the news headlines.",
    "Start vacuuming the kitchen.",
    "Renew my library books.",
    "Ask Siri to call me a taxi.",
    "whats the traffic like on the highway",
    "Book a haircut at my usual barber.",
    "Check in for my flight.",
]
