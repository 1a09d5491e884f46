//! Loading and running the iterator: aya-obj reads the object and patches its instructions
//! (CO-RE relocations against the cut kernel types, then the maps' fds), and six bpf(2)
//! commands (`sys.rs`) do the rest. Pure Rust: no libbpf, no libelf.

use rustc_hash::FxHashSet as HashSet;
use std::collections::HashSet as StdHashSet;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd as _, OwnedFd};

use aya_obj::Object;
use aya_obj::btf::Btf;
use object::Endianness;
use object::{Object as _, ObjectSection as _};
use rustix::io::Errno;

use super::super::parallel::{self, Threads};
use super::btf::Types;
use super::kernel_types::{self, KernelTypes};
use super::sys::{self, MapSpec};
use super::{LoadOptions, SocketFd, Unavailable, WANTED_IN_KERNEL_MAX, Walk, preflight, rows};

/// The object's bytes, 8-byte aligned: the ELF reader reads its headers in place.
#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);

static ALIGNED: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
    env!("OUT_DIR"),
    "/task_sockets.bpf.o"
)));

/// What build.rs compiled from `bpf/task_sockets.bpf.c`.
static OBJECT: &[u8] = &ALIGNED.0;

const PROGRAM: &str = "task_sockets";
const ITERATOR: &str = "task_file";
const WANTED_MAP: &str = "wanted_inodes";
const CONFIG_MAP: &str = "config";

/// The bits of `config`, as `bpf/task_sockets.bpf.c` defines them.
const WANTED_ONLY: u32 = 1;
const READ_NETNS: u32 = 2;
const READ_NSFS: u32 = 4;

/// Where the verifier explains a refusal (a second load, only after a failed first one).
const VERIFIER_LOG: usize = 1 << 20;

pub struct Loaded {
    /// The verified program; closed on drop, and with it everything in the kernel (nothing is
    /// pinned, and links and iterators live only as long as one walk).
    program: OwnedFd,
    wanted: sys::MapFd,
    config: sys::MapFd,
    /// What `wanted` holds now, so a refresh sends only the difference.
    in_kernel: HashSet<u64>,
    /// What `config` says now; None before the first call.
    flags: Option<u32>,
    options: LoadOptions,
    /// Whether walks are split by process over the cores (None: not tried yet; false: the
    /// kernel cannot, before 6.1).
    by_process: Option<bool>,
}

impl Loaded {
    /// A few milliseconds: mapping the kernel's BTF (read in 4 KB pieces where it cannot be
    /// mapped), cutting it (`kernel_types`), relocating, and the kernel's own work (two maps,
    /// the verifier).
    pub fn load(options: LoadOptions) -> Result<Self, Unavailable> {
        preflight::check()?;
        let KernelTypes {
            relocation,
            attach_id,
        } = kernel_types()?;
        let target = Btf::parse(&relocation, Endianness::default())
            .map_err(|e| Unavailable::Load(format!("the kernel types cut for relocation: {e}")))?;
        let mut object = Object::parse(OBJECT)
            .map_err(|e| Unavailable::Load(format!("the BPF object: {}", one_line(&e))))?;
        object
            .relocate_btf(&target)
            .map_err(|e| Unavailable::Load(format!("CO-RE relocation: {}", one_line(&e))))?;

        // Without the namespace nothing is filtered in the kernel (see WANTED_IN_KERNEL_MAX):
        // the wanted map then stays at one entry rather than a megabyte of buckets.
        let capacity = match options.netns {
            true => u32::try_from(WANTED_IN_KERNEL_MAX).unwrap_or(u32::MAX),
            false => 1,
        };
        let definitions: Vec<(String, aya_obj::Map)> = object.maps.drain().collect();
        let mut maps = Vec::with_capacity(definitions.len());
        for (name, map) in &definitions {
            let spec = MapSpec {
                name,
                map_type: map.map_type(),
                key_size: map.key_size(),
                value_size: map.value_size(),
                max_entries: match name.as_str() {
                    WANTED_MAP => capacity,
                    _ => map.max_entries(),
                },
                map_flags: map.map_flags(),
            };
            let fd = sys::map_create(&spec)
                .map_err(|e| refused(&format!("BPF_MAP_CREATE {name}"), &e, Unavailable::Load))?;
            maps.push(fd);
        }
        let text_sections: StdHashSet<usize> = object
            .functions
            .keys()
            .map(|&(section, _)| section)
            .collect();
        let relocations = definitions
            .iter()
            .zip(&maps)
            .map(|((name, map), fd)| (name.as_str(), fd.as_raw_fd(), map));
        object
            .relocate_maps(relocations, &text_sections)
            .map_err(|e| Unavailable::Load(format!("map relocation: {}", one_line(&e))))?;
        object
            .relocate_calls(&text_sections)
            .map_err(|e| Unavailable::Load(format!("call relocation: {}", one_line(&e))))?;

        let program = object
            .programs
            .get(PROGRAM)
            .ok_or_else(|| Unavailable::Load(format!("the object has no program {PROGRAM}")))?;
        let function = object
            .functions
            .get(&program.function_key())
            .ok_or_else(|| Unavailable::Load(format!("the object has no code for {PROGRAM}")))?;
        let load = |log: &mut [u8]| {
            sys::iter_prog_load(
                PROGRAM,
                &function.instructions,
                &program.license,
                attach_id,
                log,
            )
        };
        let program = load(&mut []).map_err(|first| {
            let mut log = vec![0u8; VERIFIER_LOG];
            let error = load(&mut log).err().unwrap_or(first);
            program_refused(&error, &log)
        })?;

        let mut by_name: Vec<(&str, Option<sys::MapFd>)> = definitions
            .iter()
            .map(|(name, _)| name.as_str())
            .zip(maps.into_iter().map(Some))
            .collect();
        let mut take = |wanted: &str| {
            by_name
                .iter_mut()
                .find(|(name, _)| *name == wanted)
                .and_then(|(_, fd)| fd.take())
                .ok_or_else(|| Unavailable::Load(format!("the object has no map {wanted}")))
        };
        let wanted = take(WANTED_MAP)?;
        let config = take(CONFIG_MAP)?;
        Ok(Loaded {
            program,
            wanted,
            config,
            in_kernel: HashSet::default(),
            flags: None,
            options,
            by_process: None,
        })
    }

    /// `pids`: the processes to walk when the walk is split by process, as the caller just
    /// listed them (None: listed here).
    pub fn walk(
        &mut self,
        wanted: Option<&HashSet<u64>>,
        namespace_fds: bool,
        pids: Option<&[u32]>,
    ) -> Result<Walk, Unavailable> {
        let netns = self.options.netns;
        let in_kernel = wanted.filter(|w| netns && w.len() <= WANTED_IN_KERNEL_MAX);
        self.configure(in_kernel, namespace_fds)?;
        let here = if in_kernel.is_none() { wanted } else { None };
        let keep = |socket: &SocketFd| here.is_none_or(|wanted| wanted.contains(&socket.inode));
        if let Some(walk) = self.walk_by_process(&keep, pids)? {
            return Ok(walk);
        }
        let iterator = self.iterator()?;
        let (sockets, namespace_fds) =
            rows::read_all(iterator, keep).map_err(Unavailable::Failed)?;
        Ok(Walk {
            sockets,
            namespace_fds,
        })
    }

    /// The walk split over the cores: workers take the next process from a shared counter and
    /// walk its files with an iterator of its own (the kernel walks one fd table per read, on
    /// one core: ~35 ms for 60,000 fds). None where that cannot help (one core) or the kernel
    /// cannot filter by process; then the caller walks everything at once. A process born
    /// after /proc was listed is not walked, as with the /proc scan.
    fn walk_by_process(
        &mut self,
        keep: &(dyn Fn(&SocketFd) -> bool + Sync),
        pids: Option<&[u32]>,
    ) -> Result<Option<Walk>, Unavailable> {
        // One core: nothing to split (and /proc is not listed for it).
        if self.by_process == Some(false) || parallel::workers(usize::MAX, 1) < 2 {
            return Ok(None);
        }
        let listed;
        let pids = match pids {
            Some(pids) => pids,
            None => match super::super::owners::list_pids() {
                Ok(pids) => {
                    listed = pids;
                    &listed
                }
                Err(_) => return Ok(None),
            },
        };
        let workers = parallel::workers(pids.len(), 1);
        let program = self.program.as_fd();
        let init = || Share {
            chunk: vec![0u8; rows::READ_CHUNK],
            walk: Walk {
                sockets: Vec::new(),
                namespace_fds: Vec::new(),
            },
            filtered: Ok(true),
        };
        let work = |share: &mut Share, _: usize, &pid: &u32| {
            // After a refusal or an error the worker's other processes are left alone.
            if matches!(share.filtered, Ok(true)) {
                share.filtered =
                    walk_process(program, pid, keep, &mut share.chunk, &mut share.walk);
            }
        };
        let shares = parallel::fold(pids, workers, Threads::CallerMayWork, init, work);
        if shares.len() < workers {
            return Err(Unavailable::Failed("a walk thread panicked".into()));
        }
        let mut whole = Walk {
            sockets: Vec::new(),
            namespace_fds: Vec::new(),
        };
        for share in shares {
            if !share.filtered? {
                self.by_process = Some(false);
                return Ok(None);
            }
            whole.sockets.extend(share.walk.sockets);
            whole.namespace_fds.extend(share.walk.namespace_fds);
        }
        self.by_process = Some(true);
        Ok(Some(whole))
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
                .update(&0u32, &flags)
                .map_err(|e| refused("BPF_MAP_UPDATE_ELEM config", &e, Unavailable::Failed))?;
            self.flags = Some(flags);
        }
        Ok(())
    }

    /// One map update per inode that came or went since the last call (none in a steady state).
    fn sync_wanted(&mut self, wanted: &HashSet<u64>) -> Result<(), Unavailable> {
        let gone: Vec<u64> = self.in_kernel.difference(wanted).copied().collect();
        for inode in gone {
            self.wanted.delete(&inode).map_err(|e| {
                refused("BPF_MAP_DELETE_ELEM wanted_inodes", &e, Unavailable::Failed)
            })?;
            self.in_kernel.remove(&inode);
        }
        for &inode in wanted {
            if !self.in_kernel.contains(&inode) {
                self.wanted.update(&inode, &1u8).map_err(|e| {
                    refused("BPF_MAP_UPDATE_ELEM wanted_inodes", &e, Unavailable::Failed)
                })?;
                self.in_kernel.insert(inode);
            }
        }
        Ok(())
    }

    /// A fresh link and iterator per walk: the link is closed as soon as the iterator exists
    /// (the iterator holds the program), the iterator when it has been read.
    fn iterator(&mut self) -> Result<File, Unavailable> {
        let link = sys::iter_link_create(self.program.as_fd())
            .map_err(|e| refused("BPF_LINK_CREATE", &e, Unavailable::Failed))?;
        let iterator = sys::iter_create(link.as_fd())
            .map_err(|e| refused("BPF_ITER_CREATE", &e, Unavailable::Failed))?;
        Ok(File::from(iterator))
    }
}

/// One walk worker's read buffer and rows, and whether the kernel walked only the process
/// asked for each time (false: it cannot filter by process, or ignored the filter).
struct Share {
    chunk: Vec<u8>,
    walk: Walk,
    filtered: Result<bool, Unavailable>,
}

/// The rows of process `pid`, from an iterator of its own, added to `walk`; false when the
/// kernel cannot walk one process (before 6.1) or walked others too (it ignored the filter).
fn walk_process(
    program: std::os::fd::BorrowedFd,
    pid: u32,
    keep: &(dyn Fn(&SocketFd) -> bool + Sync),
    chunk: &mut [u8],
    walk: &mut Walk,
) -> Result<bool, Unavailable> {
    let link = match sys::iter_link_create_for_process(program, pid) {
        Ok(link) => link,
        // Exited since /proc was listed.
        Err(e) if matches!(Errno::from_io_error(&e), Some(Errno::NOENT | Errno::SRCH)) => {
            return Ok(true);
        }
        // Before 6.1 the kernel knows no task filter: 5.8 has no link info at all (EINVAL),
        // 5.9-6.0 a 4-byte one, so 12 bytes with a pid in them are E2BIG.
        Err(e) if matches!(Errno::from_io_error(&e), Some(Errno::INVAL | Errno::TOOBIG)) => {
            return Ok(false);
        }
        Err(e) => return Err(refused("BPF_LINK_CREATE", &e, Unavailable::Failed)),
    };
    let iterator = sys::iter_create(link.as_fd())
        .map_err(|e| refused("BPF_ITER_CREATE", &e, Unavailable::Failed))?;
    drop(link);
    let (from_sockets, from_namespaces) = (walk.sockets.len(), walk.namespace_fds.len());
    rows::read_all_into(
        File::from(iterator),
        chunk,
        keep,
        &mut walk.sockets,
        &mut walk.namespace_fds,
    )
    .map_err(Unavailable::Failed)?;
    let others = walk.sockets[from_sockets..].iter().any(|s| s.pid != pid)
        || walk.namespace_fds[from_namespaces..]
            .iter()
            .any(|n| n.pid != pid);
    Ok(!others)
}

/// The kernel's BTF cut down to what the object names (see `kernel_types`), and the id of the
/// function the iterator attaches to.
fn kernel_types() -> Result<KernelTypes, Unavailable> {
    let path = preflight::KERNEL_BTF;
    let blob =
        sys::KernelBtf::open().map_err(|e| Unavailable::Load(format!("reading {path}: {e}")))?;
    let kernel = Types::parse(&blob).map_err(|e| Unavailable::Load(format!("{path}: {e}")))?;
    let local = Types::parse(object_btf()?)
        .map_err(|e| Unavailable::Load(format!("the object's BTF: {e}")))?;
    let func = format!("bpf_iter_{ITERATOR}");
    kernel_types::cut(&local, &kernel, &func)
        .map_err(|e| Unavailable::Load(format!("{path}: {e}")))?
        .ok_or_else(|| {
            Unavailable::Unsupported(
                "this kernel has no task_file iterator (needs Linux 5.8 or later)".into(),
            )
        })
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

/// The verifier's verdict (the log of the second try), or why the kernel refused.
fn program_refused(error: &io::Error, log: &[u8]) -> Unavailable {
    // A rejecting verifier says EACCES too, and explains itself in its log; a refusal
    // (capabilities, lockdown, an LSM) comes without a log.
    let log = String::from_utf8_lossy(log.split(|&b| b == 0).next().unwrap_or_default());
    let verdict = verifier_verdict(&log);
    let line = format!(
        "BPF_PROG_LOAD: {error}; verifier: {}",
        verdict.as_deref().unwrap_or("(no output)")
    );
    match verdict.is_none() && is_permission(error) {
        true => Unavailable::NotPermitted(line),
        false => Unavailable::Load(line),
    }
}

/// NotPermitted when the kernel said EPERM or EACCES to `call`, else `otherwise`.
fn refused(call: &str, error: &io::Error, otherwise: fn(String) -> Unavailable) -> Unavailable {
    let line = format!("{call}: {error}");
    match is_permission(error) {
        true => Unavailable::NotPermitted(line),
        false => otherwise(line),
    }
}

fn is_permission(error: &io::Error) -> bool {
    matches!(
        Errno::from_io_error(error),
        Some(Errno::PERM | Errno::ACCESS)
    )
}

/// An error and its sources on one line, without repeating a message already included.
fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
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

    #[test]
    fn eperm_and_eacces_are_not_permitted() {
        for errno in [1, 13] {
            let error = io::Error::from_raw_os_error(errno);
            let reason = refused("BPF_MAP_CREATE wanted_inodes", &error, Unavailable::Load);
            let Unavailable::NotPermitted(line) = reason else {
                panic!("errno {errno} must read as not permitted: {reason:?}");
            };
            assert!(line.starts_with("BPF_MAP_CREATE wanted_inodes: "), "{line}");
            assert!(line.contains(&format!("os error {errno}")), "{line}");
        }
    }

    #[test]
    fn other_errors_keep_their_kind() {
        let error = io::Error::from_raw_os_error(22);
        assert!(matches!(
            refused("BPF_LINK_CREATE", &error, Unavailable::Failed),
            Unavailable::Failed(_)
        ));
    }

    #[test]
    fn a_verifier_that_explains_itself_refused_the_program_not_the_user() {
        let eacces = io::Error::from_raw_os_error(13);
        let log = b"0: R1=ctx() R10=fp0\nR2 invalid mem access 'scalar'\nprocessed 6 insns\n\0\0\0";
        let Unavailable::Load(line) = program_refused(&eacces, log) else {
            panic!("a verifier log means the program was refused");
        };
        assert!(
            line.ends_with("verifier: R2 invalid mem access 'scalar'"),
            "{line}"
        );
        let Unavailable::NotPermitted(line) = program_refused(&eacces, &[0; 16]) else {
            panic!("EACCES without a log is a refusal of the user");
        };
        assert!(line.ends_with("verifier: (no output)"), "{line}");
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

    /// The whole point of the cut: aya-obj patches every instruction the same way against it
    /// as against the kernel's full BTF (the slow path it replaces). Needs no root: the kernel's
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
        let cut = kernel_types().expect("cut the kernel's BTF");
        let attach_id = cut.attach_id;
        let cut = Btf::parse(&cut.relocation, Endianness::default()).expect("parse the cut");
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
            full.id_by_type_name_kind(&func, aya_obj::btf::BtfKind::Func)
                .ok(),
            Some(attach_id),
            "the iterator's attach id"
        );
    }

    #[test]
    fn one_line_has_no_newlines() {
        let error = CreateFailed(io::Error::other("first\nsecond"));
        assert!(!one_line(&error).contains('\n'));
    }
}
