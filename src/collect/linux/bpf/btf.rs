//! Just enough BTF, the kernel's type format (`Documentation/bpf/btf.rst`), to index the
//! kernel's 140,000 types in one pass over the bytes and to write a small BTF of our own.
//!
//! Safe slices only: every read is bounds-checked, and a malformed blob is an error, never a
//! panic. Both sides are in this machine's byte order (the kernel's BTF always is, and build.rs
//! compiles the object for the target's).
#![cfg_attr(not(portscope_bpf), allow(dead_code))]

use std::ops::Range;

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: u32 = 24;
/// A type's fixed part: name offset, info, size-or-type.
const TYPE_LEN: usize = 12;

pub const INT: u32 = 1;
pub const PTR: u32 = 2;
pub const ARRAY: u32 = 3;
pub const STRUCT: u32 = 4;
pub const UNION: u32 = 5;
pub const ENUM: u32 = 6;
pub const FWD: u32 = 7;
pub const TYPEDEF: u32 = 8;
pub const VOLATILE: u32 = 9;
pub const CONST: u32 = 10;
pub const RESTRICT: u32 = 11;
pub const FUNC: u32 = 12;
pub const FUNC_PROTO: u32 = 13;
pub const VAR: u32 = 14;
pub const DATASEC: u32 = 15;
pub const FLOAT: u32 = 16;
pub const DECL_TAG: u32 = 17;
pub const TYPE_TAG: u32 = 18;
pub const ENUM64: u32 = 19;

/// How many bytes follow a type's fixed part, from its kind and `vlen`; None for a kind this
/// reader does not know (then nothing after it can be found).
fn extra_len(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        PTR | FWD | TYPEDEF | VOLATILE | CONST | RESTRICT | FUNC | FLOAT | TYPE_TAG => 0,
        INT | VAR | DECL_TAG => 4,
        ARRAY => 12,
        STRUCT | UNION | DATASEC | ENUM64 => 12 * vlen,
        ENUM | FUNC_PROTO => 8 * vlen,
        _ => return None,
    })
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(word.try_into().ok()?))
}

/// One type: its fixed part, and the bytes that follow it (members, enumerators, ...).
#[derive(Clone, Copy, Debug)]
pub struct Type<'a> {
    pub name_off: u32,
    pub info: u32,
    /// The size of an int, struct, union or enum; the referenced type id of the others.
    pub size_or_type: u32,
    pub extra: &'a [u8],
}

impl Type<'_> {
    pub fn kind(&self) -> u32 {
        (self.info >> 24) & 0x1f
    }

    pub fn vlen(&self) -> usize {
        (self.info & 0xffff) as usize
    }

    pub fn is_composite(&self) -> bool {
        matches!(self.kind(), STRUCT | UNION)
    }

    /// Typedefs and qualifiers: the kinds that only name or qualify another type.
    pub fn is_alias(&self) -> bool {
        matches!(
            self.kind(),
            TYPEDEF | VOLATILE | CONST | RESTRICT | TYPE_TAG
        )
    }

    /// The members of a struct or union (none for other kinds).
    pub fn members(&self) -> impl Iterator<Item = Member> + '_ {
        let count = if self.is_composite() { self.vlen() } else { 0 };
        (0..count).filter_map(|i| {
            Some(Member {
                name_off: u32_at(self.extra, 12 * i)?,
                type_id: u32_at(self.extra, 12 * i + 4)?,
                offset: u32_at(self.extra, 12 * i + 8)?,
            })
        })
    }
}

/// A struct or union member as BTF stores it; `offset` keeps the bitfield encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    pub name_off: u32,
    pub type_id: u32,
    pub offset: u32,
}

/// A parsed BTF blob: where each type starts, so a type id is one index away.
pub struct Types<'a> {
    types: &'a [u8],
    strings: &'a [u8],
    /// Byte range in `types` of each type by id; id 0 (void) has an empty range.
    spans: Vec<Range<u32>>,
}

impl<'a> Types<'a> {
    /// Checks the header and walks the type section once.
    pub fn parse(blob: &'a [u8]) -> Result<Self, String> {
        let magic = blob.get(..2).map(|m| u16::from_ne_bytes([m[0], m[1]]));
        if magic != Some(MAGIC) {
            return Err("not BTF in this machine's byte order (bad magic)".into());
        }
        let field = |at| u32_at(blob, at).ok_or("truncated BTF header");
        let hdr_len = field(4)?;
        let section = |off: u32, len: u32| -> Result<&'a [u8], String> {
            let start = hdr_len as usize + off as usize;
            blob.get(start..start + len as usize)
                .ok_or_else(|| "a BTF section runs past the end".to_string())
        };
        let types = section(field(8)?, field(12)?)?;
        let strings = section(field(16)?, field(20)?)?;
        let spans = spans(types)?;
        Ok(Types {
            types,
            strings,
            spans,
        })
    }

    /// The number of type ids, void included: ids are `0..count()`.
    pub fn count(&self) -> u32 {
        u32::try_from(self.spans.len()).unwrap_or(u32::MAX)
    }

    pub fn get(&self, id: u32) -> Option<Type<'a>> {
        let span = self.spans.get(id as usize)?;
        let bytes = self.types.get(span.start as usize..span.end as usize)?;
        Some(Type {
            name_off: u32_at(bytes, 0)?,
            info: u32_at(bytes, 4)?,
            size_or_type: u32_at(bytes, 8)?,
            extra: bytes.get(TYPE_LEN..)?,
        })
    }

    /// A type's name offset and kind, the two words a search by name needs.
    pub fn name_and_kind(&self, id: u32) -> Option<(u32, u32)> {
        let start = self.spans.get(id as usize)?.start as usize;
        let name_off = u32_at(self.types, start)?;
        let info = u32_at(self.types, start + 4)?;
        Some((name_off, (info >> 24) & 0x1f))
    }

    /// The string at `offset`, without its NUL; empty when out of range.
    pub fn name(&self, offset: u32) -> &'a [u8] {
        let tail = self.strings.get(offset as usize..).unwrap_or_default();
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        tail.get(..end).unwrap_or_default()
    }

    /// Whether the string at `offset` is `name`, or `name` with a `___flavor` suffix (the CO-RE
    /// convention for several local definitions of one kernel type), without measuring it.
    pub fn name_is(&self, offset: u32, name: &[u8]) -> bool {
        let tail = self.strings.get(offset as usize..).unwrap_or_default();
        // Most names differ in their first byte: answer those without calling memcmp.
        if tail.first() != name.first() {
            return false;
        }
        match tail.strip_prefix(name) {
            Some(rest) => rest.first() == Some(&0) || rest.starts_with(b"___"),
            None => false,
        }
    }

    /// Whether the string at `offset` is exactly `name`, without measuring it.
    pub fn name_equals(&self, offset: u32, name: &[u8]) -> bool {
        let tail = self.strings.get(offset as usize..).unwrap_or_default();
        if tail.first() != name.first() {
            return false;
        }
        tail.strip_prefix(name)
            .is_some_and(|rest| rest.first() == Some(&0))
    }

    /// Follows typedefs and qualifiers to the type they stand for.
    pub fn resolve(&self, mut id: u32) -> Option<(u32, Type<'a>)> {
        // A chain longer than this is a loop in a malformed blob.
        for _ in 0..32 {
            let ty = self.get(id)?;
            if !ty.is_alias() {
                return Some((id, ty));
            }
            id = ty.size_or_type;
        }
        None
    }
}

/// Where each type starts and ends, in one pass. This is the only loop over the whole kernel
/// BTF, so it reads just the info word of each type.
fn spans(types: &[u8]) -> Result<Vec<Range<u32>>, String> {
    let mut spans = Vec::with_capacity(types.len() / 20 + 1);
    spans.push(0..0);
    let mut at = 0usize;
    while at < types.len() {
        let info = u32_at(types, at + 4).ok_or("a BTF type runs past the end")?;
        let kind = (info >> 24) & 0x1f;
        let extra = extra_len(kind, (info & 0xffff) as usize)
            .ok_or_else(|| format!("BTF type {} has unknown kind {kind}", spans.len()))?;
        let end = at + TYPE_LEN + extra;
        if end > types.len() {
            return Err(format!("BTF type {} runs past the end", spans.len()));
        }
        let span = u32::try_from(at).ok().zip(u32::try_from(end).ok());
        let (start, stop) = span.ok_or("the BTF type section is over 4 GiB")?;
        spans.push(start..stop);
        at = end;
    }
    Ok(spans)
}

/// Builds a BTF blob type by type; ids are given in the order types are added, from 1.
pub struct Writer {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl Default for Writer {
    fn default() -> Self {
        Writer {
            types: Vec::new(),
            // Offset 0 is the empty name.
            strings: vec![0],
            next_id: 1,
        }
    }
}

impl Writer {
    /// Adds a string and returns its offset; the empty name is always offset 0.
    pub fn string(&mut self, name: &[u8]) -> u32 {
        if name.is_empty() {
            return 0;
        }
        let offset = u32::try_from(self.strings.len()).unwrap_or(u32::MAX);
        self.strings.extend_from_slice(name);
        self.strings.push(0);
        offset
    }

    /// Adds one type and returns its id.
    pub fn push(&mut self, name_off: u32, info: u32, size_or_type: u32, extra: &[u8]) -> u32 {
        for word in [name_off, info, size_or_type] {
            self.types.extend_from_slice(&word.to_ne_bytes());
        }
        self.types.extend_from_slice(extra);
        self.next_id += 1;
        self.next_id - 1
    }

    /// Header, types, strings.
    pub fn finish(self) -> Vec<u8> {
        let types_len = u32::try_from(self.types.len()).unwrap_or(u32::MAX);
        let strings_len = u32::try_from(self.strings.len()).unwrap_or(u32::MAX);
        let mut blob =
            Vec::with_capacity(HEADER_LEN as usize + self.types.len() + self.strings.len());
        blob.extend_from_slice(&MAGIC.to_ne_bytes());
        blob.extend_from_slice(&[1, 0]); // version 1, no flags
        for word in [HEADER_LEN, 0, types_len, types_len, strings_len] {
            blob.extend_from_slice(&word.to_ne_bytes());
        }
        blob.extend_from_slice(&self.types);
        blob.extend_from_slice(&self.strings);
        blob
    }
}

/// A type's info word.
pub fn info(kind: u32, vlen: usize, kind_flag: bool) -> u32 {
    (u32::from(kind_flag) << 31) | (kind << 24) | (vlen as u32 & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `int`, `struct pair { int a; int *b; }`, `typedef struct pair pair_t`, a FUNC.
    fn sample() -> Vec<u8> {
        let mut w = Writer::default();
        let int_name = w.string(b"int");
        let int = w.push(
            int_name,
            info(INT, 0, false),
            4,
            &(1u32 << 24 | 32).to_ne_bytes(),
        );
        let ptr = w.push(0, info(PTR, 0, false), int, &[]);
        let (a, b) = (w.string(b"a"), w.string(b"b"));
        let members = [a, int, 0, b, ptr, 64].map(u32::to_ne_bytes).concat();
        let pair_name = w.string(b"pair");
        let pair = w.push(pair_name, info(STRUCT, 2, false), 16, &members);
        let alias = w.string(b"pair_t");
        w.push(alias, info(TYPEDEF, 0, false), pair, &[]);
        let func = w.string(b"f___v2");
        w.push(func, info(FUNC, 0, false), 0, &[]);
        w.finish()
    }

    #[test]
    fn written_types_read_back() {
        let blob = sample();
        let types = Types::parse(&blob).expect("parse");
        assert_eq!(types.count(), 6);
        let pair = types.get(3).expect("type 3");
        assert_eq!(pair.kind(), STRUCT);
        assert_eq!(types.name(pair.name_off), b"pair");
        let members: Vec<Member> = pair.members().collect();
        assert_eq!(members.len(), 2);
        assert_eq!(types.name(members[1].name_off), b"b");
        assert_eq!((members[1].type_id, members[1].offset), (2, 64));
        assert_eq!(types.resolve(4).map(|(id, _)| id), Some(3));
        assert!(types.get(6).is_none());
    }

    #[test]
    fn names_match_with_or_without_a_flavor() {
        let blob = sample();
        let types = Types::parse(&blob).expect("parse");
        let func = types.get(5).expect("func").name_off;
        assert!(types.name_is(func, b"f"));
        assert!(!types.name_is(func, b"f__"));
        let pair = types.get(3).expect("pair").name_off;
        assert!(types.name_is(pair, b"pair"));
        assert!(!types.name_is(pair, b"pai"));
        assert!(!types.name_is(pair, b"pair_t"));
    }

    #[test]
    fn malformed_blobs_are_errors() {
        let blob = sample();
        assert!(Types::parse(&blob[..10]).is_err(), "truncated header");
        assert!(Types::parse(&[0u8; 24]).is_err(), "bad magic");
        let mut short = blob.clone();
        // Claim a longer type section than there is.
        short[12..16].copy_from_slice(&10_000u32.to_ne_bytes());
        assert!(Types::parse(&short).is_err());
        let mut unknown = blob;
        unknown[24 + 7] = 0x1f; // kind 31 in the first type's info
        assert!(Types::parse(&unknown).is_err());
    }
}
