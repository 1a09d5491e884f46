//! Just enough of three option parsers to find the few values that name a container: Go's
//! `flag` package (docker-proxy, containerd shims), getopt_long (pasta, slirp4netns) and
//! GOption (conmon). Arguments are raw bytes from `/proc/PID/cmdline`.

/// How a program spells options.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// Go's flag package: `-name v`, `-name=v`, `--name v`, `--name=v`.
    Go,
    /// getopt_long and GOption: `-n v`, `-nv`, `--name v`, `--name=v`; `-abc` is a cluster
    /// of flags.
    Getopt,
}

/// Which options take a value; the others are flags. `AllBut` is for programs whose flags
/// are fewer than their valued options: an unknown option then swallows its value instead of
/// letting the value pass for an option of its own.
#[derive(Clone, Copy)]
pub(super) enum Valued<'a> {
    Only(&'a [&'a str]),
    AllBut(&'a [&'a str]),
}

impl Valued<'_> {
    fn takes(self, name: &[u8]) -> bool {
        let listed = |names: &[&str]| names.iter().any(|n| n.as_bytes() == name);
        match self {
            Valued::Only(names) => listed(names),
            Valued::AllBut(names) => !listed(names),
        }
    }
}

/// Options (name without dashes, value) in order, and the positional arguments.
#[derive(Default)]
pub(super) struct Args<'a> {
    options: Vec<(&'a [u8], Option<&'a [u8]>)>,
    pub positional: Vec<&'a [u8]>,
}

/// What one argument that starts with `-` is.
struct Flag<'a> {
    name: &'a [u8],
    inline: Option<&'a [u8]>,
    /// A getopt cluster such as `-it`: flags only, it never takes the next argument.
    cluster: bool,
}

impl<'a> Args<'a> {
    /// `argv` without the program name.
    pub fn parse<A: AsRef<[u8]>>(argv: &'a [A], style: Style, valued: Valued) -> Args<'a> {
        let mut parsed = Args::default();
        let mut rest = argv.iter().map(AsRef::as_ref);
        while let Some(arg) = rest.next() {
            if arg == b"--" {
                parsed.positional.extend(rest);
                break;
            }
            let Some(body) = arg.strip_prefix(b"-").filter(|f| !f.is_empty()) else {
                parsed.positional.push(arg);
                continue;
            };
            let flag = split_flag(body, style, valued);
            let value = match flag.inline {
                Some(value) => Some(value),
                None if !flag.cluster && valued.takes(flag.name) => rest.next(),
                None => None,
            };
            parsed.options.push((flag.name, value));
        }
        parsed
    }

    /// The value of the last occurrence of any of `names`.
    pub fn value(&self, names: &[&str]) -> Option<&'a [u8]> {
        self.values(names).pop()
    }

    /// The values of every occurrence of any of `names`, in order.
    pub fn values(&self, names: &[&str]) -> Vec<&'a [u8]> {
        let wanted = |n: &[u8]| names.iter().any(|w| w.as_bytes() == n);
        self.options
            .iter()
            .filter(|(n, _)| wanted(n))
            .filter_map(|(_, v)| *v)
            .collect()
    }
}

/// `body` is an argument without its first `-`.
fn split_flag<'a>(body: &'a [u8], style: Style, valued: Valued) -> Flag<'a> {
    let plain = |(name, inline)| Flag {
        name,
        inline,
        cluster: false,
    };
    if let Some(long) = body.strip_prefix(b"-") {
        return plain(split_eq(long));
    }
    match style {
        Style::Go => plain(split_eq(body)),
        Style::Getopt if body.len() == 1 => plain((body, None)),
        // `-t8080`: a short option glued to its value.
        Style::Getopt if valued.takes(&body[..1]) => plain((&body[..1], Some(&body[1..]))),
        Style::Getopt => Flag {
            name: body,
            inline: None,
            cluster: true,
        },
    }
}

fn split_eq(flag: &[u8]) -> (&[u8], Option<&[u8]>) {
    match flag.iter().position(|&b| b == b'=') {
        Some(at) => (&flag[..at], Some(&flag[at + 1..])),
        None => (flag, None),
    }
}

/// A number or an address written in an argument.
pub(super) fn parse_str<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<&str> {
        line.split(' ').collect()
    }

    #[test]
    fn go_flags() {
        let line = argv("-a 1 --b=2 -c=3 --d 4 -flag pos -- -e 5");
        let args = Args::parse(&line, Style::Go, Valued::AllBut(&["flag"]));
        for (name, value) in [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")] {
            assert_eq!(args.value(&[name]), Some(value.as_bytes()), "{name}");
        }
        assert_eq!(args.value(&["e"]), None, "after --");
        assert_eq!(args.positional, vec![b"pos".as_slice(), b"-e", b"5"]);
    }

    #[test]
    fn getopt_flags() {
        let line = argv("-it -n web -cID --name=other -x -t 80 -t 81");
        let args = Args::parse(&line, Style::Getopt, Valued::AllBut(&["i", "t", "x"]));
        assert_eq!(args.value(&["c"]), Some(b"ID".as_slice()));
        // The last occurrence wins; -it is a cluster and took nothing.
        assert_eq!(args.value(&["n", "name"]), Some(b"other".as_slice()));
        assert!(args.values(&["t"]).is_empty(), "-t is a flag here");
        let args = Args::parse(&line, Style::Getopt, Valued::Only(&["n", "c", "t"]));
        assert_eq!(args.values(&["t"]), vec![b"80".as_slice(), b"81"]);
    }
}
