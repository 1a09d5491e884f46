#!/usr/bin/env python3
"""Turns a captured terminal screen (text with ANSI SGR colour sequences, as printed by
`tmux capture-pane -e -p`) into a self-contained HTML page: a dark terminal theme, a
monospace font, every cell on a fixed grid.

    scripts/ansi2html.py --cols 110 --rows 32 --title "portscope" screen.ansi > screen.html

Understood: SGR 0 (reset), 1 bold, 2 dim, 3 italic, 4 underline, 7 reverse, 8 hidden,
9 crossed-out and their resets (21-29); colours 30-37/90-97, 40-47/100-107, 39/49, the
256-colour palette (38;5;N / 48;5;N) and 24-bit colour (38;2;R;G;B), in `;` or `:` form.
Box-drawing and block characters are stretched to the full cell height so lines join.

Nothing from the input reaches the page raw: HTML is escaped, every other escape or
control sequence is dropped, and control, format (bidi) and private-use characters are
shown as U+FFFD, so a hostile screen cannot restyle the page or reorder its text. With
--strict any of those is an error (exit 3): a screenshot of portscope must not contain one.

The page reports its own size: after load, <body data-size="WxH"> holds the pixel size of
the terminal (padding included), for `chromium --headless --window-size=W,H --screenshot`.
"""

import argparse
import html
import re
import sys
import unicodedata

# "Tomorrow Night": a calm dark theme whose 16 colours stay readable on its background.
BACKGROUND = (0x1D, 0x1F, 0x21)
FOREGROUND = (0xC5, 0xC8, 0xC6)
PALETTE16 = [
    (0x1D, 0x1F, 0x21), (0xCC, 0x66, 0x66), (0xB5, 0xBD, 0x68), (0xF0, 0xC6, 0x74),
    (0x81, 0xA2, 0xBE), (0xB2, 0x94, 0xBB), (0x8A, 0xBE, 0xB7), (0xC5, 0xC8, 0xC6),
    (0x96, 0x98, 0x96), (0xD5, 0x4E, 0x53), (0xB9, 0xCA, 0x4A), (0xE7, 0xC5, 0x47),
    (0x7A, 0xA6, 0xDA), (0xC3, 0x97, 0xD8), (0x70, 0xC0, 0xB1), (0xEA, 0xEA, 0xEA),
]
FONT_STACK = "'DejaVu Sans Mono', 'Liberation Mono', 'Menlo', 'Consolas', monospace"

CSI = re.compile(r"\x1b\[([0-9;:?<=>]*)([ -/]*)([@-~])")
OSC_OR_STRING = re.compile(r"\x1b[\]PX^_].*?(?:\x07|\x1b\\)", re.S)
OTHER_ESCAPE = re.compile(r"\x1b[ -/]*[0-~]?")
UNSAFE_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}


def palette256(n):
    if n < 16:
        return PALETTE16[n]
    if n < 232:
        n -= 16
        levels = [0, 95, 135, 175, 215, 255]
        return (levels[n // 36], levels[(n // 6) % 6], levels[n % 6])
    grey = 8 + 10 * (n - 232)
    return (grey, grey, grey)


class Style:
    __slots__ = ("fg", "bg", "bold", "dim", "italic", "underline", "reverse", "hidden", "strike")

    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = self.bg = None  # None: the theme's default
        self.bold = self.dim = self.italic = self.underline = False
        self.reverse = self.hidden = self.strike = False

    def key(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def apply(self, params):
        """Applies one SGR parameter list, e.g. "1;38;5;6" or "38:2::255:0:0"."""
        groups = params.split(";") if params else ["0"]
        codes = []
        for group in groups:
            if ":" in group:  # the sub-parameter form stands alone: 38:5:N, 38:2::R:G:B, 4:3
                head, *rest = group.split(":")
                if head in ("38", "48") and rest:
                    values = [int(v) for v in rest if v != ""]
                    self.extended(head, values[:1] + values[-3:] if values[:1] == [2] else values)
                elif head == "4":
                    self.underline = rest[:1] != ["0"]
                continue
            codes.append(int(group) if group.isdigit() else 0)
        i = 0
        while i < len(codes):
            code = codes[i]
            if code in (38, 48) and i + 1 < len(codes):
                mode = codes[i + 1]
                take = 4 if mode == 2 else 2
                self.extended(str(code), codes[i + 1:i + 1 + take])
                i += 1 + take
                continue
            self.simple(code)
            i += 1

    def extended(self, which, values):
        colour = None
        if len(values) >= 2 and values[0] == 5 and 0 <= values[1] <= 255:
            colour = palette256(values[1])
        elif len(values) >= 4 and values[0] == 2:
            colour = tuple(max(0, min(255, v)) for v in values[1:4])
        if colour is not None:
            if which == "38":
                self.fg = colour
            elif which == "48":
                self.bg = colour

    def simple(self, code):
        flags = {1: ("bold", True), 2: ("dim", True), 3: ("italic", True), 4: ("underline", True),
                 7: ("reverse", True), 8: ("hidden", True), 9: ("strike", True),
                 23: ("italic", False), 24: ("underline", False), 27: ("reverse", False),
                 28: ("hidden", False), 29: ("strike", False)}
        if code == 0:
            self.reset()
        elif code in flags:
            setattr(self, *flags[code])
        elif code in (21, 22):
            self.bold = self.dim = False
        elif 30 <= code <= 37:
            self.fg = PALETTE16[code - 30]
        elif 90 <= code <= 97:
            self.fg = PALETTE16[code - 90 + 8]
        elif 40 <= code <= 47:
            self.bg = PALETTE16[code - 40]
        elif 100 <= code <= 107:
            self.bg = PALETTE16[code - 100 + 8]
        elif code == 39:
            self.fg = None
        elif code == 49:
            self.bg = None

    def css(self):
        fg = self.fg or FOREGROUND
        bg = self.bg or BACKGROUND
        if self.reverse:
            fg, bg = bg, fg
        if self.dim:
            fg = tuple(round(f * 0.55 + b * 0.45) for f, b in zip(fg, bg))
        if self.hidden:
            fg = bg
        rules = []
        if fg != FOREGROUND:
            rules.append(f"color:{hexcolour(fg)}")
        if bg != BACKGROUND:
            rules.append(f"background:{hexcolour(bg)}")
        if self.bold:
            rules.append("font-weight:bold")
        if self.italic:
            rules.append("font-style:italic")
        decorations = ((self.underline, "underline"), (self.strike, "line-through"))
        lines = [name for on, name in decorations if on]
        if lines:
            rules.append(f"text-decoration:{' '.join(lines)}")
        return ";".join(rules)


def hexcolour(rgb):
    return "#%02x%02x%02x" % rgb


def cell_width(ch):
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def safe_char(ch):
    if ch == " " or (ch.isprintable() and unicodedata.category(ch) not in UNSAFE_CATEGORIES):
        return ch
    return "\ufffd"


def parse(text, problems):
    """Rows of cells (char, width, style key, css), the SGR state carried across lines. What
    was dropped or replaced is appended to `problems`."""
    problems.extend(m.group(0) for m in OSC_OR_STRING.finditer(text))
    text = OSC_OR_STRING.sub("", text)
    style = Style()
    rows = []
    for line in text.split("\n"):
        cells = []
        pos = 0
        while pos < len(line):
            ch = line[pos]
            if ch == "\x1b":
                match = CSI.match(line, pos)
                if match and match.group(3) == "m" and not match.group(2) \
                        and not re.search(r"[?<=>]", match.group(1)):
                    style.apply(match.group(1))
                else:
                    match = match or OTHER_ESCAPE.match(line, pos)
                    problems.append(match.group(0))
                pos = match.end()
                continue
            pos += 1
            if ch == "\t":
                for _ in range(8 - sum(c[1] for c in cells) % 8):
                    cells.append((" ", 1, style.key(), style.css()))
                continue
            if safe_char(ch) != ch:
                problems.append(ch)
                if ch == "\r":
                    continue
                ch = "\ufffd"
            width = cell_width(ch)
            if width == 0:
                continue  # a combining mark would blur the grid
            cells.append((ch, width, style.key(), style.css()))
        rows.append(cells)
    return rows


def fit(rows, cols, nrows, trim):
    """Cuts or pads every row to `cols` cells and the screen to `nrows` rows (if given)."""
    blank = (" ", 1, Style().key(), "")
    fitted = []
    for cells in rows:
        out, used = [], 0
        for cell in cells:
            if used + cell[1] > cols:
                break
            out.append(cell)
            used += cell[1]
        out += [blank] * (cols - used)
        fitted.append(out)
    if trim:
        while fitted and all(c[0] == " " and c[3] in ("",) for c in fitted[-1]):
            fitted.pop()
    if nrows is not None:
        fitted = fitted[:nrows] + [[blank] * cols for _ in range(nrows - len(fitted))]
    return fitted


BOX = re.compile("[\u2500-\u259f]")


def render_row(cells):
    """One row: runs of one style; non-ASCII cells are fixed-width boxes so the grid holds even
    when a glyph comes from a fallback font."""
    out = []
    run_css, run = None, []

    def flush():
        if run:
            body = "".join(run)
            out.append(f'<span style="{run_css}">{body}</span>' if run_css else body)

    for ch, width, _key, css in cells:
        if css != run_css:
            flush()
            run_css, run = css, []
        if ch.isascii():
            run.append(html.escape(ch))
        else:
            kind = "b" if BOX.match(ch) else "w"
            run.append(f'<i class="{kind}{width}">{html.escape(ch)}</i>')
    flush()
    return "".join(out)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
html, body {{ margin: 0; padding: 0; background: {bg}; }}
.term {{ display: inline-block; padding: {pad}px; background: {bg}; color: {fg};
  font-family: {font}; font-size: {size}px; line-height: {line}px;
  font-variant-ligatures: none; font-kerning: none; -webkit-font-smoothing: antialiased; }}
.row {{ white-space: pre; height: {line}px; overflow: hidden;
  unicode-bidi: isolate; direction: ltr; }}
.row i {{ font-style: inherit; display: inline-block; text-align: center; overflow: visible;
  vertical-align: top; height: {line}px; }}
.row i.w1, .row i.b1 {{ width: 1ch; }}
.row i.w2, .row i.b2 {{ width: 2ch; }}
.row i.b1, .row i.b2 {{ transform: scaleY({box_scale}); transform-origin: 50% 50%; }}
</style></head>
<body><div class="term" id="term">
{rows}
</div>
<script>
  var t = document.getElementById("term").getBoundingClientRect();
  document.body.setAttribute("data-size", Math.ceil(t.width) + "x" + Math.ceil(t.height));
</script>
</body></html>
"""


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", nargs="?", default="-", help="captured screen (default stdin)")
    ap.add_argument("-o", "--output", default="-", help="HTML file (default stdout)")
    ap.add_argument("--cols", type=int, default=110, help="terminal width in cells")
    ap.add_argument("--rows", type=int, help="terminal height in cells (default: as captured, "
                    "trailing blank rows removed)")
    ap.add_argument("--title", default="terminal")
    ap.add_argument("--font-size", type=int, default=15, help="px (default 15)")
    ap.add_argument("--padding", type=int, default=14, help="px around the screen (default 14)")
    ap.add_argument("--strict", action="store_true",
                    help="fail (exit 3) if the screen holds anything but text and SGR colours: "
                         "another escape sequence, a control, bidi or invalid character")
    args = ap.parse_args(argv)
    raw = sys.stdin.buffer.read() if args.input == "-" else open(args.input, "rb").read()
    text = raw.decode("utf-8", "replace")
    problems = []
    rows = fit(parse(text, problems), args.cols, args.rows, trim=args.rows is None)
    if problems and args.strict:
        shown = ", ".join(sorted({ascii(p) for p in problems})[:20])
        print(f"ansi2html: {args.input}: {len(problems)} raw escape or unsafe character(s): "
              f"{shown}", file=sys.stderr)
        return 3
    line = round(args.font_size * 1.3)
    page = PAGE.format(
        title=html.escape(args.title), bg=hexcolour(BACKGROUND), fg=hexcolour(FOREGROUND),
        font=FONT_STACK, size=args.font_size, line=line, pad=args.padding,
        box_scale=round(1.3 / 1.17, 3),  # DejaVu/Liberation glyph height is about 1.17 em
        rows="\n".join(f'<div class="row">{render_row(cells)}</div>' for cells in rows))
    if args.output == "-":
        sys.stdout.write(page)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
