//! Paths as they are handed to codex and kept in sessions.

use std::path::{Path, PathBuf};

/// An absolute path with no `.` or `..` in it: codex refuses `-o ../out.txt` ("no-follow
/// filesystem operations require a normalized path"), and a session should remember a directory
/// as `/work/other`, not `/work/proj/../other`. The folder part is resolved on disk, as the
/// kernel would resolve it (a `..` after a symlink goes up from the link's target); the last
/// part is kept as given, so `-o` still names a link rather than its target.
pub fn absolute(p: &Path) -> PathBuf {
    let whole = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (Some(parent), Some(name)) = (whole.parent(), whole.file_name()) else {
        // `/`, or a path ending in `..`: resolve all of it.
        return std::fs::canonicalize(&whole).unwrap_or(whole);
    };
    match std::fs::canonicalize(parent) {
        Ok(real) => real.join(name),
        Err(_) => whole,
    }
}
