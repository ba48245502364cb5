"""The support FAQ of the Larkspur Hub, a fictional smart-home hub written for edgekit's tune example.

Every product fact here is invented (no real product, company or address), so the data is the project's own.
Each fact has its answer, the key facts an answer must contain to count as right (each a tuple of accepted
spellings, all required), the phrasings the training set draws from, and held-out phrasings that the training
set never shows (different words, not just different fillers).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Fact", "FACTS", "OUT_OF_DOMAIN", "GREETINGS"]


@dataclass(frozen=True)
class Fact:
    id: str
    answer: str
    keys: tuple[tuple[str, ...], ...]
    train: tuple[str, ...]
    held_out: tuple[str, ...]


FACTS: tuple[Fact, ...] = (
    Fact(
        "reset",
        "Hold the reset button on the back of the Larkspur Hub for 10 seconds, until the ring light blinks orange.",
        (("10 seconds", "ten seconds"), ("orange",)),
        (
            "How do I reset my Larkspur Hub?",
            "How can I factory reset the hub?",
            "What is the way to reset the Larkspur Hub?",
            "My hub is stuck, how do I reset it?",
            "How do I do a factory reset on the Larkspur Hub?",
            "Reset instructions for the hub, please.",
        ),
        (
            "The hub froze completely. What do I press to wipe it back to factory settings?",
            "Which button sequence brings the hub back to how it was out of the box?",
        ),
    ),
    Fact(
        "warranty",
        "The Larkspur Hub comes with a 2-year limited warranty from the date of purchase.",
        (("2-year", "2 year", "two-year", "two year", "2 years", "two years"),),
        (
            "How long is the warranty on the Larkspur Hub?",
            "What warranty does the hub have?",
            "Is the Larkspur Hub under warranty?",
            "How many years of warranty do I get?",
            "What is the warranty period for the hub?",
            "Does the hub come with a warranty?",
        ),
        (
            "For how long is my hub covered if it breaks down?",
            "If my hub dies next year, will you still repair or replace it for free?",
        ),
    ),
    Fact(
        "battery",
        "The built-in backup battery keeps the Larkspur Hub running for about 6 hours during a power cut.",
        (("6 hours", "six hours"),),
        (
            "How long does the backup battery last?",
            "Does the hub keep working during a power outage?",
            "What is the battery life of the Larkspur Hub?",
            "How many hours does the hub run on battery?",
            "Will the hub stay on if the power goes out?",
            "How long can the hub run without mains power?",
        ),
        (
            "If there is a blackout at my place, how long will the hub keep going?",
            "The electricity in my building is cut off. For how long does the hub stay alive?",
        ),
    ),
    Fact(
        "wifi",
        "The Larkspur Hub supports 2.4 GHz Wi-Fi only; 5 GHz networks are not supported.",
        (("2.4 GHz", "2.4GHz"),),
        (
            "Which Wi-Fi bands does the Larkspur Hub support?",
            "Does the hub work with 5 GHz Wi-Fi?",
            "What Wi-Fi frequency does the hub need?",
            "Can I connect the hub to a 5 GHz network?",
            "What kind of Wi-Fi does the Larkspur Hub use?",
            "Which wireless band should my router use for the hub?",
        ),
        (
            "My router only broadcasts at 5 GHz and the hub will not join. What band does it want?",
            "Which wireless frequency must my network offer so the hub can get online?",
        ),
    ),
    Fact(
        "app",
        "Set up and control the hub with the Larkspur Home app, available for iOS and Android.",
        (("Larkspur Home app", "Larkspur Home"),),
        (
            "Which app do I need for the Larkspur Hub?",
            "What app controls the hub?",
            "Is there a phone app for the Larkspur Hub?",
            "Which application do I install to set up the hub?",
            "What is the name of the hub's app?",
            "How do I control the hub from my phone?",
        ),
        (
            "What should I download on my smartphone to manage the hub?",
            "Where do I find the software to configure the hub on my tablet?",
        ),
    ),
    Fact(
        "devices",
        "One Larkspur Hub can pair up to 64 devices.",
        (("64", "sixty-four", "sixty four"),),
        (
            "How many devices can the Larkspur Hub handle?",
            "What is the maximum number of devices on one hub?",
            "Is there a limit to how many devices I can pair?",
            "How many sensors can I connect to the hub?",
            "What is the device limit of the Larkspur Hub?",
            "How many gadgets can one hub control?",
        ),
        (
            "I have a big house full of smart bulbs and sensors. Up to how many can a single hub take?",
            "Is sixty devices too many for one hub, and where is the ceiling?",
        ),
    ),
    Fact(
        "firmware",
        "Firmware updates install automatically every night at 3 AM local time.",
        (("3 AM", "3 a.m.", "3am", "3:00"),),
        (
            "When does the Larkspur Hub update its firmware?",
            "How do firmware updates work on the hub?",
            "Do I have to update the hub myself?",
            "At what time are hub updates installed?",
            "How does the Larkspur Hub get software updates?",
            "When do updates happen on the hub?",
        ),
        (
            "Will new software for the hub install on its own, and at what hour?",
            "Do I need to click anything to get the latest hub firmware, and when does it arrive?",
        ),
    ),
    Fact(
        "hours",
        "Larkspur support is open Monday to Friday, from 8 AM to 6 PM Central European Time.",
        (("8 AM", "8 a.m.", "8am", "8:00"), ("6 PM", "6 p.m.", "6pm", "18:00")),
        (
            "What are your support hours?",
            "When is Larkspur customer support open?",
            "What time can I call support?",
            "When can I reach the support team?",
            "What are the opening hours of Larkspur support?",
            "Is support available on weekdays?",
        ),
        (
            "I want to talk to a person about my hub. Between which times are you around?",
            "Until what time in the evening can I still get a human on the support line?",
        ),
    ),
    Fact(
        "returns",
        "You can return the Larkspur Hub within 30 days of delivery for a full refund.",
        (("30 days", "thirty days"),),
        (
            "What is your return policy?",
            "Can I return the Larkspur Hub?",
            "How long do I have to return the hub?",
            "Can I get a refund for the hub?",
            "What is the return window for the Larkspur Hub?",
            "Is it possible to send the hub back?",
        ),
        (
            "I changed my mind about the hub I bought. Until when can I send it back for my money?",
            "How many days after delivery am I allowed to ask for my money back?",
        ),
    ),
    Fact(
        "green",
        "A solid green ring light means the Larkspur Hub is online and working normally.",
        (("online",),),
        (
            "What does the green light on the hub mean?",
            "The ring light is solid green, is that okay?",
            "Why is my Larkspur Hub glowing green?",
            "What does a green ring light mean?",
            "Is a green light on the hub good?",
            "The hub shows a steady green light, what does it mean?",
        ),
        (
            "There is a constant green glow around my hub. What is it telling me?",
            "Should I worry when the ring on my hub stays green all the time?",
        ),
    ),
    Fact(
        "red",
        "A red ring light means the Larkspur Hub has no internet connection; check your router.",
        (("internet",), ("router",)),
        (
            "What does the red light on the hub mean?",
            "My hub light turned red, what is wrong?",
            "Why is the Larkspur Hub showing a red light?",
            "What does a red ring light mean?",
            "The ring light is red, what should I do?",
            "The hub is glowing red, is something broken?",
        ),
        (
            "A red glow appeared around my hub this morning. What is it trying to tell me?",
            "The circle of light on my hub has gone red. Which problem does that signal?",
        ),
    ),
    Fact(
        "price",
        "The Larkspur Hub costs 89 euros.",
        (("89",),),
        (
            "How much does the Larkspur Hub cost?",
            "What is the price of the hub?",
            "How expensive is the Larkspur Hub?",
            "What does the hub sell for?",
            "How much is a Larkspur Hub?",
            "What is the retail price of the Larkspur Hub?",
        ),
        (
            "What would I pay to buy one hub?",
            "What is the cost of a single hub in euros?",
        ),
    ),
    Fact(
        "protocols",
        "The Larkspur Hub speaks Zigbee and Thread.",
        (("Zigbee",), ("Thread",)),
        (
            "Which protocols does the Larkspur Hub support?",
            "Does the hub work with Zigbee?",
            "What smart home standards does the hub use?",
            "Is the Larkspur Hub compatible with Thread?",
            "Which radio protocols does the hub have?",
            "What wireless standards does the Larkspur Hub speak?",
        ),
        (
            "Will the hub talk to my devices? Which communication standards are built in?",
            "Which radio languages can the hub use to reach my bulbs and blinds?",
        ),
    ),
    Fact(
        "pairing",
        "Press the pair button three times quickly; the ring light turns blue while the hub is in pairing mode.",
        (("three times", "3 times"), ("blue",)),
        (
            "How do I put the hub in pairing mode?",
            "How do I pair a new device with the Larkspur Hub?",
            "How can I add a device to the hub?",
            "What is the pairing procedure for the hub?",
            "How do I connect a new sensor to the Larkspur Hub?",
            "How do I start pairing on the hub?",
        ),
        (
            "I bought a new smart plug. What do I do on the hub so it can find the plug?",
            "Which button do I tap on the hub, and how often, to make it look for a new gadget?",
        ),
    ),
    Fact(
        "members",
        "Invite family members in the Larkspur Home app under Settings, Members, Invite.",
        (("Members",), ("Invite",)),
        (
            "How do I give my family access to the hub?",
            "Can other people control my Larkspur Hub?",
            "How do I share the hub with my partner?",
            "How can I add another user to the hub?",
            "How do I invite someone to my Larkspur Hub?",
            "Can I share access to the hub?",
        ),
        (
            "My roommate wants to control the lights too. Where do I set that up?",
            "Where in the app can I let my kids use the hub as well?",
        ),
    ),
    Fact(
        "local",
        "Yes: with Local Mode turned on, automations keep running on the hub without internet.",
        (("Local Mode",),),
        (
            "Does the Larkspur Hub work without internet?",
            "Can the hub run offline?",
            "Do automations work if my internet is down?",
            "Does the hub need the cloud to work?",
            "Will my automations stop when the internet goes out?",
            "Can I use the hub without an internet connection?",
        ),
        (
            "My broadband drops a lot. Will my routines still fire when it is gone?",
            "Is there a setting that lets the hub keep automating my home when the connection is offline?",
        ),
    ),
    Fact(
        "power",
        "The Larkspur Hub is powered through USB-C with a 5 V, 2 A adapter.",
        (("USB-C", "USB C"),),
        (
            "What power adapter does the hub use?",
            "How is the Larkspur Hub powered?",
            "Which charger does the hub need?",
            "What kind of power cable does the hub have?",
            "Can I use my own adapter for the Larkspur Hub?",
            "What are the power requirements of the hub?",
        ),
        (
            "I lost the plug that came in the box. What sort of cable and brick do I need?",
            "Can I run the hub from a phone charger, and which connector does it take?",
        ),
    ),
    Fact(
        "storage",
        "Larkspur stores your account data on servers in Frankfurt, Germany.",
        (("Frankfurt",),),
        (
            "Where is my data stored?",
            "Where are Larkspur's servers?",
            "In which country is my hub data kept?",
            "Where does the Larkspur Hub send my data?",
            "Where is the data of my account hosted?",
            "Which data center holds my Larkspur data?",
        ),
        (
            "For privacy reasons I need to know the city my information lives in. Which is it?",
            "In which city does Larkspur keep the data about my home?",
        ),
    ),
    Fact(
        "voice",
        "The Larkspur Hub works with Alexa and Google Assistant.",
        (("Alexa",), ("Google",)),
        (
            "Does the Larkspur Hub work with voice assistants?",
            "Can I control the hub with Alexa?",
            "Which voice assistants are supported?",
            "Does the hub support Google Assistant?",
            "Can I talk to the Larkspur Hub with a smart speaker?",
            "What voice control options does the hub have?",
        ),
        (
            "I would like to switch my lights by speaking. Which speakers or assistants can I pair the hub with?",
            "Can I use my smart speaker to talk to the hub, and which assistants work?",
        ),
    ),
    Fact(
        "email",
        "You can email Larkspur support at help@larkspur.example.",
        (("help@larkspur.example",),),
        (
            "What is the support email address?",
            "How can I email Larkspur support?",
            "Where do I send an email about my hub?",
            "What email should I write to for help?",
            "Is there an email for Larkspur customer service?",
            "How do I contact support by email?",
        ),
        (
            "I prefer writing over calling. Which address do my messages go to?",
            "Where do I send an email if I have a problem with my hub?",
        ),
    ),
)

# Questions a support bot for the hub is not for (the cloud, or a refusal, should take them).
OUT_OF_DOMAIN: tuple[str, ...] = (
    "What is the capital of Australia?",
    "Write a haiku about autumn leaves.",
    "How many legs does a spider have?",
    "Who wrote the novel Pride and Prejudice?",
    "What is 17 times 23?",
    "Translate 'good morning' into Spanish.",
    "What is the boiling point of water in Fahrenheit?",
    "Give me a recipe for pancakes.",
    "Why is the sky blue?",
    "What year did the first person walk on the Moon?",
    "Explain what a prime number is.",
    "Which planet is the largest in our solar system?",
    "What is the chemical symbol for gold?",
    "Suggest a name for a pet goldfish.",
    "How do I tie a bowline knot?",
    "What is the tallest mountain in Africa?",
    "Summarize the plot of Romeo and Juliet in one sentence.",
    "What language is spoken in Brazil?",
    "How many minutes are in a day?",
    "What does a photosynthesis reaction produce?",
)

# Openers of the multi-turn training conversations: the user greets, the assistant answers, then the question.
GREETINGS: tuple[tuple[str, str], ...] = (
    ("Hi there!", "Hello! How can I help you with your Larkspur Hub today?"),
    ("Hello, I have a question about my hub.", "Of course, I am happy to help. What would you like to know?"),
    ("Good morning.", "Good morning! What can I do for you and your Larkspur Hub?"),
)
