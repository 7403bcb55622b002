//! The JSON file store the CLI uses: `sessions.json` and, beside it, `sessions.json.d/` with up to
//! 256 shard files; each session lives in the shard its name hashes to.
//!
//! Why shards: every change rewrites a whole file (temp file, fsync, rename), so with one file a
//! turn of one session cost a rewrite of every session; with ten thousand sessions that was an
//! 8.9 MB write and fsync per turn. A shard holds about 1/256 of the sessions, so a turn rewrites
//! only that much, and the store stays as safe as before: each shard is locked, checked and
//! replaced atomically on its own, exactly as the single file was ([`StoreFile`]).
//!
//! Layout (format version 2):
//! - `sessions.json`: `{"format":"spawncodex-sessions","version":2}`. The shard folder is always
//!   the file's own name + `.d`, beside the file (beside its target, if it is a symlink), so the
//!   two can be moved or renamed together. A manifest whose folder is missing (copied or moved
//!   without it) is refused, never read as an empty store.
//! - `sessions.json.d/NN.json`: the sessions whose name hashes to `NN` (two hex digits), in the
//!   layout of a version-1 store, so each shard is also a valid store on its own.
//!
//! A version-1 store (one file holding every session) is read as it is, and split into shards by
//! the first change, under the lock a version-1 writer takes. Records are moved as they are, not
//! decoded. The split writes the shards first and the manifest last, so a crash leaves the old
//! file, which the next change splits again. Nothing in a shard is ever dropped by a split: the
//! file's records replace those of the same name, and the others stay. So shards found beside a
//! version-1 file, or beside an empty or missing `sessions.json`, are read together with it: they
//! are either a split cut short or the store itself, with its manifest lost or overwritten.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

use super::file::{self, FORMAT_NAME, HEADER, StoreFile, write_atomically};
use super::{FORMAT_VERSION, Listing, Removal, SessionRecord, SessionStore, StoreError};

/// How many shards. Part of the format: a session's shard is found from its name alone.
const SHARDS: usize = 256;
/// A manifest is a line of JSON; a bigger file is a store from before shards.
const MANIFEST_MAX: u64 = 1 << 20;
/// How often an operation is retried when the file it read turned into a manifest under it (a
/// split by another process).
const SPLIT_RACE_RETRIES: usize = 3;

pub struct FileStore {
    /// `sessions.json`, with a symlink resolved, so that the shards are beside the real file.
    path: PathBuf,
    /// `sessions.json.d`.
    dir: PathBuf,
    /// The file at `path`: its lock guards the split, and before the split it holds the sessions.
    top: StoreFile,
    /// One handle per shard, made on first use and kept, so that a read followed by a write of
    /// the same session in one process loads its shard once.
    shards: Vec<OnceLock<StoreFile>>,
}

/// What is on disk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Layout {
    /// No store yet.
    Absent,
    /// `sessions.json` holds sessions (a store from before shards, or not a store: reading it
    /// says what is wrong). `with_shards`: shards are beside it too, read together with it.
    Single { with_shards: bool },
    /// Shards. `manifest`: false when `sessions.json` is missing or empty, to be written again
    /// by the next change.
    Sharded { manifest: bool },
}

#[derive(Deserialize)]
struct Manifest {
    format: Option<String>,
    version: Option<u64>,
}

/// The shard a session lives in: FNV-1a of the name, folded to a byte. Part of the format.
fn shard_of(name: &str) -> usize {
    let mut hash: u32 = 0x811c_9dc5;
    for &b in name.as_bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    ((hash ^ (hash >> 8) ^ (hash >> 16) ^ (hash >> 24)) & 0xff) as usize
}

fn shard_file_name(index: usize) -> String {
    format!("{index:02x}.json")
}

/// `NN.json` → NN, for the files a shard directory may hold.
fn shard_index(file_name: &str) -> Option<usize> {
    let hex = file_name.strip_suffix(".json")?;
    if hex.len() != 2 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    usize::from_str_radix(hex, 16).ok()
}

/// Values grouped by the shard of their name, each group in the order given.
fn by_shard<T>(items: Vec<T>, name: impl Fn(&T) -> &str) -> BTreeMap<usize, Vec<T>> {
    let mut groups: BTreeMap<usize, Vec<T>> = BTreeMap::new();
    for item in items {
        groups.entry(shard_of(name(&item))).or_default().push(item);
    }
    groups
}

/// `names` that are in `found`, in the order of `names`, each once.
fn in_given_order(names: &[String], found: Vec<String>) -> Vec<String> {
    let mut found: HashSet<String> = found.into_iter().collect();
    names.iter().filter(|n| found.remove(*n)).cloned().collect()
}

/// The locks of several shards, taken in shard order (so two such changes cannot deadlock)
/// before any of them is changed; each is used by its shard's next write, and whatever is left
/// is given back on drop.
struct HeldLocks<'a>(Vec<&'a StoreFile>);

impl Drop for HeldLocks<'_> {
    fn drop(&mut self) {
        for shard in &self.0 {
            shard.release_lock();
        }
    }
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let mut path = path.into();
        // A symlinked store (e.g. into a synced folder) keeps its shards beside the real file.
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
            && let Ok(real) = fs::canonicalize(&path)
        {
            path = real;
        }
        let mut dir_name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        dir_name.push(".d");
        FileStore {
            top: StoreFile::new(path.clone()),
            dir: path.with_file_name(dir_name),
            path,
            shards: (0..SHARDS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The default location: `$SPAWNCODEX_HOME/sessions.json`, else the XDG data directory
    /// (`~/.local/share/spawncodex/sessions.json` on Linux).
    pub fn default_path() -> Option<PathBuf> {
        if let Some(home) = std::env::var_os("SPAWNCODEX_HOME").filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(home).join("sessions.json"));
        }
        directories::ProjectDirs::from("", "", "spawncodex")
            .map(|dirs| dirs.data_dir().join("sessions.json"))
    }

    /// The store's own file (`sessions.json`); its shards are in a directory beside it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_err(path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Does the shard folder exist? Anything there but a folder is an error naming it.
    fn has_dir(&self) -> Result<bool, StoreError> {
        match fs::metadata(&self.dir) {
            Ok(meta) if meta.is_dir() => Ok(true),
            Ok(_) => Err(StoreError::Unreadable {
                path: self.dir.clone(),
                reason: "not a folder (it should hold the session shards)".into(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if file::is_dangling_symlink(&self.dir) {
                    return Err(StoreError::Unreadable {
                        path: self.dir.clone(),
                        reason: "a symlink to nothing (it should hold the session shards)".into(),
                    });
                }
                // Nothing there, or the folder a split has made since the first look.
                Ok(fs::metadata(&self.dir).is_ok_and(|meta| meta.is_dir()))
            }
            Err(e) => Err(Self::io_err(&self.dir, e)),
        }
    }

    fn layout(&self) -> Result<Layout, StoreError> {
        let meta = match fs::metadata(&self.path) {
            Ok(meta) => Some(meta),
            // A symlink to nothing (a folder not mounted yet?) is not a missing store: a write
            // would replace the link, and the real store would be hidden behind a new one.
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.path.is_symlink() => {
                return Err(StoreError::Unreadable {
                    path: self.path.clone(),
                    reason: "it is a symlink to a file that does not exist".into(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Self::io_err(&self.path, e)),
        };
        let bytes = match &meta {
            Some(meta) if meta.len() <= MANIFEST_MAX => match fs::read(&self.path) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(Self::io_err(&self.path, e)),
            },
            Some(_) => {
                return Ok(Layout::Single {
                    with_shards: self.has_dir()?,
                });
            }
            None => None,
        };
        let bytes = match bytes {
            Some(b) if !b.iter().all(u8::is_ascii_whitespace) => b,
            // No file, or an empty one: shards beside it are the store, its manifest lost.
            _ => {
                return Ok(if self.has_dir()? {
                    Layout::Sharded { manifest: false }
                } else {
                    Layout::Absent
                });
            }
        };
        if bytes.starts_with(HEADER) {
            return Ok(Layout::Single {
                with_shards: self.has_dir()?,
            });
        }
        let manifest = match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(m) if m.format.as_deref() == Some(FORMAT_NAME) => m,
            _ => {
                return Ok(Layout::Single {
                    with_shards: self.has_dir()?,
                });
            }
        };
        match manifest.version {
            Some(FORMAT_VERSION) if self.has_dir()? => Ok(Layout::Sharded { manifest: true }),
            Some(FORMAT_VERSION) => Err(StoreError::Unreadable {
                path: self.path.clone(),
                reason: format!(
                    "its sessions folder {} is missing: a store is the file and that folder, copied or moved together",
                    self.dir.display()
                ),
            }),
            Some(v) if v > FORMAT_VERSION => Err(StoreError::NewerVersion {
                path: self.path.clone(),
                found: v,
                supported: FORMAT_VERSION,
            }),
            _ => Ok(Layout::Single {
                with_shards: self.has_dir()?,
            }),
        }
    }

    /// Run a read against the current layout. A read of `sessions.json` as a store from before
    /// shards can meet the manifest a concurrent split just renamed in; it is then run again.
    fn read<T>(&self, f: impl Fn(Layout) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut tries = 0;
        loop {
            let layout = self.layout()?;
            match f(layout) {
                Err(StoreError::NewerVersion { path, .. })
                    if path == self.path
                        && matches!(layout, Layout::Single { .. })
                        && tries < SPLIT_RACE_RETRIES =>
                {
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    fn shard(&self, index: usize) -> &StoreFile {
        self.shards[index].get_or_init(|| StoreFile::new(self.dir.join(shard_file_name(index))))
    }

    fn shard_for(&self, name: &str) -> &StoreFile {
        self.shard(shard_of(name))
    }

    /// The shards that have a file, in order.
    fn existing_shards(&self) -> Result<Vec<usize>, StoreError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::io_err(&self.dir, e)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Self::io_err(&self.dir, e))?;
            if let Some(i) = entry.file_name().to_str().and_then(shard_index) {
                found.push(i);
            }
        }
        found.sort_unstable();
        Ok(found)
    }

    /// Every record in the shards, each shard's list in turn.
    fn shard_records<T>(
        &self,
        list: impl Fn(&StoreFile) -> Result<Vec<T>, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut all = Vec::new();
        for i in self.existing_shards()? {
            all.extend(list(self.shard(i))?);
        }
        Ok(all)
    }

    /// The file's records, then the shards' records of other names (see the module notes).
    fn single_with_shards<T>(
        &self,
        with_shards: bool,
        list: impl Fn(&StoreFile) -> Result<Vec<T>, StoreError>,
        name_of: impl Fn(&T) -> &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut all = list(&self.top)?;
        if with_shards {
            let names: HashSet<String> = all.iter().map(|r| name_of(r).to_string()).collect();
            let more = self.shard_records(&list)?;
            all.extend(more.into_iter().filter(|r| !names.contains(name_of(r))));
        }
        Ok(all)
    }

    /// Lock these shards (in order) and read them: a change to several sessions then either
    /// changes them all or, when one shard cannot be locked or read, none.
    fn lock_and_check(
        &self,
        shards: impl IntoIterator<Item = usize>,
    ) -> Result<HeldLocks<'_>, StoreError> {
        let mut held = HeldLocks(Vec::new());
        let mut shards: Vec<usize> = shards.into_iter().collect();
        shards.sort_unstable();
        for i in shards {
            let shard = self.shard(i);
            shard.hold_lock()?;
            held.0.push(shard);
            shard.check_writable()?;
        }
        Ok(held)
    }

    /// Read every shard a split would rewrite, so that one that cannot be read stops the
    /// change before anything is written.
    fn check_shards(&self, shards: impl IntoIterator<Item = usize>) -> Result<(), StoreError> {
        shards
            .into_iter()
            .try_for_each(|i| self.shard(i).check_writable())
    }

    /// Make sure the store is in shards with a manifest, splitting a store from before shards
    /// (or starting a new one) first.
    fn ready_for_writing(&self) -> Result<(), StoreError> {
        match self.layout()? {
            Layout::Sharded { manifest: true } => Ok(()),
            _ => self.split(),
        }
    }

    /// As [`Self::ready_for_writing`], but `false` where there is no store: a change that only
    /// takes sessions away creates nothing.
    fn ready_for_removing(&self) -> Result<bool, StoreError> {
        match self.layout()? {
            Layout::Absent => Ok(false),
            Layout::Sharded { manifest: true } => Ok(true),
            _ => self.split().map(|()| true),
        }
    }

    /// Under the lock of `sessions.json` (the one a version-1 writer takes too): move every
    /// session of the file into its shard, as it is, then replace `sessions.json` with the
    /// manifest. Shards keep the records of names the file does not have.
    fn split(&self) -> Result<(), StoreError> {
        let _lock = self.top.lock()?;
        let records = match self.layout()? {
            // Split by another process while we waited.
            Layout::Sharded { manifest: true } => return Ok(()),
            Layout::Absent | Layout::Sharded { manifest: false } => Vec::new(),
            // Reading refuses a damaged or newer file, which is then left as it is.
            Layout::Single { .. } => self.top.raw_records()?,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| Self::io_err(&self.dir, e))?;
        let groups = by_shard(records, |(name, _)| name.as_str());
        self.check_shards(groups.keys().copied())?;
        for (i, records) in groups {
            self.shard(i).put_raw(records)?;
        }
        write_atomically(&self.path, |w: &mut dyn Write| {
            writeln!(
                w,
                "{{\"format\":\"{FORMAT_NAME}\",\"version\":{FORMAT_VERSION}}}"
            )
        })
        .map_err(|e| Self::io_err(&self.path, e))?;
        Ok(())
    }

    /// Would a write of this session succeed? Reads what a writer would, so a damaged store is
    /// reported before codex starts rather than after.
    pub fn check_writable(&self, name: &str) -> Result<(), StoreError> {
        self.read(|layout| match layout {
            Layout::Absent => Ok(()),
            Layout::Single { with_shards } => {
                self.top.check_writable()?;
                if with_shards {
                    // The split reads the shards it moves the file's sessions into, and the
                    // write reads this session's shard.
                    let mut touched: HashSet<usize> =
                        self.top.names()?.iter().map(|n| shard_of(n)).collect();
                    touched.insert(shard_of(name));
                    let existing = self.existing_shards()?;
                    self.check_shards(existing.into_iter().filter(|i| touched.contains(i)))?;
                }
                Ok(())
            }
            Layout::Sharded { .. } => self.shard_for(name).check_writable(),
        })
    }

    /// Every session without its turn history (cheaper to read), most recently used first, and
    /// apart from them the records that do not decode.
    pub fn list_summaries(&self) -> Result<Listing, StoreError> {
        let all = self.every(StoreFile::list_summaries, super::listed_name)?;
        Ok(Listing::from_listed(all))
    }

    /// Every session, as `list` reads one file, from whatever layout is on disk (unsorted).
    fn every<T>(
        &self,
        list: impl Fn(&StoreFile) -> Result<Vec<T>, StoreError>,
        name_of: impl Fn(&T) -> &str,
    ) -> Result<Vec<T>, StoreError> {
        self.read(|layout| match layout {
            Layout::Absent => Ok(Vec::new()),
            Layout::Single { with_shards } => self.single_with_shards(with_shards, &list, &name_of),
            Layout::Sharded { .. } => self.shard_records(&list),
        })
    }
}

impl SessionStore for FileStore {
    fn get(&self, name: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.read(|layout| match layout {
            Layout::Absent => Ok(None),
            Layout::Single { with_shards } => match self.top.get(name)? {
                Some(record) => Ok(Some(record)),
                None if with_shards => self.shard_for(name).get(name),
                None => Ok(None),
            },
            Layout::Sharded { .. } => self.shard_for(name).get(name),
        })
    }

    fn list(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let mut all = self.every(StoreFile::list, |r| &r.name)?;
        super::sort_newest_first(&mut all);
        Ok(all)
    }

    fn insert(&self, record: SessionRecord, replace: bool) -> Result<(), StoreError> {
        self.ready_for_writing()?;
        self.shard_for(&record.name).insert(record, replace)
    }

    fn update(
        &self,
        name: &str,
        change: &mut dyn FnMut(&mut SessionRecord),
    ) -> Result<Option<SessionRecord>, StoreError> {
        if !self.ready_for_removing()? {
            return Ok(None);
        }
        self.shard_for(name).update(name, change)
    }

    fn remove(&self, names: &[String]) -> Result<Removal, StoreError> {
        if !self.ready_for_removing()? {
            return Ok(super::plan_removal(names, |_| false));
        }
        let groups = by_shard(names.to_vec(), String::as_str);
        let _held = self.lock_and_check(groups.keys().copied())?;
        // Checked with every lock held, so no other run can remove a name in between.
        let mut missing = Vec::new();
        for (i, group) in &groups {
            for name in group {
                if !self.shard(*i).contains(name)? {
                    missing.push(name.clone());
                }
            }
        }
        if !missing.is_empty() {
            return Ok(Removal::Missing(in_given_order(names, missing)));
        }
        let mut removed = Vec::new();
        for (i, group) in groups {
            match self.shard(i).remove(&group)? {
                Removal::Removed(gone) => removed.extend(gone),
                // Not reached: the shard is locked and was just read.
                Removal::Missing(gone) => missing.extend(gone),
            }
        }
        if !missing.is_empty() {
            return Ok(Removal::Missing(in_given_order(names, missing)));
        }
        Ok(Removal::Removed(in_given_order(names, removed)))
    }

    fn clear(&self) -> Result<usize, StoreError> {
        if !self.ready_for_removing()? {
            return Ok(0);
        }
        let shards = self.existing_shards()?;
        let _held = self.lock_and_check(shards.iter().copied())?;
        let mut n = 0;
        for i in shards {
            n += self.shard(i).clear()?;
        }
        Ok(n)
    }

    fn merge(
        &self,
        records: Vec<SessionRecord>,
        force: bool,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        self.ready_for_writing()?;
        let names: Vec<String> = records.iter().map(|r| r.name.clone()).collect();
        let groups = by_shard(records, |r| r.name.as_str());
        let _held = self.lock_and_check(groups.keys().copied())?;
        if !force {
            // All or nothing: with a name taken, nothing is merged.
            let mut taken = Vec::new();
            for (i, group) in &groups {
                for record in group {
                    if self.shard(*i).contains(&record.name)? {
                        taken.push(record.name.clone());
                    }
                }
            }
            if !taken.is_empty() {
                return Ok((Vec::new(), in_given_order(&names, taken)));
            }
        }
        // Every lock is held and no name is taken (or `force`): each shard merges all of its part.
        let mut added = Vec::new();
        for (i, group) in groups {
            added.extend(self.shard(i).merge(group, force)?.0);
        }
        Ok((in_given_order(&names, added), Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SessionOptions;
    use std::os::unix::fs::MetadataExt;

    fn record(name: &str, thread: &str) -> SessionRecord {
        SessionRecord::new(name, thread, None, SessionOptions::default())
    }

    fn v1_file(records: &[SessionRecord]) -> String {
        let sessions: serde_json::Map<String, serde_json::Value> = records
            .iter()
            .map(|r| (r.name.clone(), serde_json::to_value(r).unwrap()))
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({
            "format": "spawncodex-sessions", "version": 1, "sessions": sessions
        }))
        .unwrap()
    }

    fn names(store: &FileStore) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = store
            .list()
            .unwrap()
            .into_iter()
            .map(|r| (r.name, r.thread_id))
            .collect();
        all.sort();
        all
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    }

    /// A store with sessions "a" and "fix-ci" (in different shards), in `dir/sessions.json`.
    fn two_sessions(dir: &Path) -> FileStore {
        let store = FileStore::new(dir.join("sessions.json"));
        store.insert(record("a", "t-a"), false).unwrap();
        store.insert(record("fix-ci", "t-f"), false).unwrap();
        store
    }

    #[test]
    fn a_sessions_shard_comes_from_its_name_alone() {
        // Part of the format: changing the hash would hide every stored session. (Checked
        // against an independent FNV-1a in Python.)
        let got: Vec<usize> = ["a", "fix-ci", "s5000", "feature-x"]
            .iter()
            .map(|n| shard_of(n))
            .collect();
        assert_eq!(got, [0xed, 0x65, 0x57, 0xc8]);
        assert_eq!(shard_index("0a.json"), Some(10));
        for other in [
            "0A.json",
            "a.json",
            "100.json",
            "0a.json.lock",
            ".sessions-x.tmp",
        ] {
            assert_eq!(shard_index(other), None, "{other}");
        }
    }

    #[test]
    fn writes_go_to_one_shard_and_reads_find_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        let store = FileStore::new(&path);
        for (n, t) in [("a", "t-a"), ("fix-ci", "t-f"), ("s5000", "t-s")] {
            store.insert(record(n, t), false).unwrap();
        }
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"format\":\"spawncodex-sessions\",\"version\":2}\n"
        );
        let shard_dir = dir.path().join("sessions.json.d");
        let a_shard = shard_dir.join(shard_file_name(shard_of("a")));
        assert!(fs::read_to_string(&a_shard).unwrap().contains("\"t-a\""));
        assert_eq!(store.existing_shards().unwrap().len(), 3);
        // A change to one session leaves the other shards' files as they were.
        let other_files = || -> Vec<(u64, i64, i64)> {
            store
                .existing_shards()
                .unwrap()
                .into_iter()
                .filter(|&i| i != shard_of("a"))
                .map(|i| {
                    let meta = fs::metadata(shard_dir.join(shard_file_name(i))).unwrap();
                    (meta.ino(), meta.mtime(), meta.mtime_nsec())
                })
                .collect()
        };
        let others = other_files();
        store.update("a", &mut |r| r.turns = 5).unwrap();
        assert_eq!(others, other_files());
        let fresh = FileStore::new(&path);
        assert_eq!(fresh.get("a").unwrap().unwrap().turns, 5);
        assert_eq!(fresh.list().unwrap().len(), 3);
        assert_eq!(fresh.list_summaries().unwrap().sessions.len(), 3);
        assert_eq!(
            fresh
                .remove(&["s5000".into(), "nope".into(), "a".into()])
                .unwrap(),
            Removal::Missing(vec!["nope".into()])
        );
        assert_eq!(fresh.list().unwrap().len(), 3);
        assert_eq!(
            fresh.remove(&["s5000".into(), "a".into()]).unwrap(),
            Removal::Removed(vec!["s5000".into(), "a".into()])
        );
        assert_eq!(fresh.clear().unwrap(), 1);
        assert!(fresh.list().unwrap().is_empty());
        // Taking away from a store that does not exist creates nothing.
        let none = FileStore::new(dir.path().join("none/sessions.json"));
        assert_eq!(
            none.remove(&["a".into()]).unwrap(),
            Removal::Missing(vec!["a".into()])
        );
        assert_eq!(none.clear().unwrap(), 0);
        assert!(none.update("a", &mut |r| r.turns = 1).unwrap().is_none());
        assert!(!dir.path().join("none").exists());
    }

    #[test]
    fn a_store_from_before_shards_is_read_as_is_then_split_by_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        let mut value: serde_json::Value =
            serde_json::from_str(&v1_file(&[record("a", "t-a"), record("b", "t-b")])).unwrap();
        // A field this build does not know, and a record it cannot decode: both are moved as
        // they are, and neither stops a change to another session.
        value["sessions"]["a"]["future"] = serde_json::json!([1, 2]);
        value["sessions"]["b"]["created_at"] = "yesterday".into();
        let text = serde_json::to_string_pretty(&value).unwrap();
        fs::write(&path, &text).unwrap();
        let store = FileStore::new(&path);
        assert_eq!(store.get("a").unwrap().unwrap().thread_id, "t-a");
        // Reading changes nothing.
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
        assert!(!dir.path().join("sessions.json.d").exists());
        store.insert(record("c", "t-c"), false).unwrap();
        assert!(matches!(
            store.layout().unwrap(),
            Layout::Sharded { manifest: true }
        ));
        let shards: String = store
            .existing_shards()
            .unwrap()
            .into_iter()
            .map(|i| fs::read_to_string(store.dir.join(shard_file_name(i))).unwrap())
            .collect();
        assert!(shards.contains("\"future\":[1,2]"), "{shards}");
        assert!(shards.contains("\"created_at\":\"yesterday\""), "{shards}");
        assert!(store.get("b").is_err(), "b still cannot be decoded");
        store.update("a", &mut |r| r.turns = 3).unwrap();
        assert_eq!(FileStore::new(&path).get("a").unwrap().unwrap().turns, 3);
    }

    #[test]
    fn a_split_never_drops_what_shards_hold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        let store = two_sessions(dir.path());
        store.insert(record("s5000", "t-s"), false).unwrap();
        // An old one-file backup restored over the manifest: its version of "a" wins, and the
        // sessions made since are still there, before and after the next change.
        fs::write(
            &path,
            v1_file(&[record("a", "t-a-old"), record("b", "t-b")]),
        )
        .unwrap();
        let expected = pairs(&[
            ("a", "t-a-old"),
            ("b", "t-b"),
            ("fix-ci", "t-f"),
            ("s5000", "t-s"),
        ]);
        assert_eq!(names(&FileStore::new(&path)), expected);
        assert_eq!(
            FileStore::new(&path)
                .get("fix-ci")
                .unwrap()
                .unwrap()
                .thread_id,
            "t-f"
        );
        FileStore::new(&path)
            .insert(record("c", "t-c"), false)
            .unwrap();
        let mut with_c = expected.clone();
        with_c.push(("c".into(), "t-c".into()));
        with_c.sort();
        assert_eq!(names(&FileStore::new(&path)), with_c);
        // The manifest deleted, or emptied: the shards are still the store.
        for lost in [None, Some(""), Some("  \n")] {
            match lost {
                None => fs::remove_file(&path).unwrap(),
                Some(text) => fs::write(&path, text).unwrap(),
            }
            let fresh = FileStore::new(&path);
            assert_eq!(names(&fresh), with_c, "{lost:?}");
            fresh.update("b", &mut |r| r.turns = 2).unwrap();
            assert_eq!(names(&FileStore::new(&path)), with_c, "{lost:?}");
            assert!(matches!(
                fresh.layout().unwrap(),
                Layout::Sharded { manifest: true }
            ));
        }
    }

    #[test]
    fn the_shard_folder_goes_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        two_sessions(&dir.path().join("home"));
        // Moved together under a new name: still the same store.
        fs::create_dir(dir.path().join("elsewhere")).unwrap();
        let moved = dir.path().join("elsewhere/team.json");
        fs::rename(dir.path().join("home/sessions.json"), &moved).unwrap();
        fs::rename(
            dir.path().join("home/sessions.json.d"),
            dir.path().join("elsewhere/team.json.d"),
        )
        .unwrap();
        let expected = pairs(&[("a", "t-a"), ("fix-ci", "t-f")]);
        assert_eq!(names(&FileStore::new(&moved)), expected);
        // Through a symlink: the shards are beside the real file.
        let link = dir.path().join("home/sessions.json");
        std::os::unix::fs::symlink(&moved, &link).unwrap();
        let linked = FileStore::new(&link);
        assert_eq!(names(&linked), expected);
        linked.insert(record("b", "t-b"), false).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(FileStore::new(&moved).list().unwrap().len(), 3);
        // The file copied without its folder, under its own name or another: refused, and left
        // as it is, never read as an empty store.
        fs::create_dir(dir.path().join("copy")).unwrap();
        for name in ["sessions.json", "other.json"] {
            let copy = dir.path().join("copy").join(name);
            fs::copy(&moved, &copy).unwrap();
            let store = FileStore::new(&copy);
            let err = store.list().unwrap_err();
            assert!(err.to_string().contains("is missing"), "{err}");
            assert!(store.insert(record("x", "t"), false).is_err());
            assert_eq!(fs::read(&copy).unwrap(), fs::read(&moved).unwrap());
        }
    }

    #[test]
    fn refuses_a_newer_or_damaged_store_without_touching_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        for content in [
            r#"{"format":"spawncodex-sessions","version":3}"#,
            r#"{"format":"spawncodex-sessions","version":"2"}"#,
            r#"{"format":"spawncodex-sessions","version":2"#,
            "{not json",
        ] {
            fs::write(&path, content).unwrap();
            let store = FileStore::new(&path);
            assert!(store.insert(record("x", "t"), false).is_err(), "{content}");
            assert!(store.list().is_err(), "{content}");
            assert!(store.check_writable("x").is_err(), "{content}");
            assert_eq!(fs::read_to_string(&path).unwrap(), content);
        }
        // A shard folder that is a file: named in the error.
        fs::write(&path, v1_file(&[record("a", "t-a")])).unwrap();
        fs::write(dir.path().join("sessions.json.d"), "").unwrap();
        let err = FileStore::new(&path).list().unwrap_err();
        assert!(err.to_string().contains("sessions.json.d"), "{err}");
    }

    #[test]
    fn a_damaged_shard_stops_a_change_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        two_sessions(dir.path());
        let a_shard = dir
            .path()
            .join("sessions.json.d")
            .join(shard_file_name(shard_of("a")));
        fs::write(&a_shard, "{damaged").unwrap();
        let fresh = FileStore::new(&path);
        let err = fresh.update("a", &mut |r| r.turns = 9).unwrap_err();
        assert!(
            err.to_string().contains(&a_shard.display().to_string()),
            "{err}"
        );
        assert!(fresh.list().is_err());
        // A change to several sessions, one of them in the damaged shard: nothing is done.
        let err = fresh
            .merge(vec![record("s5000", "t-s"), record("a", "t-a2")], true)
            .unwrap_err();
        assert!(err.to_string().contains("cannot be read"), "{err}");
        assert!(
            FileStore::new(&path).get("s5000").unwrap().is_none(),
            "nothing imported"
        );
        assert!(fresh.remove(&["fix-ci".into(), "a".into()]).is_err());
        assert!(FileStore::new(&path).get("fix-ci").unwrap().is_some());
        assert!(fresh.clear().is_err());
        assert_eq!(fs::read_to_string(&a_shard).unwrap(), "{damaged");
        // Sessions in other shards are still there to use.
        assert!(
            fresh
                .update("fix-ci", &mut |r| r.turns = 9)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_change_to_several_sessions_takes_every_lock_before_changing_any() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        two_sessions(dir.path());
        // The lock of "a"'s shard cannot be taken (here: a folder in the lock file's place).
        let a_lock = dir
            .path()
            .join("sessions.json.d")
            .join(format!("{}.lock", shard_file_name(shard_of("a"))));
        fs::remove_file(&a_lock).unwrap();
        fs::create_dir(&a_lock).unwrap();
        let store = FileStore::new(&path);
        let err = store.remove(&["fix-ci".into(), "a".into()]).unwrap_err();
        assert!(err.to_string().contains(".lock"), "names the lock: {err}");
        assert_eq!(names(&store), pairs(&[("a", "t-a"), ("fix-ci", "t-f")]));
        assert!(
            store
                .merge(vec![record("fix-ci", "t-2"), record("a", "t-2")], true)
                .is_err()
        );
        assert!(store.clear().is_err());
        assert_eq!(names(&store), pairs(&[("a", "t-a"), ("fix-ci", "t-f")]));
        // Locks taken for a change that failed are given back.
        assert!(
            store
                .update("fix-ci", &mut |r| r.turns = 4)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn odd_files_in_the_stores_place_are_refused_not_read_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        // sessions.json a symlink to nothing (a folder not mounted yet).
        let path = dir.path().join("sessions.json");
        std::os::unix::fs::symlink(dir.path().join("not-mounted/sessions.json"), &path).unwrap();
        let store = FileStore::new(&path);
        assert!(store.list().unwrap_err().to_string().contains("symlink"));
        assert!(store.insert(record("x", "t"), false).is_err());
        assert!(path.is_symlink());
        fs::remove_file(&path).unwrap();
        // A shard that is a symlink to nothing, or a FIFO (reading it must not hang).
        let store = two_sessions(dir.path());
        let a_shard = store.dir.join(shard_file_name(shard_of("a")));
        fs::remove_file(&a_shard).unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone.json"), &a_shard).unwrap();
        let fresh = FileStore::new(&path);
        assert!(fresh.get("a").unwrap_err().to_string().contains("symlink"));
        assert!(fresh.insert(record("a", "t"), true).is_err());
        assert!(a_shard.is_symlink());
        fs::remove_file(&a_shard).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(&a_shard)
            .status()
            .unwrap();
        assert!(status.success());
        let fresh = FileStore::new(&path);
        assert!(
            fresh
                .list()
                .unwrap_err()
                .to_string()
                .contains("not a regular file")
        );
    }

    #[test]
    fn before_a_split_the_check_reads_the_shards_the_split_will_touch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        two_sessions(dir.path());
        let f_shard = dir
            .path()
            .join("sessions.json.d")
            .join(shard_file_name(shard_of("fix-ci")));
        fs::write(&f_shard, "{damaged").unwrap();
        // Only "a" in the one-file store: its split does not touch fix-ci's shard.
        fs::write(&path, v1_file(&[record("a", "t-a")])).unwrap();
        let store = FileStore::new(&path);
        store.check_writable("zz").unwrap();
        assert!(store.check_writable("fix-ci").is_err());
        fs::write(&path, v1_file(&[record("a", "t-a"), record("fix-ci", "t")])).unwrap();
        assert!(FileStore::new(&path).check_writable("zz").is_err());
        assert_eq!(fs::read_to_string(&f_shard).unwrap(), "{damaged");
    }

    #[test]
    fn a_reader_racing_a_split_sees_every_session() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        for _ in 0..40 {
            let _ = fs::remove_dir_all(dir.path().join("sessions.json.d"));
            fs::write(&path, v1_file(&[record("a", "t-a"), record("b", "t-b")])).unwrap();
            let done = AtomicBool::new(false);
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    FileStore::new(&path)
                        .insert(record("c", "t-c"), false)
                        .unwrap();
                    done.store(true, Ordering::SeqCst);
                });
                while !done.load(Ordering::SeqCst) {
                    let store = FileStore::new(&path);
                    assert_eq!(store.get("a").unwrap().unwrap().thread_id, "t-a");
                    store.check_writable("zzz").unwrap();
                }
            });
        }
    }
}
