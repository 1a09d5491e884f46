//! The kernel types the program's CO-RE relocations need, cut out of the kernel's BTF, so that
//! aya-obj relocates against a few dozen types instead of 140,000.
//!
//! aya's relocation looks for candidates by scanning every kernel type by name (as strings),
//! once per relocated type, over its own parse of the kernel's BTF: with that parse, most of a
//! 70-85 ms load on the medium fixture (6.18 kernel). The answer only depends on types
//! reachable from the names the program declares, so this module gives aya exactly those:
//!
//! - every kernel type with the kind and (flavourless) name of a named type in the object's
//!   BTF: these are aya's candidates, duplicates included, so ambiguity is still detected;
//! - in each, only the members whose names the object's type declares, with their real
//!   offsets, and anonymous structs and unions on the way to them (a field can move into one
//!   between kernel versions; matching descends into them);
//! - under each kept member, its type cut the same way along the object's type of that member;
//!   pointers become `void *`: a field relocation never looks through a pointer (each
//!   dereference is its own relocation, rooted at the pointee's name).
//!
//! aya still does the matching and the instruction patching; nothing here knows an offset.
#![cfg_attr(not(portscope_bpf), allow(dead_code))]

use rustc_hash::FxHashMap as HashMap;

use super::btf::{
    self, ARRAY, ENUM, ENUM64, FLOAT, FWD, INT, PTR, STRUCT, TYPEDEF, Type, Types, UNION, Writer,
};

/// What a load needs of the kernel's BTF.
pub struct KernelTypes {
    /// A small BTF blob for aya-obj to relocate the program against.
    pub relocation: Vec<u8>,
    /// The kernel's id of the function the iterator attaches to (`bpf_iter_<type>`).
    pub attach_id: u32,
}

/// Cuts the types `local` (the object's BTF) names out of `kernel`, and finds `attach_func`.
/// `Ok(None)`: the kernel has no such function (no such iterator).
pub fn cut(
    local: &Types,
    kernel: &Types,
    attach_func: &str,
) -> Result<Option<KernelTypes>, String> {
    let roots = local_roots(local);
    let (candidates, func_id) = find(kernel, &roots, attach_func.as_bytes());
    let Some(func_id) = func_id else {
        return Ok(None);
    };
    let mut cutter = Cutter {
        local,
        kernel,
        out: Writer::default(),
        copied: HashMap::default(),
        void_ptr: None,
        depth: 0,
    };
    for (root, kernel_id) in candidates {
        cutter.copy(root, kernel_id)?;
    }
    Ok(Some(KernelTypes {
        relocation: cutter.out.finish(),
        attach_id: func_id,
    }))
}

/// A named type of the object: relocations are rooted at these.
struct Root<'a> {
    id: u32,
    kind: u32,
    name: &'a [u8],
}

fn local_roots<'a>(local: &Types<'a>) -> Vec<Root<'a>> {
    (1..local.count())
        .filter_map(|id| {
            let ty = local.get(id)?;
            let kind = ty.kind();
            let name = local.name(ty.name_off);
            let name = flavourless(name);
            let relocatable = matches!(kind, STRUCT | UNION | TYPEDEF | ENUM | ENUM64);
            (relocatable && !name.is_empty()).then_some(Root { id, kind, name })
        })
        .collect()
}

/// `name` without a `___flavour` suffix.
fn flavourless(name: &[u8]) -> &[u8] {
    let cut = name.windows(3).position(|w| w == b"___");
    cut.map_or(name, |at| name.get(..at).unwrap_or(name))
}

/// One pass over the kernel's types: each `(root id, kernel id)` candidate pair, and the id of
/// the FUNC `attach_func` (the first, as aya takes it). Most of the 140,000 types are rejected
/// by their kind alone, without looking at their name.
fn find(kernel: &Types, roots: &[Root], attach_func: &[u8]) -> (Vec<(u32, u32)>, Option<u32>) {
    let mut wanted_kinds = roots.iter().fold(0u32, |mask, root| mask | 1 << root.kind);
    let enums = 1 << ENUM | 1 << ENUM64;
    if wanted_kinds & enums != 0 {
        wanted_kinds |= enums;
    }
    let mut candidates = Vec::new();
    let mut func = None;
    for id in 1..kernel.count() {
        let Some((name_off, kind)) = kernel.name_and_kind(id) else {
            continue;
        };
        if kind == btf::FUNC {
            if func.is_none() && kernel.name_equals(name_off, attach_func) {
                func = Some(id);
            }
        } else if wanted_kinds & (1 << kind) != 0 {
            for root in roots {
                if kinds_match(root.kind, kind) && kernel.name_is(name_off, root.name) {
                    candidates.push((root.id, id));
                }
            }
        }
    }
    (candidates, func)
}

/// The kinds aya may take as candidates: the same kind, and an enum may be found as a 64-bit
/// one (a superset of aya 0.14's rule, which then picks among them).
fn kinds_match(local: u32, kernel: u32) -> bool {
    local == kernel || matches!((local, kernel), (ENUM, ENUM64) | (ENUM64, ENUM))
}

struct Cutter<'l, 'k> {
    local: &'l Types<'l>,
    kernel: &'k Types<'k>,
    out: Writer,
    /// (object type, kernel type) → id in `out`: a type reached twice the same way is one type.
    copied: HashMap<(u32, u32), u32>,
    void_ptr: Option<u32>,
    /// How deep `copy` is: embedded structs nest a few levels; a loop means a malformed blob.
    depth: u32,
}

impl Cutter<'_, '_> {
    /// Copies kernel type `id`, cut along object type `local` (0 when the object's side has
    /// nothing to say: then composites keep no members). Returns its id in the output.
    fn copy(&mut self, local: u32, id: u32) -> Result<u32, String> {
        if id == 0 {
            return Ok(0);
        }
        if let Some(&done) = self.copied.get(&(local, id)) {
            return Ok(done);
        }
        let ty = self
            .kernel
            .get(id)
            .ok_or_else(|| format!("kernel BTF refers to missing type {id}"))?;
        if self.depth > 32 {
            return Err(format!("kernel BTF type {id} contains itself"));
        }
        self.depth += 1;
        let copied = self.copy_kind(local, id, ty);
        self.depth -= 1;
        let copied = copied?;
        self.copied.insert((local, id), copied);
        Ok(copied)
    }

    fn copy_kind(&mut self, local: u32, id: u32, ty: Type) -> Result<u32, String> {
        let name = self.out.string(self.kernel.name(ty.name_off));
        Ok(match ty.kind() {
            STRUCT | UNION => self.copy_composite(local, ty, name)?,
            PTR => self.void_ptr(),
            ARRAY => self.copy_array(local, ty)?,
            INT | FLOAT | FWD => self.out.push(name, ty.info, ty.size_or_type, ty.extra),
            ENUM | ENUM64 => self.copy_enum(ty, name),
            _ if ty.is_alias() => {
                let target = self.copy(local, ty.size_or_type)?;
                self.out.push(name, ty.info, target, &[])
            }
            kind => return Err(format!("kernel type {id} of kind {kind} inside a struct")),
        })
    }

    fn void_ptr(&mut self) -> u32 {
        if let Some(id) = self.void_ptr {
            return id;
        }
        let id = self.out.push(0, btf::info(PTR, 0, false), 0, &[]);
        self.void_ptr = Some(id);
        id
    }

    /// The members `local` declares, by name, and the anonymous members that lead to one.
    fn copy_composite(&mut self, local: u32, ty: Type, name: u32) -> Result<u32, String> {
        let fields = local_fields(self.local, local);
        let mut members = Vec::new();
        let mut count = 0;
        for member in ty.members() {
            let member_name = self.kernel.name(member.name_off);
            let local_type = if member_name.is_empty() {
                if !leads_to(self.kernel, &fields, member.type_id, 0) {
                    continue;
                }
                local
            } else {
                match fields.iter().find(|(name, _)| *name == member_name) {
                    Some(&(_, local_type)) => local_type,
                    None => continue,
                }
            };
            let type_id = self.copy(local_type, member.type_id)?;
            let member_name = self.out.string(member_name);
            for word in [member_name, type_id, member.offset] {
                members.extend_from_slice(&word.to_ne_bytes());
            }
            count += 1;
        }
        let kind_flag = ty.info >> 31 == 1;
        let info = btf::info(ty.kind(), count, kind_flag);
        Ok(self.out.push(name, info, ty.size_or_type, &members))
    }

    fn copy_array(&mut self, local: u32, ty: Type) -> Result<u32, String> {
        let word = |i: usize| -> Result<u32, String> {
            let bytes = ty
                .extra
                .get(4 * i..4 * i + 4)
                .ok_or("truncated BTF array")?;
            Ok(u32::from_ne_bytes(
                bytes.try_into().map_err(|_| "BTF array")?,
            ))
        };
        let (element, index, len) = (word(0)?, word(1)?, word(2)?);
        let local_element = match self.local.resolve(local) {
            Some((_, local_ty)) if local_ty.kind() == ARRAY => {
                let bytes = local_ty.extra.get(..4).unwrap_or(&[0; 4]);
                u32::from_ne_bytes(bytes.try_into().unwrap_or_default())
            }
            _ => 0,
        };
        let element = self.copy(local_element, element)?;
        let index = self.copy(0, index)?;
        let extra = [element, index, len].map(u32::to_ne_bytes).concat();
        Ok(self.out.push(0, ty.info, 0, &extra))
    }

    /// Enumerators are copied whole (their names re-interned): a relocation may ask for any.
    fn copy_enum(&mut self, ty: Type, name: u32) -> u32 {
        let stride = if ty.kind() == ENUM { 8 } else { 12 };
        let mut extra = ty.extra.to_vec();
        for entry in extra.chunks_exact_mut(stride) {
            let (name_off, _) = entry.split_at_mut(4);
            let old = u32::from_ne_bytes(name_off.try_into().unwrap_or_default());
            let new = self.out.string(self.kernel.name(old));
            name_off.copy_from_slice(&new.to_ne_bytes());
        }
        self.out.push(name, ty.info, ty.size_or_type, &extra)
    }
}

/// The named fields of object type `local` (after typedefs), with those of its anonymous
/// members flattened in, as CO-RE matching sees them: each with its own type.
fn local_fields<'a>(local: &Types<'a>, id: u32) -> Vec<(&'a [u8], u32)> {
    let mut fields = Vec::new();
    collect_fields(local, id, &mut fields, 0);
    fields
}

fn collect_fields<'a>(local: &Types<'a>, id: u32, fields: &mut Vec<(&'a [u8], u32)>, depth: u32) {
    if id == 0 || depth > 16 {
        return;
    }
    let Some((_, ty)) = local.resolve(id) else {
        return;
    };
    for member in ty.members() {
        match local.name(member.name_off) {
            b"" => collect_fields(local, member.type_id, fields, depth + 1),
            name => fields.push((name, member.type_id)),
        }
    }
}

/// Whether kernel type `id` is a struct or union with one of `fields` in it, at any depth of
/// anonymous members.
fn leads_to(kernel: &Types, fields: &[(&[u8], u32)], id: u32, depth: u32) -> bool {
    let Some((_, ty)) = kernel.resolve(id) else {
        return false;
    };
    if !ty.is_composite() || depth > 16 {
        return false;
    }
    ty.members()
        .any(|member| match kernel.name(member.name_off) {
            b"" => leads_to(kernel, fields, member.type_id, depth + 1),
            name => fields.iter().any(|(wanted, _)| *wanted == name),
        })
}

#[cfg(test)]
mod tests {
    use super::btf::info;
    use super::*;

    /// A struct's name and its members' names and offsets.
    type NamedMembers = (Vec<u8>, Vec<(Vec<u8>, u32)>);

    /// Adds `int`, returns its id.
    fn int(w: &mut Writer) -> u32 {
        let name = w.string(b"int");
        w.push(
            name,
            info(INT, 0, false),
            4,
            &(1u32 << 24 | 32).to_ne_bytes(),
        )
    }

    fn composite(
        w: &mut Writer,
        kind: u32,
        name: &[u8],
        size: u32,
        members: &[(&[u8], u32, u32)],
    ) -> u32 {
        let mut extra = Vec::new();
        for &(member, type_id, bits) in members {
            let member = w.string(member);
            extra.extend([member, type_id, bits].map(u32::to_ne_bytes).concat());
        }
        let name = w.string(name);
        w.push(name, info(kind, members.len(), false), size, &extra)
    }

    /// A "kernel": `struct task { int pid; int tgid; struct { int extra; int fd; }; char pad; }`
    /// at real offsets, a second `struct task___old` (a duplicate name), an unrelated struct,
    /// and the FUNC `bpf_iter_task_file` at id 9.
    fn kernel() -> Vec<u8> {
        let mut w = Writer::default();
        let int = int(&mut w); // 1
        let anon = composite(
            &mut w,
            STRUCT,
            b"",
            8,
            &[(b"extra", int, 0), (b"fd", int, 32)],
        ); // 2
        let ptr = w.push(0, info(PTR, 0, false), anon, &[]); // 3
        composite(
            &mut w,
            STRUCT,
            b"task",
            64,
            &[
                (b"pid", int, 0),
                (b"tgid", int, 96),
                (b"", anon, 192),
                (b"next", ptr, 320),
            ],
        ); // 4
        composite(&mut w, STRUCT, b"task___old", 8, &[(b"tgid", int, 32)]); // 5
        composite(&mut w, STRUCT, b"unrelated", 4, &[(b"tgid", int, 0)]); // 6
        composite(&mut w, UNION, b"task", 4, &[(b"tgid", int, 0)]); // 7: another kind
        let name = w.string(b"other_func");
        w.push(name, info(btf::FUNC, 0, false), 0, &[]); // 8
        let name = w.string(b"bpf_iter_task_file");
        w.push(name, info(btf::FUNC, 0, false), 0, &[]); // 9
        w.finish()
    }

    /// The object's view: `struct task { int tgid; int fd; struct task *next; }`.
    fn object() -> Vec<u8> {
        let mut w = Writer::default();
        let int = int(&mut w);
        let fwd = w.push(0, info(PTR, 0, false), 3, &[]);
        composite(
            &mut w,
            STRUCT,
            b"task",
            16,
            &[(b"tgid", int, 0), (b"fd", int, 32), (b"next", fwd, 64)],
        );
        w.finish()
    }

    #[test]
    fn only_declared_members_survive_at_their_kernel_offsets() {
        let (kernel, object) = (kernel(), object());
        let kernel = Types::parse(&kernel).expect("kernel");
        let object = Types::parse(&object).expect("object");
        let cut = cut(&object, &kernel, "bpf_iter_task_file")
            .expect("cut")
            .expect("func");
        let out = Types::parse(&cut.relocation).expect("parse the cut");

        let structs: Vec<NamedMembers> = (1..out.count())
            .filter_map(|id| out.get(id))
            .filter(|ty| ty.is_composite())
            .map(|ty| {
                let members = ty
                    .members()
                    .map(|m| (out.name(m.name_off).to_vec(), m.offset))
                    .collect();
                (out.name(ty.name_off).to_vec(), members)
            })
            .collect();
        let named = |name: &[u8]| structs.iter().filter(|(n, _)| n == name).count();
        // Both candidates named task (and only structs), not the unrelated struct.
        assert_eq!(named(b"task"), 1);
        assert_eq!(named(b"task___old"), 1);
        assert_eq!(named(b"unrelated"), 0);
        let task = &structs.iter().find(|(n, _)| n == b"task").expect("task").1;
        let names: Vec<&[u8]> = task.iter().map(|(n, _)| n.as_slice()).collect();
        assert_eq!(names, [&b"tgid"[..], b"", b"next"], "pid is dropped");
        assert_eq!(task.iter().map(|m| m.1).collect::<Vec<_>>(), [96, 192, 320]);
        // The anonymous struct keeps fd at its offset, not extra.
        let anon = &structs.iter().find(|(n, _)| n.is_empty()).expect("anon").1;
        assert_eq!(anon, &[(b"fd".to_vec(), 32)]);
    }

    #[test]
    fn pointers_become_void_pointers() {
        let (kernel, object) = (kernel(), object());
        let kernel = Types::parse(&kernel).expect("kernel");
        let object = Types::parse(&object).expect("object");
        let cut = cut(&object, &kernel, "bpf_iter_task_file")
            .expect("cut")
            .expect("func");
        let out = Types::parse(&cut.relocation).expect("parse the cut");
        let ptrs: Vec<Type> = (1..out.count())
            .filter_map(|id| out.get(id))
            .filter(|ty| ty.kind() == PTR)
            .collect();
        assert_eq!(ptrs.len(), 1);
        assert_eq!(ptrs[0].size_or_type, 0);
    }

    #[test]
    fn the_attach_function_keeps_its_kernel_id() {
        let (kernel, object) = (kernel(), object());
        let kernel = Types::parse(&kernel).expect("kernel");
        let object = Types::parse(&object).expect("object");
        let cut = cut(&object, &kernel, "bpf_iter_task_file")
            .expect("cut")
            .expect("func");
        assert_eq!(cut.attach_id, 9);
        assert!(cut_missing(&object, &kernel));
    }

    fn cut_missing(object: &Types, kernel: &Types) -> bool {
        matches!(cut(object, kernel, "bpf_iter_no_such"), Ok(None))
    }

    #[test]
    fn a_struct_that_contains_itself_is_an_error_not_a_stack_overflow() {
        // Type 1 is `struct loop { struct loop inner; }`: impossible in C, possible in bytes.
        let mut w = Writer::default();
        composite(&mut w, STRUCT, b"loop", 8, &[(b"inner", 1, 0)]);
        let name = w.string(b"bpf_iter_task_file");
        w.push(name, info(btf::FUNC, 0, false), 0, &[]);
        let kernel = w.finish();
        let mut w = Writer::default();
        composite(&mut w, STRUCT, b"loop", 8, &[(b"inner", 1, 0)]);
        let object = w.finish();
        let kernel = Types::parse(&kernel).expect("kernel");
        let object = Types::parse(&object).expect("object");
        let err = cut(&object, &kernel, "bpf_iter_task_file").err();
        assert!(err.is_some_and(|e| e.contains("contains itself")));
    }

    #[test]
    fn flavours_are_cut_off_names() {
        assert_eq!(flavourless(b"task___old"), b"task");
        assert_eq!(flavourless(b"task"), b"task");
        assert_eq!(flavourless(b"a__b"), b"a__b");
    }
}
