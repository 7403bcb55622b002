//! One turn at a time in a session. Two turns in one conversation at once would either be
//! refused by codex midway (its thread has one writer) or interleave, and each would record
//! itself over the other; so a turn holds its session's lock from before codex starts until
//! the turn is recorded, and a second one is refused at once.
//!
//! The locks live beside the store, in `sessions.json.turns/NAME.lock` (the store file's name
//! and `.turns`): outside the store's own folder, whose layout they must not change, and not
//! part of what a backup of the store needs. An flock goes away with the process that held
//! it, so a crashed run never leaves its session locked.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use super::{FileStore, StoreError};

/// A turn in progress in one session; the session is free again when this is dropped.
#[derive(Debug)]
pub struct TurnLock {
    _file: File,
}

impl FileStore {
    /// Take the session's turn lock, or say who has it ([`StoreError::Busy`]).
    pub fn lock_turn(&self, name: &str) -> Result<TurnLock, StoreError> {
        let dir = self.turn_lock_dir();
        let io_err = |path: &PathBuf, source| StoreError::Io {
            path: path.clone(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| io_err(&dir, e))?;
        // Session names are checked (letters, digits, `.`, `_`, `-`), so one is a file name.
        let path = dir.join(format!("{name}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(TurnLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(StoreError::Busy(name.to_string())),
            Err(fs::TryLockError::Error(e)) => Err(io_err(&path, e)),
        }
    }

    fn turn_lock_dir(&self) -> PathBuf {
        let mut name = self
            .path()
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".turns");
        self.path().with_file_name(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_turn_at_a_time_per_session() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("sessions.json"));
        let held = store.lock_turn("a").unwrap();
        // A second run (another open file description, as another process has).
        let other = FileStore::new(dir.path().join("sessions.json"));
        let err = other.lock_turn("a").unwrap_err();
        assert!(matches!(err, StoreError::Busy(ref n) if n == "a"), "{err}");
        assert!(err.to_string().contains("another spawncodex"), "{err}");
        // Other sessions are free, and so is this one once the turn ends.
        let _b = other.lock_turn("b").unwrap();
        drop(held);
        let _a = other.lock_turn("a").unwrap();
        // The store's own layout is untouched: no shard folder from locking alone.
        assert!(!dir.path().join("sessions.json.d").exists());
        assert!(!dir.path().join("sessions.json").exists());
    }
}
