//! The six bpf(2) commands the owner map needs, over aya-obj's bindings of `union bpf_attr`,
//! and the mapping of the kernel's BTF: with `netns/sys.rs`, the only `unsafe` in portscope.
//!
//! Neither rustix nor nix wraps bpf(2). aya does, but only behind `EbpfLoader`, which in aya
//! 0.14 reads and parses the whole kernel BTF before anything else (15 ms and ~18 MB on a 6.18
//! kernel; 0.15 makes that lazy but needs Rust 1.98). Each wrapper fills one member of the
//! zeroed union, as `Documentation/bpf/` and the uapi header describe it; the kernel accepts
//! the bindings' larger union because the bytes it does not know are zero.

#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};

use aya_obj::generated::{
    bpf_attach_type, bpf_attr, bpf_cmd, bpf_insn, bpf_map_type, bpf_prog_type,
};

/// Runs `cmd` with `attr`; the kernel's return value (a new fd for the creating commands).
fn bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<i64> {
    // SAFETY: `attr` is a valid, fully initialised `bpf_attr` for the whole call, its size is
    // passed with it, and every pointer stored in it refers to memory the caller keeps alive
    // until this returns.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            std::ptr::from_mut(attr),
            mem::size_of::<bpf_attr>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        n => Ok(n),
    }
}

/// A command that returns a new fd.
fn bpf_fd(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<OwnedFd> {
    let fd =
        i32::try_from(bpf(cmd, attr)?).map_err(|_| io::Error::other("bpf: fd out of range"))?;
    // SAFETY: the creating commands return a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn zeroed() -> bpf_attr {
    // SAFETY: `bpf_attr` is a plain C union of integers and arrays: all zeroes is valid, and
    // is what the kernel expects of every member not set.
    unsafe { mem::zeroed() }
}

/// Copies `name` into a kernel object name (15 bytes and a NUL; longer names are cut).
fn object_name(name: &str) -> [libc::c_char; 16] {
    let mut out = [0; 16];
    for (slot, byte) in out.iter_mut().zip(name.bytes().take(15)) {
        *slot = byte as libc::c_char;
    }
    out
}

/// What `BPF_MAP_CREATE` is told.
pub struct MapSpec<'a> {
    pub name: &'a str,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
}

/// A map, with the key and value sizes it was made with: updates and deletes check their
/// types against them, since the kernel reads that many bytes from what it is handed.
pub struct MapFd {
    fd: OwnedFd,
    map_type: u32,
    key_size: u32,
    value_size: u32,
}

/// Maps whose value the kernel reads once per possible CPU (each rounded up to 8 bytes): a
/// single `V` is too short for them, so updates refuse them.
const PER_CPU_MAPS: [bpf_map_type; 4] = [
    bpf_map_type::BPF_MAP_TYPE_PERCPU_HASH,
    bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY,
    bpf_map_type::BPF_MAP_TYPE_LRU_PERCPU_HASH,
    bpf_map_type::BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE_DEPRECATED,
];

impl MapFd {
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Sets `key` to `value` (any flags: create or replace).
    pub fn update<K: Copy, V: Copy>(&self, key: &K, value: &V) -> io::Result<()> {
        if PER_CPU_MAPS.iter().any(|&t| t as u32 == self.map_type) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a per-CPU map takes one value per CPU, not one",
            ));
        }
        self.check::<K>(self.key_size, "key")?;
        self.check::<V>(self.value_size, "value")?;
        let mut attr = zeroed();
        // SAFETY: writing members of a zeroed union of plain integers.
        let elem = unsafe { &mut attr.__bindgen_anon_2 };
        elem.map_fd = self.fd.as_raw_fd() as u32;
        elem.key = std::ptr::from_ref(key) as u64;
        elem.__bindgen_anon_1.value = std::ptr::from_ref(value) as u64;
        bpf(bpf_cmd::BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
    }

    pub fn delete<K: Copy>(&self, key: &K) -> io::Result<()> {
        self.check::<K>(self.key_size, "key")?;
        let mut attr = zeroed();
        // SAFETY: writing members of a zeroed union of plain integers.
        let elem = unsafe { &mut attr.__bindgen_anon_2 };
        elem.map_fd = self.fd.as_raw_fd() as u32;
        elem.key = std::ptr::from_ref(key) as u64;
        bpf(bpf_cmd::BPF_MAP_DELETE_ELEM, &mut attr).map(drop)
    }

    fn check<T>(&self, size: u32, what: &str) -> io::Result<()> {
        match usize::try_from(size) == Ok(std::mem::size_of::<T>()) {
            true => Ok(()),
            false => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the map's {what} is {size} bytes, not {}",
                    std::mem::size_of::<T>()
                ),
            )),
        }
    }
}

pub fn map_create(spec: &MapSpec) -> io::Result<MapFd> {
    let mut attr = zeroed();
    // SAFETY (each union access below): writing a member of a zeroed union of plain integers.
    let create = unsafe { &mut attr.__bindgen_anon_1 };
    create.map_type = spec.map_type;
    create.key_size = spec.key_size;
    create.value_size = spec.value_size;
    create.max_entries = spec.max_entries;
    create.map_flags = spec.map_flags;
    create.map_name = object_name(spec.name);
    Ok(MapFd {
        fd: bpf_fd(bpf_cmd::BPF_MAP_CREATE, &mut attr)?,
        map_type: spec.map_type,
        key_size: spec.key_size,
        value_size: spec.value_size,
    })
}

/// Loads a BPF iterator program attached to the kernel function with BTF id `attach_btf_id`
/// (`bpf_iter_<type>`). With a non-empty `log`, the verifier writes its reasoning there.
pub fn iter_prog_load(
    name: &str,
    instructions: &[bpf_insn],
    license: &CStr,
    attach_btf_id: u32,
    log: &mut [u8],
) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    let load = unsafe { &mut attr.__bindgen_anon_3 };
    load.prog_type = bpf_prog_type::BPF_PROG_TYPE_TRACING as u32;
    load.expected_attach_type = bpf_attach_type::BPF_TRACE_ITER as u32;
    load.attach_btf_id = attach_btf_id;
    load.insns = instructions.as_ptr() as u64;
    load.insn_cnt =
        u32::try_from(instructions.len()).map_err(|_| io::Error::other("program too long"))?;
    load.license = license.as_ptr() as u64;
    load.prog_name = object_name(name);
    if !log.is_empty() {
        load.log_level = 1;
        load.log_buf = log.as_mut_ptr() as u64;
        load.log_size = u32::try_from(log.len()).unwrap_or(u32::MAX);
    }
    bpf_fd(bpf_cmd::BPF_PROG_LOAD, &mut attr)
}

/// A link of the iterator program, which `iter_create` makes iterators of.
pub fn iter_link_create(program: BorrowedFd) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    let link = unsafe { &mut attr.link_create };
    link.__bindgen_anon_1.prog_fd = program.as_raw_fd() as u32;
    link.attach_type = bpf_attach_type::BPF_TRACE_ITER as u32;
    bpf_fd(bpf_cmd::BPF_LINK_CREATE, &mut attr)
}

/// A link of the iterator program that walks the files of process `pid` only (Linux 6.1 and
/// later: `union bpf_iter_link_info`'s `task.pid`; 5.8 refuses it with EINVAL, 5.9-6.0, whose
/// link info is 4 bytes, with E2BIG).
pub fn iter_link_create_for_process(program: BorrowedFd, pid: u32) -> io::Result<OwnedFd> {
    // struct { __u32 tid; __u32 pid; __u32 pid_fd; } task, of union bpf_iter_link_info.
    let task: [u32; 3] = [0, pid, 0];
    let mut attr = zeroed();
    let link = unsafe { &mut attr.link_create };
    link.__bindgen_anon_1.prog_fd = program.as_raw_fd() as u32;
    link.attach_type = bpf_attach_type::BPF_TRACE_ITER as u32;
    link.__bindgen_anon_3.__bindgen_anon_1.iter_info = task.as_ptr() as u64;
    link.__bindgen_anon_3.__bindgen_anon_1.iter_info_len = mem::size_of_val(&task) as u32;
    bpf_fd(bpf_cmd::BPF_LINK_CREATE, &mut attr)
}

/// A new walk: each `read()` of the returned fd runs the program over the next tasks' files.
pub fn iter_create(link: BorrowedFd) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    let iter = unsafe { &mut attr.iter_create };
    iter.link_fd = link.as_raw_fd() as u32;
    bpf_fd(bpf_cmd::BPF_ITER_CREATE, &mut attr)
}

/// The kernel's BTF, mapped where the kernel allows it (6.16 and later map
/// `/sys/kernel/btf/vmlinux` read-only and private: no copy, no 1,350 reads of 4 KB), read
/// otherwise. Its parts are private: only `open` makes a mapping, of that one file, which
/// the kernel generates and nothing writes.
pub struct KernelBtf(Blob);

enum Blob {
    Mapped {
        at: *mut std::ffi::c_void,
        len: usize,
    },
    Read(Vec<u8>),
}

impl KernelBtf {
    pub fn open() -> io::Result<KernelBtf> {
        let path = super::preflight::KERNEL_BTF;
        let file = std::fs::File::open(path)?;
        let len = usize::try_from(file.metadata()?.len()).unwrap_or(0);
        if len > 0 {
            // SAFETY: a private, read-only mapping of a file nothing writes; it is unmapped on
            // drop and only read as bytes in between.
            let mapped = unsafe {
                rustix::mm::mmap(
                    std::ptr::null_mut(),
                    len,
                    rustix::mm::ProtFlags::READ,
                    rustix::mm::MapFlags::PRIVATE,
                    &file,
                    0,
                )
            };
            if let Ok(at) = mapped {
                return Ok(KernelBtf(Blob::Mapped { at, len }));
            }
        }
        std::fs::read(path).map(|bytes| KernelBtf(Blob::Read(bytes)))
    }
}

impl std::ops::Deref for KernelBtf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            // SAFETY: `at` is a live mapping of `len` readable bytes until drop.
            Blob::Mapped { at, len } => unsafe {
                std::slice::from_raw_parts(at.cast::<u8>(), *len)
            },
            Blob::Read(bytes) => bytes,
        }
    }
}

impl Drop for KernelBtf {
    fn drop(&mut self) {
        if let Blob::Mapped { at, len } = self.0 {
            // SAFETY: the mapping made in `open`, unmapped once; no slice of it outlives self.
            let _ = unsafe { rustix::mm::munmap(at, len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BPF_MAP_TYPE_HASH (1) keyed by a socket inode, as the wanted map is.
    fn inode_map() -> Option<MapFd> {
        map_of_type(1)
    }

    fn map_of_type(map_type: u32) -> Option<MapFd> {
        let spec = MapSpec {
            name: "ps_test",
            map_type,
            key_size: 8,
            value_size: 1,
            max_entries: 4,
            map_flags: 0,
        };
        match map_create(&spec) {
            Ok(map) => Some(map),
            Err(error) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true, but BPF_MAP_CREATE was refused: {error}"
                );
                eprintln!("skipped: BPF_MAP_CREATE refused ({error}); needs root or CAP_BPF");
                None
            }
        }
    }

    #[test]
    fn a_key_or_value_of_the_wrong_size_is_refused_before_the_kernel_reads_it() {
        let Some(map) = inode_map() else {
            return;
        };
        map.update(&7u64, &1u8).expect("the map's own types");
        map.delete(&7u64).expect("delete by the map's key type");
        for error in [
            map.update(&7u32, &1u8).expect_err("refused"),
            map.update(&7u64, &1u32).expect_err("refused"),
            map.delete(&7u16).expect_err("refused"),
        ] {
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
        }
        let per_cpu = map_of_type(bpf_map_type::BPF_MAP_TYPE_PERCPU_HASH as u32).expect("made");
        let error = per_cpu.update(&7u64, &1u8).expect_err("refused");
        assert!(error.to_string().contains("per-CPU"), "{error}");
        assert!(
            map.update(&7u32, &1u8)
                .expect_err("refused")
                .to_string()
                .contains("key is 8 bytes, not 4")
        );
    }
}
