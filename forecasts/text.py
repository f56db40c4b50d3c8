"""Text hygiene for strings that come from outside: imports, model output, editors.

Whatever is stored must survive every place it goes next: PostgreSQL refuses NUL
in text, XML 1.0 (the feeds) refuses the other control characters and U+FFFE/U+FFFF,
and a lone surrogate raises UnicodeEncodeError the moment the string is encoded as
UTF-8 (saving, rendering, logging). clean_text removes all of them and nothing
that a reader could see: letters, emoji, and bidirectional controls such as U+202E
stay (the templates isolate those with <bdi>).
"""

import re

# A model's rationale is a few paragraphs; far more is a runaway answer or an
# attack on page weight, so it is kept to a length a reader could still scroll.
MAX_RATIONALE_CHARS = 20_000

TRUNCATION_MARK = "… [truncated]"

# A surrogate pair as two code points (json.loads makes one code point of a
# well-formed "\ud83d\ude00", but str.encode(..., "surrogatepass") and friends do
# not) is joined back into the character it stands for rather than thrown away.
_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")

# C0 controls but tab, newline and carriage return; DEL; C1 controls (U+0085 NEL
# among them); the two noncharacters XML 1.0 excludes; every surrogate left after
# pairs were joined, which is by then a lone one.
_UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


def _join_pair(match):
    high, low = match.group()
    return chr(0x10000 + ((ord(high) - 0xD800) << 10) + (ord(low) - 0xDC00))


def clean_text(value: str, max_length: int | None = None) -> str:
    """Return value without the characters storage, feeds and encoders refuse.

    Removes NUL and every C0/C1 control character except tab, newline and
    carriage return, DEL, U+FFFE/U+FFFF and lone surrogates; turns CRLF into LF.
    With max_length, a longer result is cut to at most max_length characters,
    the last of them TRUNCATION_MARK (trailing whitespace before the mark goes).
    """
    if not isinstance(value, str):
        raise TypeError(f"clean_text needs a str, not {type(value).__name__}")
    if max_length is not None and max_length < 0:
        raise ValueError("max_length must not be negative")
    text = _SURROGATE_PAIR.sub(_join_pair, value)
    text = _UNWANTED.sub("", text)
    text = text.replace("\r\n", "\n")
    if max_length is not None and len(text) > max_length:
        if max_length <= len(TRUNCATION_MARK):
            return text[:max_length]
        text = text[: max_length - len(TRUNCATION_MARK)].rstrip() + TRUNCATION_MARK
    return text
