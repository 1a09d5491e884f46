//! `--prometheus-textfile`: replace a `*.prom` file so that node_exporter's textfile collector,
//! which may read it at any moment, sees either the old metrics or the new ones, never half.
//!
//! The new text goes to a temporary file in the same directory (so the rename stays on one
//! filesystem, the trap of `sponge` with another TMPDIR), whose name does not end in `.prom`
//! (so the collector never parses it); it is flushed to disk, then renamed over the target.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes through `write` into a temporary file and renames it to `path`; on failure the
/// temporary file is removed and `path` is left as it was. The error names `path`.
pub fn replace(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let temp = temporary(path);
    let written = write_synced(&temp, write)
        .and_then(|()| fs::rename(&temp, path))
        .and_then(|()| sync_directory(&temp));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// `DIR/.NAME.PID.tmp` beside `DIR/NAME`.
fn temporary(path: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

fn write_synced(
    temp: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut file = BufWriter::new(create(temp)?);
    write(&mut file)?;
    let file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()
}

/// A new file, readable by the unprivileged node_exporter. A leftover of a run that died with
/// this pid is replaced; an existing file is never followed (no symlink games in the
/// directory).
fn create(temp: &Path) -> io::Result<File> {
    let open = || {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644);
        options.open(temp)
    };
    match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(temp)?;
            open()
        }
        result => result,
    }
}

/// The rename itself reaches the disk only when the directory is synced.
#[cfg(unix)]
fn sync_directory(temp: &Path) -> io::Result<()> {
    let dir = match temp.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_temp: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temporary_file_is_a_hidden_sibling_that_is_not_a_prom_file() {
        let temp = temporary(Path::new("/var/lib/node-exporter/portscope.prom"));
        let name = temp.file_name().unwrap_or_default().to_string_lossy();
        assert_eq!(temp.parent(), Some(Path::new("/var/lib/node-exporter")));
        assert!(
            name.starts_with(".portscope.prom.") && name.ends_with(".tmp"),
            "{name}"
        );
        assert_eq!(temporary(Path::new("x.prom")).parent(), Some(Path::new("")));
    }

    #[test]
    fn replaces_the_file_whole_and_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("portscope-textfile-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("t.prom");
        fs::write(&path, "old\n").expect("old file");
        replace(&path, |out| out.write_all(b"new\n")).expect("replace");
        assert_eq!(fs::read_to_string(&path).expect("read"), "new\n");
        let failed = replace(&path, |out| {
            out.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        let message = failed.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("t.prom") && message.contains("disk full"),
            "{message}"
        );
        assert_eq!(fs::read_to_string(&path).expect("read"), "new\n");
        let left: Vec<_> = fs::read_dir(&dir).expect("list").flatten().collect();
        assert_eq!(left.len(), 1, "{left:?}");
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
