//! Built without clang: there is no program to load, and every call says so.

use rustc_hash::FxHashSet as HashSet;

use super::{LoadOptions, Unavailable, Walk};

/// Never constructed.
pub enum Loaded {}

impl Loaded {
    pub fn load(_: LoadOptions) -> Result<Self, Unavailable> {
        Err(Unavailable::NotBuiltIn)
    }

    pub fn walk(
        &mut self,
        _: Option<&HashSet<u64>>,
        _: bool,
        _: Option<&[u32]>,
    ) -> Result<Walk, Unavailable> {
        match *self {}
    }
}
