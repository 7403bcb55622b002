//! The JSON file store the CLI uses: `sessions.json` names a directory of 256 shard files, and
//! each session lives in the shard its name hashes to.
//!
//! Why shards: every change rewrites a whole file (temp file, fsync, rename), so with one file a
//! turn of one session cost a rewrite of every session; with ten thousand sessions that was an
//! 8.9 MB write and fsync per turn. A shard holds about 1/256 of the sessions, so a turn rewrites
//! only that much, and the store stays as safe as before: each shard is locked, checked and
//! replaced atomically on its own, exactly as the single file was ([`StoreFile`]).
//!
//! Layout (format version 2):
//! - `sessions.json`: `{"format":"spawncodex-sessions","version":2,"shards":"sessions.json.d"}`,
//!   naming the shard directory beside it, which is always the file's own name + `.d` (a copy or
//!   rename of the file alone is refused rather than read as empty or as the original);
//! - `sessions.json.d/NN.json`: the sessions whose name hashes to `NN` (two hex digits), in the
//!   layout of a version-1 store, so each shard is also a valid store on its own.
//!
//! A version-1 store (one file holding every session) is read as it is, and split into shards by
//! the first change, under the lock a version-1 writer takes. The split writes the shards first
//! and replaces `sessions.json` last, so a crash leaves the old file, which the next change splits
//! again.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

use super::file::{FORMAT_NAME, StoreFile, write_atomically};
use super::{FORMAT_VERSION, SessionRecord, SessionStore, SessionSummary, StoreError};

/// How many shards. Part of the format: a session's shard is found from its name alone.
const SHARDS: usize = 256;
/// A manifest is a line of JSON; a bigger file is a store from before shards.
const MANIFEST_MAX: u64 = 4096;

pub struct FileStore {
    path: PathBuf,
    /// The file at `path`: its lock guards the split, and before the split it holds the sessions.
    top: StoreFile,
    /// One handle per shard, made on first use and kept, so that a read followed by a write of
    /// the same session in one process loads its shard once.
    shards: Vec<OnceLock<StoreFile>>,
}

/// What `sessions.json` is.
enum Layout {
    /// No store yet.
    Absent,
    /// A store from before shards (or not a store: reading it says what is wrong).
    Single,
    /// A manifest naming this shard directory.
    Sharded(PathBuf),
}

#[derive(Deserialize)]
struct Manifest {
    format: Option<String>,
    version: Option<u64>,
    shards: Option<String>,
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
    let mut found: std::collections::HashSet<String> = found.into_iter().collect();
    names.iter().filter(|n| found.remove(*n)).cloned().collect()
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        FileStore {
            top: StoreFile::new(path.clone()),
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

    fn parent(&self) -> &Path {
        match self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => d,
            None => Path::new("."),
        }
    }

    fn io_err(&self, source: io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn unreadable(&self, reason: &str) -> StoreError {
        StoreError::Unreadable {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn layout(&self) -> Result<Layout, StoreError> {
        let meta = match fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Layout::Absent),
            Err(e) => return Err(self.io_err(e)),
        };
        if meta.len() > MANIFEST_MAX {
            return Ok(Layout::Single);
        }
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Layout::Absent),
            Err(e) => return Err(self.io_err(e)),
        };
        let Ok(manifest) = serde_json::from_slice::<Manifest>(&bytes) else {
            return Ok(Layout::Single);
        };
        if manifest.format.as_deref() != Some(FORMAT_NAME) {
            return Ok(Layout::Single);
        }
        match manifest.version {
            Some(FORMAT_VERSION) => {}
            Some(v) if v > FORMAT_VERSION => {
                return Err(StoreError::NewerVersion {
                    path: self.path.clone(),
                    found: v,
                    supported: FORMAT_VERSION,
                });
            }
            _ => return Ok(Layout::Single),
        }
        let dir = manifest
            .shards
            .ok_or_else(|| self.unreadable("version 2 without \"shards\""))?;
        // The directory is always the file's name + ".d", beside it. A manifest naming another
        // one was copied or renamed without its shards: following it would share (and change)
        // the shards of the store it came from, and ignoring it would show an empty store.
        let expected = self.shard_dir_name();
        if *dir != *expected {
            return Err(self.unreadable(&format!(
                "its sessions are in {dir:?}, but this file's own are kept in {:?}: it was copied or renamed without its shard directory; keep the two together",
                expected.to_string_lossy()
            )));
        }
        Ok(Layout::Sharded(self.parent().join(expected)))
    }

    /// `sessions.json` → `sessions.json.d`.
    fn shard_dir_name(&self) -> std::ffi::OsString {
        let mut name = self
            .path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".d");
        name
    }

    fn shard(&self, dir: &Path, index: usize) -> &StoreFile {
        self.shards[index].get_or_init(|| StoreFile::new(dir.join(shard_file_name(index))))
    }

    fn shard_for(&self, dir: &Path, name: &str) -> &StoreFile {
        self.shard(dir, shard_of(name))
    }

    /// The shards that have a file, in order.
    fn existing_shards(&self, dir: &Path) -> Result<Vec<usize>, StoreError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io_err(e)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io_err(e))?;
            if let Some(i) = entry.file_name().to_str().and_then(shard_index) {
                found.push(i);
            }
        }
        found.sort_unstable();
        Ok(found)
    }

    /// The shard directory, splitting a store from before shards (or starting a new one) first.
    fn shard_dir_for_writing(&self) -> Result<PathBuf, StoreError> {
        match self.layout()? {
            Layout::Sharded(dir) => Ok(dir),
            Layout::Absent | Layout::Single => self.split(),
        }
    }

    /// As [`Self::shard_dir_for_writing`], but `None` where there is no store: a change that only
    /// takes sessions away creates nothing.
    fn shard_dir_for_removing(&self) -> Result<Option<PathBuf>, StoreError> {
        match self.layout()? {
            Layout::Absent => Ok(None),
            Layout::Sharded(dir) => Ok(Some(dir)),
            Layout::Single => self.split().map(Some),
        }
    }

    /// Under the lock of `sessions.json` (the one a version-1 writer takes too): write every
    /// session into its shard, then replace `sessions.json` with the manifest.
    fn split(&self) -> Result<PathBuf, StoreError> {
        let _lock = self.top.lock()?;
        let records = match self.layout()? {
            // Split by another process while we waited.
            Layout::Sharded(dir) => return Ok(dir),
            Layout::Absent => Vec::new(),
            // Reading refuses a damaged or newer file, which is then left as it is.
            Layout::Single => self.top.list()?,
        };
        let dir_name = self.shard_dir_name();
        let dir = self.parent().join(&dir_name);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| self.io_err(e))?;
        let mut groups = by_shard(records, |r| r.name.as_str());
        // Shards left by a split that was cut short are rewritten too, so they hold exactly what
        // the file holds now.
        for i in self.existing_shards(&dir)? {
            groups.entry(i).or_default();
        }
        for (i, records) in &groups {
            self.shard(&dir, *i).replace_all(records)?;
        }
        let dir_json = serde_json::to_string(&dir_name.to_string_lossy())
            .map_err(|e| self.io_err(e.into()))?;
        write_atomically(&self.path, |w: &mut dyn Write| {
            writeln!(
                w,
                "{{\"format\":\"{FORMAT_NAME}\",\"version\":{FORMAT_VERSION},\"shards\":{dir_json}}}"
            )
        })
        .map_err(|e| self.io_err(e))?;
        Ok(dir)
    }

    /// Would a write of this session succeed? Reads what a writer would, so a damaged store is
    /// reported before codex starts rather than after.
    pub fn check_writable(&self, name: &str) -> Result<(), StoreError> {
        match self.layout()? {
            Layout::Absent => Ok(()),
            Layout::Single => self.top.check_writable(),
            Layout::Sharded(dir) => self.shard_for(&dir, name).check_writable(),
        }
    }

    /// Every session without its turn history (cheaper to read), most recently used first.
    pub fn list_summaries(&self) -> Result<Vec<SessionSummary>, StoreError> {
        let mut all = match self.layout()? {
            Layout::Absent => Vec::new(),
            Layout::Single => self.top.list_summaries()?,
            Layout::Sharded(dir) => {
                let mut all = Vec::new();
                for i in self.existing_shards(&dir)? {
                    all.extend(self.shard(&dir, i).list_summaries()?);
                }
                all
            }
        };
        all.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(all)
    }
}

impl SessionStore for FileStore {
    fn get(&self, name: &str) -> Result<Option<SessionRecord>, StoreError> {
        match self.layout()? {
            Layout::Absent => Ok(None),
            Layout::Single => self.top.get(name),
            Layout::Sharded(dir) => self.shard_for(&dir, name).get(name),
        }
    }

    fn list(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let mut all = match self.layout()? {
            Layout::Absent => Vec::new(),
            Layout::Single => self.top.list()?,
            Layout::Sharded(dir) => {
                let mut all = Vec::new();
                for i in self.existing_shards(&dir)? {
                    all.extend(self.shard(&dir, i).list()?);
                }
                all
            }
        };
        super::sort_newest_first(&mut all);
        Ok(all)
    }

    fn insert(&self, record: SessionRecord, replace: bool) -> Result<(), StoreError> {
        let dir = self.shard_dir_for_writing()?;
        self.shard_for(&dir, &record.name).insert(record, replace)
    }

    fn update(
        &self,
        name: &str,
        change: &mut dyn FnMut(&mut SessionRecord),
    ) -> Result<Option<SessionRecord>, StoreError> {
        let Some(dir) = self.shard_dir_for_removing()? else {
            return Ok(None);
        };
        self.shard_for(&dir, name).update(name, change)
    }

    fn remove(&self, names: &[String]) -> Result<Vec<String>, StoreError> {
        let Some(dir) = self.shard_dir_for_removing()? else {
            return Ok(Vec::new());
        };
        let mut removed = Vec::new();
        for (i, group) in by_shard(names.to_vec(), String::as_str) {
            removed.extend(self.shard(&dir, i).remove(&group)?);
        }
        Ok(in_given_order(names, removed))
    }

    fn clear(&self) -> Result<usize, StoreError> {
        let Some(dir) = self.shard_dir_for_removing()? else {
            return Ok(0);
        };
        let mut n = 0;
        for i in self.existing_shards(&dir)? {
            n += self.shard(&dir, i).clear()?;
        }
        Ok(n)
    }

    fn merge(
        &self,
        records: Vec<SessionRecord>,
        force: bool,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let dir = self.shard_dir_for_writing()?;
        let names: Vec<String> = records.iter().map(|r| r.name.clone()).collect();
        let (mut added, mut skipped) = (Vec::new(), Vec::new());
        for (i, group) in by_shard(records, |r| r.name.as_str()) {
            let (a, s) = self.shard(&dir, i).merge(group, force)?;
            added.extend(a);
            skipped.extend(s);
        }
        Ok((
            in_given_order(&names, added),
            in_given_order(&names, skipped),
        ))
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
            "{\"format\":\"spawncodex-sessions\",\"version\":2,\"shards\":\"sessions.json.d\"}\n"
        );
        let shard_dir = dir.path().join("sessions.json.d");
        let a_shard = shard_dir.join(shard_file_name(shard_of("a")));
        assert!(fs::read_to_string(&a_shard).unwrap().contains("\"t-a\""));
        assert_eq!(store.existing_shards(&shard_dir).unwrap().len(), 3);
        // A change to one session leaves the other shards' files as they were.
        let other_files = || -> Vec<(u64, i64, i64)> {
            store
                .existing_shards(&shard_dir)
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
        let after = other_files();
        assert_eq!(others, after);
        let fresh = FileStore::new(&path);
        assert_eq!(fresh.get("a").unwrap().unwrap().turns, 5);
        assert_eq!(fresh.list().unwrap().len(), 3);
        assert_eq!(fresh.list_summaries().unwrap().len(), 3);
        assert_eq!(
            fresh
                .remove(&["s5000".into(), "nope".into(), "a".into()])
                .unwrap(),
            ["s5000", "a"]
        );
        assert_eq!(fresh.clear().unwrap(), 1);
        assert!(fresh.list().unwrap().is_empty());
        // Taking away from a store that does not exist creates nothing.
        let none = FileStore::new(dir.path().join("none/sessions.json"));
        assert!(none.remove(&["a".into()]).unwrap().is_empty());
        assert_eq!(none.clear().unwrap(), 0);
        assert!(none.update("a", &mut |r| r.turns = 1).unwrap().is_none());
        assert!(!dir.path().join("none").exists());
    }

    #[test]
    fn a_store_from_before_shards_is_read_as_is_then_split_by_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        let old = v1_file(&[record("a", "t-a"), record("b", "t-b")]);
        fs::write(&path, &old).unwrap();
        // A split that was cut short left a shard with a session the file no longer has, and
        // another with an older copy of "a".
        let shard_dir = dir.path().join("sessions.json.d");
        fs::create_dir(&shard_dir).unwrap();
        let stale = |name: &str, thread: &str| {
            fs::write(
                shard_dir.join(shard_file_name(shard_of(name))),
                v1_file(&[record(name, thread)]),
            )
            .unwrap();
        };
        stale("zombie", "t-z");
        stale("a", "t-old");
        let store = FileStore::new(&path);
        assert_eq!(store.get("b").unwrap().unwrap().thread_id, "t-b");
        assert_eq!(store.list().unwrap().len(), 2);
        // Reading changes nothing.
        assert_eq!(fs::read_to_string(&path).unwrap(), old);
        store.insert(record("c", "t-c"), false).unwrap();
        let fresh = FileStore::new(&path);
        let mut names: Vec<(String, String)> = fresh
            .list()
            .unwrap()
            .into_iter()
            .map(|r| (r.name, r.thread_id))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [("a", "t-a"), ("b", "t-b"), ("c", "t-c")].map(|(n, t)| (n.to_string(), t.to_string()))
        );
        assert!(matches!(fresh.layout().unwrap(), Layout::Sharded(_)));
    }

    #[test]
    fn refuses_a_newer_or_damaged_manifest_and_a_damaged_shard_without_touching_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        for content in [
            r#"{"format":"spawncodex-sessions","version":3,"shards":"x.d"}"#,
            r#"{"format":"spawncodex-sessions","version":2}"#,
            r#"{"format":"spawncodex-sessions","version":2,"shards":"../elsewhere"}"#,
            r#"{"format":"spawncodex-sessions","version":2,"shards":"/tmp"}"#,
            // Copied from another store without its shards.
            r#"{"format":"spawncodex-sessions","version":2,"shards":"other.json.d"}"#,
        ] {
            fs::write(&path, content).unwrap();
            let store = FileStore::new(&path);
            assert!(store.insert(record("x", "t"), false).is_err(), "{content}");
            assert!(store.list().is_err(), "{content}");
            assert_eq!(fs::read_to_string(&path).unwrap(), content);
        }
        fs::remove_file(&path).unwrap();
        let store = FileStore::new(&path);
        store.insert(record("a", "t-a"), false).unwrap();
        store.insert(record("fix-ci", "t-f"), false).unwrap();
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
        assert_eq!(fs::read_to_string(&a_shard).unwrap(), "{damaged");
        // Sessions in other shards are still there to use.
        assert!(
            fresh
                .update("fix-ci", &mut |r| r.turns = 9)
                .unwrap()
                .is_some()
        );
    }
}
