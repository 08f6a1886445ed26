"""Contact details never go into a profile (an earlier Ana stored phone numbers, emails and social handles).

:func:`strip_contact_details` walks extracted facts and drops every value that holds a phone
number, an e-mail address, a handle (``@name``, ``name#1234``, ``ig: name``, "reach me on
telegram name", "my handle is name"), a social or web link or a street address, every number
that is a phone number written as one (``4155550100``), and every key that names such a thing
(``phone``, ``instagram``...).
A value is dropped whole rather than redacted: "my number is [removed]" is not a fact.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["strip_contact_details", "has_contact_details", "CONTACT_KEYS"]

# Key words (a key is split on '_', '-', spaces and camelCase) that mark a contact field.
CONTACT_KEYS = frozenset(
    {
        "phone", "phones", "tel", "telephone", "mobile", "cell", "cellphone", "whatsapp", "wa",
        "email", "emails", "mail", "address", "addresses", "addr", "street", "zip", "zipcode",
        "postcode", "instagram", "insta", "ig", "twitter", "x", "snapchat", "snap", "sc", "tiktok",
        "telegram", "tg", "signal", "discord", "handle", "handles", "username", "usernames", "user",
        "tag", "contact", "contacts", "social", "socials", "facebook", "fb", "linkedin", "github",
        "reddit", "twitch", "kik", "skype", "website", "url", "link", "links", "ip",
    }
)  # fmt: skip

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_EMAIL_SPELLED = re.compile(
    r"\b[\w.+-]+\s*(?:\(at\)|\[at\]|\sat\s)\s*[\w-]+\s*(?:\(dot\)|\[dot\]|\sdot\s)\s*[a-z]{2,}\b", re.IGNORECASE
)
_HANDLE = re.compile(r"(?<![\w@.])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,29}[A-Za-z0-9_])?\b")
_DISCORD_TAG = re.compile(r"\b[\w.]{2,32}#\d{4}\b")
_URL = re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)
_SOCIAL = re.compile(
    r"\b(?:instagram\.com|instagr\.am|twitter\.com|x\.com|t\.me|telegram\.me|snapchat\.com|tiktok\.com|"
    r"facebook\.com|fb\.com|fb\.me|linkedin\.com|wa\.me|discord\.gg|discord\.com|discordapp\.com|"
    r"github\.com|reddit\.com|twitch\.tv|youtube\.com|youtu\.be|onlyfans\.com|linktr\.ee)/\S+",
    re.IGNORECASE,
)
# "ig: dana.x", "snap is danax", "my discord is dana_x" (a platform, then a separator, then a name).
_PLATFORM_HANDLE = re.compile(
    r"\b(?:ig|insta|instagram|snap|snapchat|sc|twitter|tiktok|telegram|tg|discord|whatsapp|kik|skype|"
    r"facebook|fb|linkedin|github|reddit|twitch|steam)\b"
    r"(?:\s*(?:handle|username|user|name|id|account|acc|tag))?\s*(?::|=|\bis\b|-)\s*@?[A-Za-z0-9_.]{2,}",
    re.IGNORECASE,
)
_PLATFORMS = (
    r"ig|insta|instagram|snap|snapchat|sc|twitter|tiktok|telegram|tg|discord|whatsapp|kik|skype|"
    r"facebook|fb|linkedin|github|reddit|twitch|steam|signal|threads|bluesky|bsky|wechat|line|viber|"
    r"psn|xbox|roblox|battle\.?net"
)
# Words that can follow a platform or "add me" without being anyone's name.
_NOT_A_NAME = (
    r"(?:a|an|the|and|or|but|if|so|too|also|then|now|later|sometime|sometimes|anytime|whenever|when|"
    r"tonight|today|tomorrow|instead|please|pls|plz|lol|haha|maybe|though|first|again|there|here|"
    r"for|to|with|as|at|in|on|of|i|you|we|they|he|she|it|me|my|your|our|group|server|"
    r"chat|dms?|ok|okay|thanks|thx)\b"
)
# "reach me on telegram dana_x", "add me on snap danax", "find me on discord: dana_x".
_REACH_HANDLE = re.compile(
    r"\b(?:reach|add|find|follow|message|msg|dm|text|contact|hit|ping|friend)\s+me\s+(?:up\s+)?"
    r"(?:on|at|via|through|over)\s+(?:" + _PLATFORMS + r")\b\s*(?::|=|-|\bas\b)?\s*"
    r"@?(?!" + _NOT_A_NAME + r")[A-Za-z0-9_.]{2,}",
    re.IGNORECASE,
)
# "my handle is danax99", "username: dana_x", "add me: danax", "gamertag = DanaX".
_NAMED_HANDLE = re.compile(
    r"(?:\b(?:my|his|her|their|our|your)\s+(?:\w+\s+)?"
    r"(?:handle|username|user\s?name|gamertag|screen\s?name|user\s?id|friend\s?code)\s*(?::|=|-|\bis\b)"
    r"|\b(?:handle|username|user\s?name|gamertag|screen\s?name|friend\s?code)\s*(?::|=)"
    r"|\badd\s+me\s*(?::|=))"
    r"\s*@?(?!" + _NOT_A_NAME + r")[A-Za-z0-9_.]{2,}",
    re.IGNORECASE,
)
# Digits with the separators phone numbers use; 7 to 15 digits in all (E.164 allows 15).
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d\s().-]{5,}\d(?![\w])")
_NOT_PHONE = (
    re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T].*)?"),  # an ISO date
    re.compile(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}"),  # a written date
    re.compile(r"(?:19|20)\d{2}\s*[-–]\s*(?:19|20)?\d{2}"),  # a span of years
    re.compile(r"\d+\.\d+"),  # a decimal
    re.compile(r"\d{1,3}(?:\.\d{1,3})+"),  # a version (415.555.0100 is not: its last group has 4)
)
_STREET = re.compile(
    r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][a-z]+\.?\s+){1,3}"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|"
    r"Crescent|Close|Square|Sq|Highway|Hwy|Parkway|Pkwy|Marg|Nagar|Strasse|Straße)\b\.?"
)
_KEY_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _looks_like_phone(match: str) -> bool:
    digits = sum(ch.isdigit() for ch in match)
    if not 7 <= digits <= 15:
        return False
    candidate = match.strip()
    return not any(pattern.fullmatch(candidate) for pattern in _NOT_PHONE)


def has_contact_details(text: str | int | float) -> bool:
    """True when ``text`` holds a phone number, e-mail, handle, link or street address.

    A number (not a bool) is checked as the digits it is written with (see :func:`_number_is_contact`).
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return _number_is_contact(text)
    if not isinstance(text, str):
        return False
    if any(
        pattern.search(text)
        for pattern in (
            _EMAIL, _EMAIL_SPELLED, _HANDLE, _DISCORD_TAG, _URL, _SOCIAL, _PLATFORM_HANDLE, _REACH_HANDLE,
            _NAMED_HANDLE, _STREET,
        )
    ):
        return True
    return any(_looks_like_phone(match.group(0)) for match in _PHONE.finditer(text))


def _number_is_contact(value: int | float) -> bool:
    """A number written as one (``4155550100``): the phone check on its digits; 27, 2025 and counts pass."""
    if isinstance(value, float):
        if not value.is_integer():
            return False  # 3.14159265: a decimal, never a phone number
        value = int(value)
    return has_contact_details(str(value))


def _contact_key(key: str) -> bool:
    words = {word for word in _KEY_SPLIT.split(_CAMEL.sub("_", key).lower()) if word}
    return bool(words & CONTACT_KEYS) or any(word.startswith(("phone", "email", "insta")) for word in words)


def _clean(value: Any) -> Any:
    """``value`` without contact details; ``None`` when nothing is left."""
    if isinstance(value, str):
        return None if has_contact_details(value) else value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if has_contact_details(value) else value
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if not isinstance(key, str) or _contact_key(key) or has_contact_details(key):
                continue
            cleaned = _clean(item)
            if cleaned is not None:
                kept[key] = cleaned
        return kept or None
    if isinstance(value, list):
        items = [cleaned for cleaned in map(_clean, value) if cleaned is not None]
        return items or None
    return value


def strip_contact_details(facts: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``facts`` (recursively) without contact details or contact-named keys."""
    cleaned = _clean(facts) if isinstance(facts, dict) else None
    return cleaned if isinstance(cleaned, dict) else {}
