//! Built without clang: there is no program to load, and every call says so.

use rustc_hash::FxHashSet as HashSet;

use super::{LoadOptions, SocketFd, Unavailable};

/// Never constructed.
pub enum Loaded {}

impl Loaded {
    pub fn load(_: LoadOptions) -> Result<Self, Unavailable> {
        Err(Unavailable::NotBuiltIn)
    }

    pub fn socket_fds(&mut self, _: Option<&HashSet<u64>>) -> Result<Vec<SocketFd>, Unavailable> {
        match *self {}
    }
}
