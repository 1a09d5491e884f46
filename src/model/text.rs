//! Text that has been through the sanitizer. The only way to build one is to sanitize, so a
//! process name, command line or path from the OS cannot reach any output unescaped.

use std::ffi::OsStr;
use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::sanitize;

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SafeText(String);

impl SafeText {
    pub fn from_os(s: &OsStr) -> Self {
        SafeText(sanitize::sanitize_os(s))
    }

    /// Raw bytes from the OS (a cgroup path, a mount point, an argument), possibly invalid UTF-8.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        SafeText(sanitize::sanitize_bytes(bytes))
    }

    pub fn from_path(p: &Path) -> Self {
        SafeText(sanitize::sanitize_path(p))
    }

    pub fn new(s: &str) -> Self {
        SafeText(sanitize::sanitize_str(s).into_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
