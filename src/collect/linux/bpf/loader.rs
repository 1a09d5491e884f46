//! Loading and running the iterator with aya (pure Rust: no libbpf, no libelf).

use rustc_hash::FxHashSet as HashSet;
use std::error::Error;
use std::fs::{self, File};
use std::io;

use aya::maps::{Array, HashMap as KernelHashMap, Map, MapData};
use aya::programs::{Iter, ProgramError};
use aya::{Btf, Ebpf, EbpfLoader, Endianness};
use object::{Object as _, ObjectSection as _};
use rustix::io::Errno;

use super::btf::Types;
use super::kernel_types::{self, KernelTypes};
use super::{LoadOptions, Unavailable, WANTED_IN_KERNEL_MAX, Walk, preflight, rows};

/// What build.rs compiled from `bpf/task_sockets.bpf.c`, aligned because the ELF reader reads
/// its headers in place.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/task_sockets.bpf.o"));

const PROGRAM: &str = "task_sockets";
const ITERATOR: &str = "task_file";
const WANTED_MAP: &str = "wanted_inodes";
const CONFIG_MAP: &str = "config";

/// The bits of `config`, as `bpf/task_sockets.bpf.c` defines them.
const WANTED_ONLY: u32 = 1;
const READ_NETNS: u32 = 2;
const READ_NSFS: u32 = 4;

pub struct Loaded {
    /// Owns the program's fd (and the object's BTF); closed on drop.
    ebpf: Ebpf,
    wanted: KernelHashMap<MapData, u64, u8>,
    config: Array<MapData, u32>,
    /// What `wanted` holds now, so a refresh sends only the difference.
    in_kernel: HashSet<u64>,
    /// What `config` says now; None before the first call.
    flags: Option<u32>,
    options: LoadOptions,
}

impl Loaded {
    /// Where ~30 ms go on the medium fixture (median of 21, 6.18 kernel, 2 cores): 15 ms in
    /// `EbpfLoader::new()`, which in aya 0.14 reads and parses the whole kernel BTF although it
    /// is replaced here (0.15 does it lazily, but needs Rust 1.98), and 2.5 ms dropping it;
    /// 9 ms reading the BTF (5.5 MB, in 4 KB reads into fresh pages) and cutting it; 3 ms
    /// dropping the attach blob's 64,000 placeholders; 2 ms in the kernel (maps, verifier).
    /// Making the loader on a second thread while cutting measured slower (~40 vs ~35 ms).
    pub fn load(options: LoadOptions) -> Result<Self, Unavailable> {
        preflight::check()?;
        let (relocation, attach) = kernel_btf()?;
        // Without the namespace nothing is filtered in the kernel (see WANTED_IN_KERNEL_MAX):
        // the wanted map then stays at one entry rather than a megabyte of buckets.
        let capacity = match options.netns {
            true => u32::try_from(WANTED_IN_KERNEL_MAX).unwrap_or(u32::MAX),
            false => 1,
        };
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&relocation))
            .map_max_entries(WANTED_MAP, capacity)
            .load(OBJECT)
            .map_err(|e| refused(&e, Unavailable::Load))?;
        iter_program(&mut ebpf)?
            .load(ITERATOR, &attach)
            .map_err(|e| program_refused(&e))?;
        let wanted = typed_map(&mut ebpf, WANTED_MAP, KernelHashMap::try_from)?;
        let config = typed_map(&mut ebpf, CONFIG_MAP, Array::try_from)?;
        Ok(Loaded {
            ebpf,
            wanted,
            config,
            in_kernel: HashSet::default(),
            flags: None,
            options,
        })
    }

    pub fn walk(
        &mut self,
        wanted: Option<&HashSet<u64>>,
        namespace_fds: bool,
    ) -> Result<Walk, Unavailable> {
        let netns = self.options.netns;
        let in_kernel = wanted.filter(|w| netns && w.len() <= WANTED_IN_KERNEL_MAX);
        self.configure(in_kernel, namespace_fds)?;
        let here = if in_kernel.is_none() { wanted } else { None };
        let iterator = self.iterator()?;
        let (sockets, namespace_fds) = rows::read_all(iterator, |socket| {
            here.is_none_or(|wanted| wanted.contains(&socket.inode))
        })
        .map_err(Unavailable::Failed)?;
        Ok(Walk {
            sockets,
            namespace_fds,
        })
    }

    /// Makes the kernel's filter say `wanted` (None: no filter), and `config` say that, the
    /// load options and whether namespace fds are wanted.
    fn configure(
        &mut self,
        wanted: Option<&HashSet<u64>>,
        namespace_fds: bool,
    ) -> Result<(), Unavailable> {
        if let Some(wanted) = wanted {
            self.sync_wanted(wanted)?;
        }
        let flags = if wanted.is_some() { WANTED_ONLY } else { 0 }
            | if self.options.netns { READ_NETNS } else { 0 }
            | if namespace_fds { READ_NSFS } else { 0 };
        if self.flags != Some(flags) {
            self.config
                .set(0, flags, 0)
                .map_err(|e| refused(&e, Unavailable::Failed))?;
            self.flags = Some(flags);
        }
        Ok(())
    }

    /// One map update per inode that came or went since the last call (none in a steady state).
    fn sync_wanted(&mut self, wanted: &HashSet<u64>) -> Result<(), Unavailable> {
        let gone: Vec<u64> = self.in_kernel.difference(wanted).copied().collect();
        for inode in gone {
            self.wanted
                .remove(&inode)
                .map_err(|e| refused(&e, Unavailable::Failed))?;
            self.in_kernel.remove(&inode);
        }
        for &inode in wanted {
            if !self.in_kernel.contains(&inode) {
                self.wanted
                    .insert(inode, 1u8, 0)
                    .map_err(|e| refused(&e, Unavailable::Failed))?;
                self.in_kernel.insert(inode);
            }
        }
        Ok(())
    }

    /// A fresh link and iterator per walk: the link is closed as soon as the iterator exists
    /// (the iterator holds the program), the iterator when it has been read.
    fn iterator(&mut self) -> Result<File, Unavailable> {
        let program = iter_program(&mut self.ebpf)?;
        let link_id = program
            .attach()
            .map_err(|e| refused(&e, Unavailable::Failed))?;
        let link = program
            .take_link(link_id)
            .map_err(|e| refused(&e, Unavailable::Failed))?;
        link.into_file()
            .map_err(|e| refused(&e, Unavailable::Failed))
    }
}

/// The kernel's BTF cut down to what the object names (see `kernel_types`), as aya takes it:
/// the types to relocate against, and the one the iterator attaches to.
fn kernel_btf() -> Result<(Btf, Btf), Unavailable> {
    let path = preflight::KERNEL_BTF;
    let blob = fs::read(path).map_err(|e| Unavailable::Load(format!("reading {path}: {e}")))?;
    let kernel = Types::parse(&blob).map_err(|e| Unavailable::Load(format!("{path}: {e}")))?;
    let local = Types::parse(object_btf()?)
        .map_err(|e| Unavailable::Load(format!("the object's BTF: {e}")))?;
    let func = format!("bpf_iter_{ITERATOR}");
    let KernelTypes { relocation, attach } = kernel_types::cut(&local, &kernel, &func)
        .map_err(|e| Unavailable::Load(format!("{path}: {e}")))?
        .ok_or_else(|| {
            Unavailable::Unsupported(
                "this kernel has no task_file iterator (needs Linux 5.8 or later)".into(),
            )
        })?;
    let parse = |blob: &[u8]| {
        Btf::parse(blob, Endianness::default())
            .map_err(|e| Unavailable::Load(format!("the kernel types cut for aya: {e}")))
    };
    Ok((parse(&relocation)?, parse(&attach)?))
}

/// The `.BTF` section of the object: the kernel types the program declares.
fn object_btf() -> Result<&'static [u8], Unavailable> {
    let broken = |e: String| Unavailable::Load(format!("the BPF object: {e}"));
    let file = object::File::parse(OBJECT).map_err(|e| broken(e.to_string()))?;
    let section = file
        .section_by_name(".BTF")
        .ok_or_else(|| broken("no .BTF section (built without -g?)".into()))?;
    section.data().map_err(|e| broken(e.to_string()))
}

fn iter_program(ebpf: &mut Ebpf) -> Result<&mut Iter, Unavailable> {
    let program = ebpf
        .program_mut(PROGRAM)
        .ok_or_else(|| Unavailable::Load(format!("the object has no program {PROGRAM}")))?;
    program
        .try_into()
        .map_err(|e: ProgramError| Unavailable::Load(one_line(&e)))
}

fn typed_map<T, E: Error + 'static>(
    ebpf: &mut Ebpf,
    name: &str,
    convert: impl FnOnce(Map) -> Result<T, E>,
) -> Result<T, Unavailable> {
    let map = ebpf
        .take_map(name)
        .ok_or_else(|| Unavailable::Load(format!("the object has no map {name}")))?;
    convert(map).map_err(|e| Unavailable::Load(format!("map {name}: {}", one_line(&e))))
}

/// The verifier's verdict, or why the kernel has no such iterator.
fn program_refused(error: &ProgramError) -> Unavailable {
    match error {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            // A rejecting verifier says EACCES too, and explains itself in its log; a refusal
            // (capabilities, lockdown, an LSM) comes without a log.
            let verdict = verifier_verdict(&verifier_log.to_string());
            let line = format!(
                "BPF_PROG_LOAD: {io_error}; verifier: {}",
                verdict.as_deref().unwrap_or("(no output)")
            );
            match verdict.is_none() && is_permission(io_error) {
                true => Unavailable::NotPermitted(line),
                false => Unavailable::Load(line),
            }
        }
        other => refused(other, Unavailable::Load),
    }
}

/// NotPermitted when the kernel said EPERM or EACCES anywhere in the chain, else `otherwise`.
fn refused(error: &(dyn Error + 'static), otherwise: fn(String) -> Unavailable) -> Unavailable {
    let line = one_line(error);
    let mut source = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<io::Error>().is_some_and(is_permission) {
            return Unavailable::NotPermitted(line);
        }
        source = e.source();
    }
    otherwise(line)
}

fn is_permission(error: &io::Error) -> bool {
    matches!(
        Errno::from_io_error(error),
        Some(Errno::PERM | Errno::ACCESS)
    )
}

/// An error and its sources on one line, without repeating a message already included.
fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = e.source();
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The line of a verifier log that says what was wrong: the last one before the statistics.
fn verifier_verdict(log: &str) -> Option<String> {
    let stats = [
        "processed ",
        "verification time",
        "stack depth",
        "max_states_per_insn",
    ];
    log.lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty() && !stats.iter().any(|s| line.starts_with(s)))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("failed to create map `wanted_inodes`")]
    struct CreateFailed(#[source] io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("map error: {0}")]
    struct Wrapped(#[source] CreateFailed);

    #[test]
    fn eperm_anywhere_in_the_chain_is_not_permitted() {
        let error = Wrapped(CreateFailed(io::Error::from_raw_os_error(1)));
        let reason = refused(&error, Unavailable::Load);
        let Unavailable::NotPermitted(line) = reason else {
            panic!("EPERM must read as not permitted: {reason:?}");
        };
        // The wrapper repeats its source's message: it is said once.
        assert_eq!(line.matches("failed to create map").count(), 1, "{line}");
        assert!(line.contains("os error 1"), "{line}");
    }

    #[test]
    fn other_errors_keep_their_kind() {
        let error = CreateFailed(io::Error::from_raw_os_error(22));
        assert!(matches!(
            refused(&error, Unavailable::Failed),
            Unavailable::Failed(_)
        ));
    }

    #[test]
    fn the_verdict_is_the_last_line_before_the_statistics() {
        let log = "0: R1=ctx() R10=fp0\n; int task_sockets(...)\n\
                   5: (79) r2 = *(u64 *)(r1 +0)\nR2 invalid mem access 'scalar'\n\
                   processed 6 insns (limit 1000000) max_states_per_insn 0 total_states 0\n";
        assert_eq!(
            verifier_verdict(log).as_deref(),
            Some("R2 invalid mem access 'scalar'")
        );
        assert_eq!(verifier_verdict("processed 0 insns\n"), None);
    }

    /// The whole point of the cut: aya patches every instruction the same way against it as
    /// against the kernel's full BTF (the slow path it replaces). Needs no root: the kernel's
    /// BTF is world-readable.
    #[test]
    fn the_cut_relocates_every_instruction_as_the_whole_kernel_btf_does() {
        let Ok(full) = Btf::from_sys_fs() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true, but {} cannot be read",
                preflight::KERNEL_BTF
            );
            eprintln!("skipped: no readable {}", preflight::KERNEL_BTF);
            return;
        };
        let (cut, attach) = kernel_btf().expect("cut the kernel's BTF");
        let relocated = |btf: Option<&Btf>| -> Vec<String> {
            let mut object = aya_obj::Object::parse(OBJECT).expect("parse the object");
            if let Some(btf) = btf {
                object.relocate_btf(btf).expect("relocate");
            }
            let functions = object.functions.values();
            functions
                .flat_map(|f| f.instructions.iter().map(|i| format!("{i:?}")))
                .collect()
        };
        let by_full = relocated(Some(&full));
        assert_ne!(by_full, relocated(None), "nothing was relocated");
        assert_eq!(relocated(Some(&cut)), by_full);

        let func = format!("bpf_iter_{ITERATOR}");
        assert_eq!(
            attach
                .id_by_type_name_kind(&func, aya_obj::btf::BtfKind::Func)
                .ok(),
            full.id_by_type_name_kind(&func, aya_obj::btf::BtfKind::Func)
                .ok(),
            "the iterator's attach id"
        );
    }

    #[test]
    fn one_line_has_no_newlines() {
        let error = CreateFailed(io::Error::other("first\nsecond"));
        assert!(!one_line(&error).contains('\n'));
    }
}
