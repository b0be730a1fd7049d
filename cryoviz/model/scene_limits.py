"""Shape limits a scene's TOML text must meet before the TOML parser sees it.

Python's ``tomllib`` builds one nested table per segment of a dotted key: an 80 KB scene holding one key
``a.a.a. ... .a = 1`` (40,000 segments) takes 30 s and more than 2 GB before it fails with MemoryError.
A scene needs at most a few segments (``[anatomy.meshes]``, ``protocol.cycles``), so a short scan
outside strings and comments refuses such text at once, with the line it is on.

Limits (generous next to any real scene, tiny next to the attack):

* :data:`MAX_KEY_DOTS` dots in one key or table header (the format's deepest is 2);
* :data:`MAX_KEY_CHARS` characters in one key or header;
* :data:`MAX_NESTING` levels of ``[ ]`` / ``{ }`` (arrays and inline tables) at any point.
"""

from __future__ import annotations

__all__ = ["MAX_KEY_CHARS", "MAX_KEY_DOTS", "MAX_NESTING", "shape_problem"]

#: Most dots in one key or table header (``a.b.c``: 2).
MAX_KEY_DOTS = 8
#: Longest key or table header, characters.
MAX_KEY_CHARS = 200
#: Deepest nesting of arrays and inline tables.
MAX_NESTING = 16


def shape_problem(text: str) -> tuple[int, str, str] | None:
    """The first shape limit ``text`` breaks, as ``(line, what, allowed)``, or None.

    Keys are what stands before ``=`` (or between the brackets of a header) outside strings; dots inside
    quoted key segments do not count. Numbers in values (``1.5``) are not keys and are not counted.
    """
    line = 1
    stack: list[str] = []  # open [ / { of values
    in_key = True         # at the start of a line at depth 0, or after { or , inside an inline table
    key_chars = key_dots = 0
    header = 0            # 1 or 2 while inside [header] / [[header]] at line start
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            if not stack:
                in_key, key_chars, key_dots, header = True, 0, 0, 0
            i += 1
            continue
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c in "\"'":
            quote3 = text.startswith(c * 3, i)
            end_token = c * 3 if quote3 else c
            j = i + len(end_token)
            while True:
                k = text.find(end_token, j)
                if k < 0:
                    return None           # unterminated string: the parser reports it with its line
                if c == '"' and _escaped(text, k):
                    j = k + 1
                    continue
                break
            if not quote3:
                nl = text.find("\n", i, k)
                if nl >= 0:
                    return None           # a newline inside a one-line string: the parser's error
            line += text.count("\n", i, k)
            if in_key:
                key_chars += k - i
            i = k + len(end_token)
            while quote3 and i < n and text[i] == c:      # """a"""" ends with extra quotes inside
                i += 1
            continue
        if in_key:
            if c == "[" and header == 0 and not stack and key_chars == 0:
                header = 2 if text.startswith("[[", i) else 1
                i += header
                continue
            if c == "]" and header:
                in_key, header = False, 0
                i += 1
                continue
            if c == "=":
                in_key = False
                i += 1
                continue
            if c == "}" and stack:         # an empty inline table {}
                stack.pop()
                in_key = False
                i += 1
                continue
            if c == ".":
                key_dots += 1
                if key_dots > MAX_KEY_DOTS:
                    return line, "key with too many dotted parts", f"at most {MAX_KEY_DOTS} dots in a key"
            if not c.isspace():
                key_chars += 1
                if key_chars > MAX_KEY_CHARS:
                    return line, "key too long", f"at most {MAX_KEY_CHARS} characters in a key"
            i += 1
            continue
        # a value
        if c in "[{":
            stack.append(c)
            if len(stack) > MAX_NESTING:
                return line, "lists or tables nested too deeply", f"at most {MAX_NESTING} levels"
            if c == "{":
                in_key, key_chars, key_dots = True, 0, 0
        elif c in "]}":
            if stack:
                stack.pop()
        elif c == "," and stack and stack[-1] == "{":
            in_key, key_chars, key_dots = True, 0, 0
        i += 1
    return None


def _escaped(text: str, k: int) -> bool:
    """Whether the quote at ``k`` is escaped by an odd run of backslashes."""
    b = k - 1
    while b >= 0 and text[b] == "\\":
        b -= 1
    return (k - 1 - b) % 2 == 1
