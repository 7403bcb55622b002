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
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use super::{FileStore, StoreError};

/// A turn in progress in one session; the session is free again when this is dropped.
#[derive(Debug)]
pub struct TurnLock {
    _file: File,
    path: PathBuf,
}

impl TurnLock {
    /// The session is gone: its lock file goes too. Removed while held, so a turn that opened
    /// the old file meanwhile finds, once it has the lock, that the path names another file
    /// (or none) and starts over ([`FileStore::lock_turn`]).
    pub fn remove_file(self) {
        let _ = fs::remove_file(&self.path);
    }
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
        loop {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| io_err(&path, e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::Busy(name.to_string()));
                }
                Err(fs::TryLockError::Error(e)) => return Err(io_err(&path, e)),
            }
            // The lock is on the file we opened; it counts only if the path still names that
            // file (`sessions rm` removes lock files while it holds them).
            let held = file.metadata().map_err(|e| io_err(&path, e))?;
            if fs::metadata(&path)
                .is_ok_and(|now| now.dev() == held.dev() && now.ino() == held.ino())
            {
                return Ok(TurnLock { _file: file, path });
            }
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
        let a = other.lock_turn("a").unwrap();
        // A lock file removed while held is made anew for the next turn.
        let lock_file = dir.path().join("sessions.json.turns/a.lock");
        assert!(lock_file.exists());
        a.remove_file();
        assert!(!lock_file.exists());
        let _a = store.lock_turn("a").unwrap();
        assert!(lock_file.exists());
        // The store's own layout is untouched: no shard folder from locking alone.
        assert!(!dir.path().join("sessions.json.d").exists());
        assert!(!dir.path().join("sessions.json").exists());
    }
}
