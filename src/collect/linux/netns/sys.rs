//! The three kernel calls around network namespaces that rustix has no safe wrapper for: the
//! namespace of a socket (`SIOCGSKNS`), a namespace's never-reused id (`NS_GET_ID`), both ioctls,
//! and entering a namespace on the calling thread.
//!
//! With `bpf/sys.rs`, the only place in portscope with `unsafe`: rustix's `ioctl` is unsafe because the
//! compiler cannot check that an opcode matches its argument. Each use below states why it does.
#![allow(unsafe_code)]

use std::io;

use rustix::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use rustix::ioctl::{Getter, Ioctl, IoctlOutput, Opcode, ioctl, opcode};
use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

/// `SIOCGSKNS` (linux/sockios.h): on a socket, returns a new fd for its network namespace.
const SIOCGSKNS: Opcode = 0x894C;
/// `NS_GET_ID` (linux/nsfs.h): `_IOR(0xb7, 13, __u64)`.
const NS_GET_ID: Opcode = opcode::read::<u64>(0xb7, 13);

/// `NS_GET_NSTYPE` (linux/nsfs.h): `_IO(0xb7, 0x3)`, answers the CLONE_NEW* flag of the type.
const NS_GET_NSTYPE: Opcode = opcode::none(0xb7, 3);
/// `CLONE_NEWNET`.
const CLONE_NEWNET: i32 = 0x4000_0000;

/// `NS_GET_NSTYPE` takes no argument and answers with an int.
struct NamespaceType;

// SAFETY: NS_GET_NSTYPE reads and writes no memory of the caller; its return value is the
// namespace type, or -1 with errno, which rustix turns into an error first.
unsafe impl Ioctl for NamespaceType {
    type Output = i32;
    const IS_MUTATING: bool = false;

    fn opcode(&self) -> Opcode {
        NS_GET_NSTYPE
    }

    fn as_ptr(&mut self) -> *mut std::ffi::c_void {
        std::ptr::null_mut()
    }

    unsafe fn output_from_ptr(
        out: IoctlOutput,
        _extract_output: *mut std::ffi::c_void,
    ) -> rustix::io::Result<i32> {
        Ok(out)
    }
}

/// Is this nsfs fd a network namespace (and not a mount, pid or user namespace)?
pub fn is_net_namespace(ns: impl AsFd) -> bool {
    // SAFETY: `NamespaceType` describes NS_GET_NSTYPE exactly; on a file that is not an nsfs
    // fd the kernel answers ENOTTY.
    unsafe { ioctl(ns, NamespaceType) }.is_ok_and(|kind| kind == CLONE_NEWNET)
}

/// `SIOCGSKNS` takes no argument and answers with a file descriptor.
struct SocketNetns;

// SAFETY: SIOCGSKNS reads no memory from the caller and writes none (its argument is unused);
// its return value is a new file descriptor owned by the caller, or -1 with errno, which rustix
// turns into an error before `output_from_ptr` runs.
unsafe impl Ioctl for SocketNetns {
    type Output = OwnedFd;
    const IS_MUTATING: bool = false;

    fn opcode(&self) -> Opcode {
        SIOCGSKNS
    }

    fn as_ptr(&mut self) -> *mut std::ffi::c_void {
        std::ptr::null_mut()
    }

    unsafe fn output_from_ptr(
        out: IoctlOutput,
        _extract_output: *mut std::ffi::c_void,
    ) -> rustix::io::Result<OwnedFd> {
        // SAFETY: a successful SIOCGSKNS returns a fresh fd that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(out as RawFd) })
    }
}

/// The network namespace a socket belongs to, as an nsfs fd.
pub fn socket_netns(socket: impl AsFd) -> io::Result<OwnedFd> {
    // SAFETY: `SocketNetns` describes SIOCGSKNS exactly (see its impl); the fd is a socket or
    // the kernel answers ENOTTY/ENOTSOCK.
    Ok(unsafe { ioctl(socket, SocketNetns) }?)
}

/// The kernel's 64-bit id of a namespace (Linux 6.8 and later; None before).
pub fn namespace_id(ns: impl AsFd) -> Option<u64> {
    // SAFETY: NS_GET_ID writes one u64 through the pointer Getter provides and reads nothing.
    let getter = unsafe { Getter::<NS_GET_ID, u64>::new() };
    // SAFETY: as above; on an nsfs fd the opcode is NS_GET_ID, elsewhere the kernel refuses.
    unsafe { ioctl(ns, getter) }.ok()
}

/// Moves the calling thread into the network namespace `ns` (setns(2) with CLONE_NEWNET). Only
/// ever called on threads made for that purpose (the namespace workers, which may enter
/// several in turn), never on the caller's.
pub fn enter(ns: impl AsFd) -> io::Result<()> {
    Ok(move_into_link_name_space(
        ns.as_fd(),
        Some(LinkNameSpaceType::Network),
    )?)
}
