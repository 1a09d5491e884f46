//! The one sanitizer for every string that comes from the operating system.
//!
//! # Why
//!
//! portscope is often run as root (with `sudo`) to see every process, so it
//! prints strings that any local user controls: a process name (`comm`, set
//! with `prctl(PR_SET_NAME)`), a command line, a working directory, a user
//! name. Printed raw, such a string can carry terminal escape sequences that
//! recolour or clear the screen, retitle the window, move the cursor to
//! overwrite other rows, or — on some terminals — write to files or the
//! clipboard. Bidi overrides, zero-width characters and line separators can
//! make one process look like another, hide part of a command line, or split
//! one JSON or table row into what looks like two.
//!
//! Every output path (terminal table, TUI, JSON, error messages) therefore
//! passes OS-derived strings through this module and nothing else. The
//! output is always valid UTF-8 and contains only printable characters.
//!
//! # Escape forms
//!
//! | input                                   | shown as                   |
//! |-----------------------------------------|----------------------------|
//! | `\` (backslash)                         | `\\`                       |
//! | LF, CR, TAB                             | `\n`, `\r`, `\t`           |
//! | ESC (0x1B)                              | `\e`                       |
//! | other C0 controls (0x00–0x1F) and DEL   | `\xNN` (two lowercase hex) |
//! | a byte that is not valid UTF-8          | `\xNN` (two lowercase hex) |
//! | any char of general category Cc (C1 controls U+0080–U+009F), Cf (format: bidi controls, zero-width characters, BOM, soft hyphen, tags), Zl, Zp, Co (private use), Cn (unassigned, noncharacters), Cs | `\u{X}` |
//! | letters and marks that draw nothing (Hangul fillers U+115F, U+1160, U+3164, U+FFA0, the braille blank U+2800, the grapheme joiner U+034F, Khmer inherent vowels U+17B4–U+17B5, Mongolian variation selectors U+180B–U+180F, the null notehead U+1D159): they could fake an empty or look-alike name | `\u{X}` |
//!
//! `\u{X}` is Rust's own form: lowercase hexadecimal without leading zeros,
//! exactly what `format!("\\u{{{:x}}}", c as u32)` gives, e.g. `\u{9b}`,
//! `\u{202e}`, `\u{feff}`, `\u{10fffd}`.
//!
//! The escapes are unambiguous: a literal backslash is always doubled, and a
//! `\xNN` for an invalid byte (always 0x80 or above) can never be confused
//! with one for a control character (always below 0x80). Invalid UTF-8 is
//! decoded leniently, following the "maximal subpart" rule of
//! [`<[u8]>::utf8_chunks`](slice::utf8_chunks); every byte that is not part of
//! a valid character is escaped on its own.
//!
//! Everything else, including non-ASCII letters, combining marks, emoji and
//! non-ASCII spaces, is kept as it is. Classification uses the
//! `unicode-properties` tables, not a hand-written list.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::Path;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Sanitizes raw bytes, decoding UTF-8 leniently: each byte that is not part
/// of a valid UTF-8 character becomes `\xNN`, and every unsafe character is
/// escaped as described in the [module documentation](self).
pub fn sanitize_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        push_escaped(&mut out, chunk.valid());
        for &byte in chunk.invalid() {
            push_byte_escape(&mut out, byte);
        }
    }
    out
}

/// Sanitizes a string. Borrows it unchanged (no allocation) when nothing in
/// it needs escaping, which is the common case.
pub fn sanitize_str(s: &str) -> Cow<'_, str> {
    let Some((index, _)) = first_to_escape(s) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..index]);
    push_escaped(&mut out, &s[index..]);
    Cow::Owned(out)
}

/// Sanitizes an OS string, treating its bytes as (possibly invalid) UTF-8.
#[cfg(unix)]
pub fn sanitize_os(s: &OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    sanitize_bytes(s.as_bytes())
}

/// Sanitizes an OS string. Unpaired surrogates become U+FFFD.
#[cfg(not(unix))]
pub fn sanitize_os(s: &OsStr) -> String {
    sanitize_str(&s.to_string_lossy()).into_owned()
}

/// Sanitizes a path (an executable, a working directory).
pub fn sanitize_path(p: &Path) -> String {
    sanitize_os(p.as_os_str())
}

/// True when [`sanitize_str`] would return `s` unchanged.
#[cfg_attr(not(test), allow(dead_code))]
pub fn is_clean(s: &str) -> bool {
    first_to_escape(s).is_none()
}

/// The byte index and value of the first char in `s` that must be escaped.
fn first_to_escape(s: &str) -> Option<(usize, char)> {
    s.char_indices().find(|&(_, c)| needs_escape(c))
}

/// True for a backslash and for every char that is unsafe to print.
fn needs_escape(c: char) -> bool {
    if c.is_ascii() {
        return !matches!(c, ' '..='~') || c == '\\';
    }
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::Surrogate
    ) || draws_nothing(c)
}

/// Letters and marks of ordinary categories that render as nothing at all.
fn draws_nothing(c: char) -> bool {
    matches!(
        c,
        '\u{115f}'
            | '\u{1160}'
            | '\u{3164}'
            | '\u{ffa0}'
            | '\u{2800}'
            | '\u{034f}'
            | '\u{17b4}'
            | '\u{17b5}'
            | '\u{180b}'..='\u{180f}' | '\u{1d159}'
    )
}

/// Appends `s` to `out`, copying runs of clean text whole and escaping the
/// chars between them.
fn push_escaped(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some((index, c)) = first_to_escape(rest) {
        out.push_str(&rest[..index]);
        push_char_escape(out, c);
        rest = &rest[index + c.len_utf8()..];
    }
    out.push_str(rest);
}

/// Appends the escape for one char for which [`needs_escape`] is true.
fn push_char_escape(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x1b' => out.push_str("\\e"),
        '\0'..='\x7f' => push_byte_escape(out, c as u8),
        _ => {
            out.push_str("\\u{");
            push_hex(out, u32::from(c), 1);
            out.push('}');
        }
    }
}

/// Appends `\xNN` for one byte.
fn push_byte_escape(out: &mut String, byte: u8) {
    out.push_str("\\x");
    push_hex(out, u32::from(byte), 2);
}

/// Appends `value` in lowercase hex, without leading zeros but with at least
/// `min_digits` digits.
fn push_hex(out: &mut String, value: u32, min_digits: u32) {
    let digits = (u32::BITS - value.leading_zeros())
        .div_ceil(4)
        .max(min_digits);
    for position in (0..digits).rev() {
        let nibble = (value >> (position * 4)) & 0xf;
        out.push(char::from(HEX_DIGITS[nibble as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input bytes and the exact expected output.
    const CASES: &[(&[u8], &str)] = &[
        // Plain text stays as it is.
        (b"", ""),
        (b"nginx", "nginx"),
        (
            b"/usr/bin/python3 -m http.server 8080",
            "/usr/bin/python3 -m http.server 8080",
        ),
        (
            b"~!@#$%^&*()_+{}|:\"<>?`-=[];',./",
            "~!@#$%^&*()_+{}|:\"<>?`-=[];',./",
        ),
        // Backslash is doubled.
        (b"C:\\dir", "C:\\\\dir"),
        (b"\\x41", "\\\\x41"),
        // C0 controls and DEL.
        (b"\x1b[31mred\x1b[0m", "\\e[31mred\\e[0m"),
        (b"\x1b]0;title\x07", "\\e]0;title\\x07"),
        (b"ok\rEVIL", "ok\\rEVIL"),
        (b"a\nb\tc", "a\\nb\\tc"),
        (b"abc\x08\x08\x08xyz", "abc\\x08\\x08\\x08xyz"),
        (b"\x00\x01\x1f", "\\x00\\x01\\x1f"),
        (b"del\x7f", "del\\x7f"),
        // C1 control CSI, U+009B.
        ("\u{9b}31m".as_bytes(), "\\u{9b}31m"),
        ("\u{80}\u{85}\u{9f}".as_bytes(), "\\u{80}\\u{85}\\u{9f}"),
        // Bidi controls.
        ("evil\u{202e}txt.exe".as_bytes(), "evil\\u{202e}txt.exe"),
        (
            "\u{202a}\u{202b}\u{202c}\u{202d}".as_bytes(),
            "\\u{202a}\\u{202b}\\u{202c}\\u{202d}",
        ),
        ("a\u{2066}b\u{2069}".as_bytes(), "a\\u{2066}b\\u{2069}"),
        ("\u{2067}\u{2068}".as_bytes(), "\\u{2067}\\u{2068}"),
        (
            "\u{200e}\u{200f}\u{61c}".as_bytes(),
            "\\u{200e}\\u{200f}\\u{61c}",
        ),
        // Zero-width and other format characters.
        ("ng\u{200b}inx".as_bytes(), "ng\\u{200b}inx"),
        (
            "\u{200c}\u{200d}\u{2060}".as_bytes(),
            "\\u{200c}\\u{200d}\\u{2060}",
        ),
        ("\u{feff}sshd".as_bytes(), "\\u{feff}sshd"),
        ("soft\u{ad}hyphen".as_bytes(), "soft\\u{ad}hyphen"),
        ("tag\u{e0041}".as_bytes(), "tag\\u{e0041}"),
        // Line and paragraph separators.
        (
            "one\u{2028}two\u{2029}".as_bytes(),
            "one\\u{2028}two\\u{2029}",
        ),
        // Private use and unassigned / noncharacters.
        (
            "\u{e000}\u{f8ff}\u{10fffd}".as_bytes(),
            "\\u{e000}\\u{f8ff}\\u{10fffd}",
        ),
        (
            "\u{fffe}\u{ffff}\u{fdd0}".as_bytes(),
            "\\u{fffe}\\u{ffff}\\u{fdd0}",
        ),
        // Characters that draw nothing, though not controls: a name made of them looks empty.
        (
            "\u{3164}\u{115f}\u{1160}\u{ffa0}".as_bytes(),
            "\\u{3164}\\u{115f}\\u{1160}\\u{ffa0}",
        ),
        ("root\u{2800}".as_bytes(), "root\\u{2800}"),
        ("n\u{34f}ginx\u{17b4}".as_bytes(), "n\\u{34f}ginx\\u{17b4}"),
        // Invalid UTF-8.
        (b"\xff", "\\xff"),
        (b"a\xc3", "a\\xc3"),
        (b"\xc3(", "\\xc3("),
        (b"\xc0\xaf", "\\xc0\\xaf"),
        (b"end\xe6\x97", "end\\xe6\\x97"),
        (b"\xed\xa0\x80", "\\xed\\xa0\\x80"),
        (b"\xf8\x88\x80\x80\x80", "\\xf8\\x88\\x80\\x80\\x80"),
        (b"\x80\xbf", "\\x80\\xbf"),
        (b"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"),
        // Text that must stay unchanged.
        ("日本語のテキスト".as_bytes(), "日本語のテキスト"),
        ("プロセス名 ｶﾀｶﾅ".as_bytes(), "プロセス名 ｶﾀｶﾅ"),
        ("🦀 👍🏽 ❤\u{fe0f} 🇯🇵".as_bytes(), "🦀 👍🏽 ❤\u{fe0f} 🇯🇵"),
        (
            "cafe\u{301} Ǹ n\u{303}".as_bytes(),
            "cafe\u{301} Ǹ n\u{303}",
        ),
        (
            "Ελληνικά русский עברית العربية".as_bytes(),
            "Ελληνικά русский עברית العربية",
        ),
        (
            "no\u{a0}break\u{3000}wide".as_bytes(),
            "no\u{a0}break\u{3000}wide",
        ),
    ];

    #[test]
    fn table_of_cases() {
        for &(input, expected) in CASES {
            assert_eq!(sanitize_bytes(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn str_agrees_with_bytes_and_borrows_when_clean() {
        for &(input, expected) in CASES {
            let Ok(text) = std::str::from_utf8(input) else {
                continue;
            };
            let sanitized = sanitize_str(text);
            assert_eq!(sanitized, expected, "input {text:?}");
            let unchanged = text == expected;
            assert_eq!(is_clean(text), unchanged, "input {text:?}");
            assert_eq!(
                matches!(sanitized, Cow::Borrowed(_)),
                unchanged,
                "input {text:?}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn os_strings_and_paths() {
        use std::os::unix::ffi::OsStrExt;
        let name = OsStr::from_bytes(b"x\x1b[2J\xff");
        assert_eq!(sanitize_os(name), "x\\e[2J\\xff");
        let path = Path::new(OsStr::from_bytes(b"/tmp/\xe2\x80\xaedir\n"));
        assert_eq!(sanitize_path(path), "/tmp/\\u{202e}dir\\n");
    }

    #[test]
    fn hex_form_matches_format() {
        for value in [
            0u32, 1, 0xf, 0x10, 0x9b, 0xff, 0x100, 0x202e, 0xfeff, 0x1_0000, 0x10_fffd,
        ] {
            let mut out = String::new();
            push_hex(&mut out, value, 1);
            assert_eq!(out, format!("{value:x}"));
            out.clear();
            push_hex(&mut out, value, 2);
            assert_eq!(out, format!("{value:02x}"));
        }
    }

    /// A tiny deterministic xorshift64 generator.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Fragments that random inputs are built from, besides random bytes.
    const FRAGMENTS: &[&str] = &[
        "a",
        "Z",
        " ",
        "\\",
        "\x1b",
        "\x1b[",
        "\r",
        "\n",
        "\t",
        "\x7f",
        "\x00",
        "\u{9b}",
        "\u{85}",
        "\u{202e}",
        "\u{2066}",
        "\u{200b}",
        "\u{200d}",
        "\u{feff}",
        "\u{2028}",
        "\u{e000}",
        "\u{fffe}",
        "\u{378}",
        "日本",
        "🦀",
        "e\u{301}",
        "\u{a0}",
        "\u{10ffff}",
        "\u{3164}",
        "\u{2800}",
    ];

    fn random_bytes(rng: &mut XorShift) -> Vec<u8> {
        let len = rng.below(24);
        let mut bytes = Vec::with_capacity(len * 2);
        for _ in 0..len {
            if rng.below(2) == 0 {
                bytes.push(rng.next() as u8);
            } else {
                bytes.extend_from_slice(FRAGMENTS[rng.below(FRAGMENTS.len())].as_bytes());
            }
        }
        bytes
    }

    fn is_forbidden(c: char) -> bool {
        u32::from(c) < 0x20
            || c == '\x7f'
            || matches!(
                c.general_category(),
                GeneralCategory::Control
                    | GeneralCategory::Format
                    | GeneralCategory::LineSeparator
                    | GeneralCategory::ParagraphSeparator
                    | GeneralCategory::PrivateUse
                    | GeneralCategory::Unassigned
                    | GeneralCategory::Surrogate
            )
            || "\u{115f}\u{1160}\u{3164}\u{ffa0}\u{2800}\u{34f}".contains(c)
    }

    /// Reverses the escaping, to show it loses nothing and is unambiguous.
    fn unescape(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
            match chars.next() {
                Some('\\') => out.push(b'\\'),
                Some('n') => out.push(b'\n'),
                Some('r') => out.push(b'\r'),
                Some('t') => out.push(b'\t'),
                Some('e') => out.push(0x1b),
                Some('x') => {
                    let hex: String = chars.by_ref().take(2).collect();
                    assert_eq!(hex.len(), 2, "short \\x escape in {s:?}");
                    assert_eq!(hex, hex.to_lowercase(), "uppercase hex in {s:?}");
                    let byte = u8::from_str_radix(&hex, 16);
                    assert!(byte.is_ok(), "bad \\x escape in {s:?}");
                    out.push(byte.unwrap_or_default());
                }
                Some('u') => {
                    assert_eq!(chars.next(), Some('{'), "bad \\u escape in {s:?}");
                    let hex: String = chars.by_ref().take_while(|&h| h != '}').collect();
                    assert!(!hex.starts_with('0'), "leading zero in {s:?}");
                    assert_eq!(hex, hex.to_lowercase(), "uppercase hex in {s:?}");
                    let code = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                    assert!(code.is_some(), "bad \\u escape in {s:?}");
                    let code = code.unwrap_or_default();
                    assert!(u32::from(code) >= 0x80, "\\u used for ASCII in {s:?}");
                    out.extend_from_slice(code.encode_utf8(&mut [0; 4]).as_bytes());
                }
                other => panic!("unknown escape {other:?} in {s:?}"),
            }
        }
        out
    }

    #[test]
    fn random_inputs_never_leak_unsafe_chars() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let input = random_bytes(&mut rng);
            let out = sanitize_bytes(&input);
            assert!(!out.chars().any(is_forbidden), "{input:?} gave {out:?}");
            assert!(!out.bytes().any(|b| b < 0x20 || b == 0x7f), "{input:?}");
            // Only escapes contain backslashes; every other char is clean.
            assert_eq!(sanitize_str(&out), out.replace('\\', "\\\\"), "{input:?}");
            assert_eq!(unescape(&out), input, "round trip of {out:?}");
            if let Ok(text) = std::str::from_utf8(&input) {
                assert_eq!(sanitize_str(text), out, "{input:?}");
            }
        }
    }

    #[test]
    fn random_clean_text_is_borrowed() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let input = random_bytes(&mut rng);
            let clean: String = String::from_utf8_lossy(&input)
                .chars()
                .filter(|&c| !is_forbidden(c) && c != '\\')
                .collect();
            assert!(is_clean(&clean), "{clean:?}");
            assert!(
                matches!(sanitize_str(&clean), Cow::Borrowed(_)),
                "{clean:?}"
            );
            assert_eq!(sanitize_bytes(clean.as_bytes()), clean);
        }
    }
}
