//! One JSON file of sessions, locked for every read-modify-write, replaced atomically. The
//! [`FileStore`](super::FileStore) keeps its sessions in 256 such files (shards); a store from
//! before shards is one such file, read as it is and split on the first write.
//!
//! Layout: `{"format":"spawncodex-sessions","version":1,"sessions":{"name":{...},...}}`, written
//! with one session per line. Reading that layout back needs no JSON parser for the sessions we
//! do not touch: lines are split and their keys read, and only the records asked for are decoded;
//! the others are copied through byte for byte when the file is rewritten. A file in any other
//! layout (e.g. re-indented by hand) is read with a full JSON parse instead.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Listed, Removal, SessionRecord, SessionStore, StoreError, sort_newest_first};

/// The version of one file of records. (The store's own version, which a shard layout has, is
/// [`super::FORMAT_VERSION`].)
pub const RECORDS_VERSION: u64 = 1;
pub(crate) const FORMAT_NAME: &str = "spawncodex-sessions";
/// How long a writer waits for the lock before giving up with a clear error.
const LOCK_WAIT: Duration = Duration::from_secs(15);

pub struct StoreFile {
    path: PathBuf,
    lock_path: PathBuf,
    /// The last version read, so a command that reads and then writes loads the file once.
    cache: std::sync::Mutex<Option<(FileId, Sessions)>>,
    /// A lock taken ahead of the write that uses it (see [`StoreFile::hold_lock`]).
    held: std::sync::Mutex<Option<File>>,
}

/// One version of the store file: a rewrite makes a new inode, an edit in place changes the size
/// or the modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
    /// Unlike mtime, no user tool can set it back (`touch -r`).
    ctime: i64,
    ctime_nsec: i64,
}

impl FileId {
    fn of(meta: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            ctime: meta.ctime(),
            ctime_nsec: meta.ctime_nsec(),
        }
    }

    fn stamp(&self) -> String {
        format!(
            "{} {} {} {} {} {} {}\n",
            self.dev, self.ino, self.size, self.mtime, self.mtime_nsec, self.ctime, self.ctime_nsec
        )
    }
}

#[derive(Deserialize)]
struct RawFile<'a> {
    format: Option<String>,
    version: Option<u64>,
    #[serde(borrow, default)]
    sessions: BTreeMap<String, &'a RawValue>,
}

/// Where a record's JSON is: still in the file's bytes, or new.
enum Entry {
    InFile(std::ops::Range<usize>),
    New(Box<RawValue>),
}

/// Records by name, kept sorted (the order the file is written in). A sorted vector rather
/// than a map: building it for ten thousand sessions is one push each, no tree to balance.
#[derive(Default)]
struct Index(Vec<(Box<str>, Entry)>);

impl Index {
    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(name))
    }

    fn get(&self, name: &str) -> Option<&Entry> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    fn insert(&mut self, name: String, entry: Entry) {
        match self.find(&name) {
            Ok(i) => self.0[i].1 = entry,
            Err(i) => self.0.insert(i, (name.into_boxed_str(), entry)),
        }
    }

    fn remove(&mut self, name: &str) -> Option<Entry> {
        self.find(name).ok().map(|i| self.0.remove(i).1)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.0.iter().map(|(k, e)| (&**k, e))
    }

    /// From records in file order: sorted already when we wrote the file.
    fn from_unsorted(mut items: Vec<(Box<str>, Entry)>) -> Option<Self> {
        if !items.is_sorted_by(|a, b| a.0 < b.0) {
            items.sort_by(|a, b| a.0.cmp(&b.0));
            if items.windows(2).any(|w| w[0].0 == w[1].0) {
                // The same name twice: not a layout we wrote; let the full parser decide.
                return None;
            }
        }
        Some(Index(items))
    }
}

/// The loaded file: records still raw, plus the ones we changed.
struct Sessions {
    bytes: Vec<u8>,
    entries: Index,
}

impl Sessions {
    fn empty() -> Self {
        Sessions {
            bytes: Vec::new(),
            entries: Index::default(),
        }
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(|e| self.text(e))
    }

    /// A record's JSON, for decoding (UTF-8 is checked here, for this record only).
    fn text<'a>(&'a self, entry: &'a Entry) -> &'a str {
        match entry {
            Entry::InFile(range) => std::str::from_utf8(&self.bytes[range.clone()]).unwrap_or(""),
            Entry::New(raw) => raw.get(),
        }
    }

    /// A record's bytes, for copying through unchanged.
    fn bytes_of<'a>(&'a self, entry: &'a Entry) -> &'a [u8] {
        match entry {
            Entry::InFile(range) => &self.bytes[range.clone()],
            Entry::New(raw) => raw.get().as_bytes(),
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    fn put(&mut self, name: String, raw: Box<RawValue>) {
        self.entries.insert(name, Entry::New(raw));
    }
}

pub(crate) const HEADER: &[u8] =
    b"{\"format\":\"spawncodex-sessions\",\"version\":1,\"sessions\":{";

/// Is every record the file's line reader found valid UTF-8 and one complete JSON value?
fn records_are_json(bytes: &[u8], entries: &Index) -> bool {
    std::str::from_utf8(bytes).is_ok()
        && entries.iter().all(|(_, entry)| match entry {
            Entry::InFile(range) => {
                serde_json::from_slice::<serde::de::IgnoredAny>(&bytes[range.clone()]).is_ok()
            }
            Entry::New(_) => true,
        })
}

/// Read our own one-session-per-line layout without a JSON parser. `None`: not that layout.
fn read_lines(bytes: &[u8]) -> Option<Index> {
    let header_end = memchr::memchr(b'\n', bytes)?;
    if &bytes[..header_end] != HEADER {
        return None;
    }
    let mut entries = Vec::new();
    let mut start = header_end + 1;
    let mut closed = false;
    while start < bytes.len() {
        // memchr finds the line ends: a byte-by-byte split was most of the cost on big stores.
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let line = &bytes[start..end];
        let line_start = start;
        start = end + 1;
        if closed {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return None;
        }
        if line == b"}}" {
            closed = true;
            continue;
        }
        let body = line.strip_suffix(b",").unwrap_or(line);
        let rest = body.strip_prefix(b"\"")?;
        let key_end = memchr::memchr(b'"', rest)?;
        let key = &rest[..key_end];
        if key.contains(&b'\\') {
            return None;
        }
        let value = rest[key_end + 1..].strip_prefix(b":")?;
        if value.first() != Some(&b'{') || value.last() != Some(&b'}') {
            return None;
        }
        let value_start = line_start + 1 + key_end + 2;
        let name: Box<str> = std::str::from_utf8(key).ok()?.into();
        entries.push((name, Entry::InFile(value_start..value_start + value.len())));
    }
    if !closed {
        return None;
    }
    Index::from_unsorted(entries)
}

/// Replace `path` with what `body` writes, so that a reader sees the old file or the new one,
/// never a part: a temp file in the same directory (mode 0600), fsync, rename, fsync the
/// directory. Returns the new file.
pub(crate) fn write_atomically(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<File> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".sessions-")
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o600))?;
    {
        let mut w = io::BufWriter::with_capacity(256 * 1024, tmp.as_file_mut());
        body(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    let file = tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(file)
}

impl StoreFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let mut lock_name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        lock_name.push(".lock");
        let lock_path = path.with_file_name(lock_name);
        StoreFile {
            path,
            lock_path,
            cache: std::sync::Mutex::new(None),
            held: std::sync::Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_err(&self, source: io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn ensure_dir(&self) -> Result<(), StoreError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| self.io_err(e))?;
        }
        Ok(())
    }

    /// Take the exclusive lock, waiting a bounded time. It is held until the file is dropped.
    pub(crate) fn lock(&self) -> Result<File, StoreError> {
        self.ensure_dir()?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .open(&self.lock_path)
            .map_err(|e| StoreError::Io {
                path: self.lock_path.clone(),
                source: e,
            })?;
        let deadline = Instant::now() + LOCK_WAIT;
        let mut pause = Duration::from_millis(2);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(fs::TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        return Err(StoreError::Locked {
                            path: self.path.clone(),
                            secs: LOCK_WAIT.as_secs(),
                        });
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(StoreError::Io {
                        path: self.lock_path.clone(),
                        source: e,
                    });
                }
            }
        }
    }

    /// The file's bytes and the identity of exactly that version (one handle for both).
    fn read_bytes(&self) -> Result<Option<(FileId, Vec<u8>)>, StoreError> {
        // Non-blocking, so that a FIFO in the file's place is an error rather than a hang.
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.path);
        let mut file = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A symlink to nothing (a folder not mounted yet?) is not an empty store: a write
                // would replace the link. (Anything else found now was written since the open,
                // by a writer this read came before.)
                if is_dangling_symlink(&self.path) {
                    return Err(self.unreadable("it is a symlink to a file that does not exist"));
                }
                return Ok(None);
            }
            Err(e) => return Err(self.io_err(e)),
        };
        let meta = file.metadata().map_err(|e| self.io_err(e))?;
        if !meta.is_file() {
            return Err(self.unreadable("not a regular file"));
        }
        let id = FileId::of(&meta);
        let mut bytes = Vec::with_capacity(id.size as usize + 1);
        file.read_to_end(&mut bytes).map_err(|e| self.io_err(e))?;
        Ok(Some((id, bytes)))
    }

    /// Was this exact version written by spawncodex from checked records (the stamp beside the
    /// lock)? Damage that keeps the inode, size and mtime (bit rot) is not seen this way.
    fn stamped(&self, id: FileId) -> bool {
        fs::read_to_string(&self.lock_path).is_ok_and(|stamp| stamp == id.stamp())
    }

    fn unreadable(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Unreadable {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn parse(&self, bytes: Vec<u8>, stamped: bool) -> Result<Sessions, StoreError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            // An empty file (e.g. created by `touch`) holds no sessions.
            return Ok(Sessions::empty());
        }
        if let Some(entries) = read_lines(&bytes) {
            // The line reader trusts what it does not decode; unless this is a version we
            // wrote ourselves, every record must be one complete JSON value on its own line
            // (two records joined on a line, or one split across lines, fail here and go to the
            // full parser below), so a damaged record is never copied into a rewrite.
            if stamped || records_are_json(&bytes, &entries) {
                return Ok(Sessions { bytes, entries });
            }
        }
        let file: RawFile = serde_json::from_slice(&bytes).map_err(|e| {
            use serde_json::error::Category;
            self.unreadable(match e.classify() {
                Category::Syntax | Category::Eof | Category::Io => format!("not valid JSON: {e}"),
                // serde's words for a wrong shape name our own types: say what was expected.
                Category::Data => format!(
                    "valid JSON, but not a spawncodex session store: expected an object with \"format\", \"version\" and \"sessions\" (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            })
        })?;
        if file.format.as_deref() != Some(FORMAT_NAME) {
            return Err(self.unreadable(
                "not a spawncodex session store (to bring in the Python SDK's sessions, use `spawncodex sessions import FILE`)",
            ));
        }
        let version = file.version.unwrap_or(0);
        if version > RECORDS_VERSION {
            return Err(StoreError::NewerVersion {
                path: self.path.clone(),
                found: version,
                supported: RECORDS_VERSION,
            });
        }
        // Version 1 is the first format; older versions would be migrated here, on read.
        // Records are written one per line, so a hand-formatted record is compacted here.
        let mut entries = Index::default();
        for (name, raw) in file.sessions {
            let value: serde_json::Value = serde_json::from_str(raw.get())
                .map_err(|e| self.unreadable(format!("session {name:?} is malformed: {e}")))?;
            let compact = serde_json::value::to_raw_value(&value)
                .map_err(|e| self.unreadable(format!("session {name:?} is malformed: {e}")))?;
            entries.insert(name, Entry::New(compact));
        }
        Ok(Sessions {
            bytes: Vec::new(),
            entries,
        })
    }

    fn load(&self) -> Result<(Option<FileId>, Sessions), StoreError> {
        match self.read_bytes()? {
            Some((id, bytes)) => Ok((Some(id), self.parse(bytes, self.stamped(id))?)),
            None => Ok((None, Sessions::empty())),
        }
    }

    fn current_id(&self) -> Result<Option<FileId>, StoreError> {
        match fs::metadata(&self.path) {
            Ok(meta) => Ok(Some(FileId::of(&meta))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_err(e)),
        }
    }

    fn take_cache(&self) -> Option<(FileId, Sessions)> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    fn put_cache(&self, id: Option<FileId>, sessions: Sessions) {
        if let Some(id) = id {
            *self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((id, sessions));
        }
    }

    /// Read for a lookup; the result is kept for a write that may follow in this process.
    fn read_then_keep<T>(&self, f: impl FnOnce(&Sessions) -> T) -> Result<T, StoreError> {
        let (id, sessions) = self.load_or_cached()?;
        let value = f(&sessions);
        self.put_cache(id, sessions);
        Ok(value)
    }

    /// The version this process read last, if the file is still exactly that version.
    fn load_or_cached(&self) -> Result<(Option<FileId>, Sessions), StoreError> {
        let now = self.current_id()?;
        match self.take_cache() {
            Some((cached, sessions)) if Some(cached) == now => Ok((now, sessions)),
            _ => self.load(),
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        raw: &str,
    ) -> Result<T, StoreError> {
        serde_json::from_str(raw).map_err(|e| StoreError::Malformed {
            path: self.path.clone(),
            name: name.to_string(),
            reason: e.to_string(),
        })
    }

    /// Would a write succeed? Reads the whole file as a writer would, so a damaged store is
    /// reported before codex starts rather than after.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        // Loading checks what a write would copy through.
        self.read_then_keep(|_| ())
    }

    /// Every session without its turn history (cheaper to read), in file order. A record that
    /// does not decode comes back as its [`StoreError::Malformed`], so one bad record does not
    /// hide the others.
    pub fn list_summaries(&self) -> Result<Vec<Listed>, StoreError> {
        let (_, sessions) = self.load()?;
        Ok(sessions
            .entries
            .iter()
            .map(|(name, e)| self.decode::<super::SessionSummary>(name, sessions.text(e)))
            .collect())
    }

    /// Write the whole file atomically (see [`write_atomically`]) and stamp it beside the lock.
    fn save(&self, sessions: &Sessions, lock: &File) -> Result<(), StoreError> {
        use std::os::unix::fs::FileExt;
        self.ensure_dir()?;
        let file = write_atomically(&self.path, |w| {
            write!(
                w,
                "{{\"format\":\"{FORMAT_NAME}\",\"version\":{RECORDS_VERSION},\"sessions\":{{"
            )?;
            for (i, (name, entry)) in sessions.entries.iter().enumerate() {
                let key = serde_json::to_string(name)?;
                let sep = if i == 0 { "\n" } else { ",\n" };
                write!(w, "{sep}{key}:")?;
                w.write_all(sessions.bytes_of(entry))?;
            }
            w.write_all(b"\n}}\n")
        })
        .map_err(|e| self.io_err(e))?;
        // After the rename (which changes ctime): the identity of exactly what we wrote.
        let written = FileId::of(&file.metadata().map_err(|e| self.io_err(e))?);
        // Remember, beside the lock, which file version we wrote from checked records: the next
        // writer that finds exactly this version need not check it again.
        let _ = lock.set_len(0);
        let _ = lock.write_all_at(written.stamp().as_bytes(), 0);
        Ok(())
    }

    /// Is there a session of this name (decoded or not)?
    pub(crate) fn contains(&self, name: &str) -> Result<bool, StoreError> {
        self.read_then_keep(|s| s.contains(name))
    }

    /// The names of the sessions in the file.
    pub(crate) fn names(&self) -> Result<Vec<String>, StoreError> {
        self.read_then_keep(|s| s.entries.iter().map(|(n, _)| n.to_string()).collect())
    }

    /// Every record as the file holds it, not decoded: fields this build does not know, and
    /// records it could not decode, are moved as they are. Reading refuses a damaged file.
    pub(crate) fn raw_records(&self) -> Result<Vec<(String, Box<RawValue>)>, StoreError> {
        self.read_then_keep(|s| {
            s.entries
                .iter()
                .map(|(name, entry)| {
                    RawValue::from_string(s.text(entry).to_owned())
                        .map(|raw| (name.to_string(), raw))
                        .map_err(|e| self.unreadable(format!("session {name:?} is malformed: {e}")))
                })
                .collect()
        })?
    }

    /// Put these records in, as they are, replacing any of the same name (under the lock; an
    /// unreadable file is refused and left as it is, like any write).
    pub(crate) fn put_raw(&self, records: Vec<(String, Box<RawValue>)>) -> Result<(), StoreError> {
        self.modify(|s| {
            for (name, raw) in records {
                s.put(name, raw);
            }
            Ok(((), true))
        })
    }

    fn encode(&self, record: &SessionRecord) -> Result<Box<RawValue>, StoreError> {
        serde_json::value::to_raw_value(record).map_err(|e| self.io_err(e.into()))
    }

    /// Lock, load, change, save (only if changed).
    /// Take the lock now and keep it for the next write, which then releases it: a change to
    /// several files takes all their locks before it changes any. [`Self::release_lock`] gives
    /// it back unused.
    pub(crate) fn hold_lock(&self) -> Result<(), StoreError> {
        let lock = self.lock()?;
        *self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(lock);
        Ok(())
    }

    pub(crate) fn release_lock(&self) {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }

    fn modify<T>(
        &self,
        f: impl FnOnce(&mut Sessions) -> Result<(T, bool), StoreError>,
    ) -> Result<T, StoreError> {
        let held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let lock = match held {
            Some(lock) => lock,
            None => self.lock()?,
        };
        // Loading refuses a damaged file (see `parse`), so what is saved below is sound.
        let (id, mut sessions) = self.load_or_cached()?;
        let (value, changed) = f(&mut sessions)?;
        if changed {
            self.save(&sessions, &lock)?;
        } else {
            self.put_cache(id, sessions);
        }
        Ok(value)
    }
}

impl SessionStore for StoreFile {
    fn get(&self, name: &str) -> Result<Option<SessionRecord>, StoreError> {
        // Writers replace the file atomically, so a reader needs no lock.
        self.read_then_keep(|sessions| {
            sessions
                .raw(name)
                .map(|raw| self.decode(name, raw))
                .transpose()
        })?
    }

    fn list(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let (_, sessions) = self.load()?;
        let mut all = sessions
            .entries
            .iter()
            .map(|(name, e)| self.decode(name, sessions.text(e)))
            .collect::<Result<Vec<_>, _>>()?;
        sort_newest_first(&mut all);
        Ok(all)
    }

    fn insert(&self, record: SessionRecord, replace: bool) -> Result<(), StoreError> {
        self.modify(|s| {
            if s.contains(&record.name) && !replace {
                return Err(StoreError::Exists(record.name.clone()));
            }
            let raw = self.encode(&record)?;
            s.put(record.name.clone(), raw);
            Ok(((), true))
        })
    }

    fn update(
        &self,
        name: &str,
        change: &mut dyn FnMut(&mut SessionRecord),
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.modify(|s| {
            let Some(raw) = s.raw(name) else {
                return Ok((None, false));
            };
            let mut record: SessionRecord = self.decode(name, raw)?;
            change(&mut record);
            let raw = self.encode(&record)?;
            s.put(name.to_string(), raw);
            Ok((Some(record), true))
        })
    }

    fn remove(&self, names: &[String]) -> Result<Removal, StoreError> {
        self.modify(|s| {
            let removal = super::plan_removal(names, |n| s.entries.get(n).is_some());
            let changed = match &removal {
                Removal::Removed(gone) => {
                    for name in gone {
                        s.entries.remove(name);
                    }
                    !gone.is_empty()
                }
                Removal::Missing(_) => false,
            };
            Ok((removal, changed))
        })
    }

    fn clear(&self) -> Result<usize, StoreError> {
        self.modify(|s| {
            let n = s.entries.len();
            s.entries.clear();
            Ok((n, n > 0))
        })
    }

    fn merge(
        &self,
        records: Vec<SessionRecord>,
        force: bool,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        self.modify(|s| {
            let taken: Vec<String> = records
                .iter()
                .filter(|r| s.contains(&r.name))
                .map(|r| r.name.clone())
                .collect();
            if !force && !taken.is_empty() {
                return Ok(((Vec::new(), taken), false));
            }
            let mut added = Vec::new();
            for r in records {
                let raw = self.encode(&r)?;
                s.put(r.name.clone(), raw);
                added.push(r.name);
            }
            let changed = !added.is_empty();
            Ok(((added, Vec::new()), changed))
        })
    }
}

/// Is `path` a symlink whose target does not exist?
pub(super) fn is_dangling_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink())
        && fs::metadata(path).is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SessionOptions;

    #[test]
    fn round_trip_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreFile::new(dir.path().join("sub/sessions.json"));
        store
            .insert(
                SessionRecord::new("a", "t1", None, SessionOptions::default()),
                false,
            )
            .unwrap();
        assert!(matches!(
            store.insert(
                SessionRecord::new("a", "t2", None, SessionOptions::default()),
                false
            ),
            Err(StoreError::Exists(_))
        ));
        assert_eq!(store.get("a").unwrap().unwrap().thread_id, "t1");
        let mode = fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(dir.path().join("sub"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        // All or nothing: "b" is not there, so "a" stays.
        assert_eq!(
            store.remove(&["a".into(), "b".into()]).unwrap(),
            Removal::Missing(vec!["b".to_string()])
        );
        assert_eq!(store.list().unwrap().len(), 1);
        assert_eq!(
            store.remove(&["a".into(), "a".into()]).unwrap(),
            Removal::Removed(vec!["a".to_string()])
        );
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn reads_its_own_layout_and_any_other_valid_layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreFile::new(dir.path().join("sessions.json"));
        for n in ["b", "a", "c"] {
            store
                .insert(
                    SessionRecord::new(n, &format!("t-{n}"), None, SessionOptions::default()),
                    false,
                )
                .unwrap();
        }
        let bytes = fs::read(store.path()).unwrap();
        assert!(read_lines(&bytes).is_some());
        store.update("b", &mut |r| r.turns = 7).unwrap();
        assert_eq!(store.get("b").unwrap().unwrap().turns, 7);
        assert_eq!(store.get("c").unwrap().unwrap().thread_id, "t-c");
        // Re-indented by hand: still read, and rewritten in our layout on the next change.
        let value: serde_json::Value =
            serde_json::from_slice(&fs::read(store.path()).unwrap()).unwrap();
        fs::write(store.path(), serde_json::to_string_pretty(&value).unwrap()).unwrap();
        assert!(read_lines(&fs::read(store.path()).unwrap()).is_none());
        assert_eq!(store.list().unwrap().len(), 3);
        store.remove(&["a".into()]).unwrap();
        assert!(read_lines(&fs::read(store.path()).unwrap()).is_some());
        let names: Vec<String> = store
            .list_summaries()
            .unwrap()
            .into_iter()
            .map(|s| s.unwrap().name)
            .collect();
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn a_file_of_another_shape_is_named_for_what_it_is_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        for (text, says) in [
            ("[]", "valid JSON, but not a spawncodex session store"),
            (
                "{\"sessions\": 3}",
                "valid JSON, but not a spawncodex session store",
            ),
            ("{\"sessions\": ", "not valid JSON"),
        ] {
            fs::write(&path, text).unwrap();
            let err = StoreFile::new(&path).get("a").unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
            assert!(!err.contains("RawFile"), "{err}");
            assert_eq!(fs::read_to_string(&path).unwrap(), text);
        }
    }

    #[test]
    fn valid_files_in_other_shapes_are_read_whole_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        let store = StoreFile::new(&path);
        for n in ["a", "b", "c"] {
            store
                .insert(
                    SessionRecord::new(n, &format!("t-{n}"), None, SessionOptions::default()),
                    false,
                )
                .unwrap();
        }
        let ours = fs::read_to_string(&path).unwrap();
        let _ = fs::remove_file(dir.path().join("sessions.json.lock"));
        // Two records joined on one line: valid JSON, so every session is still there.
        let joined = ours.replacen("},\n\"b\"", "},\"b\"", 1);
        assert_ne!(joined, ours);
        fs::write(&path, &joined).unwrap();
        let fresh = StoreFile::new(&path);
        assert_eq!(fresh.get("b").unwrap().unwrap().thread_id, "t-b");
        fresh.remove(&["a".into()]).unwrap();
        let names: Vec<String> = fresh.list().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        // A byte that is not UTF-8 inside a record: refused, and the file left as it is.
        let mut bad = fs::read(&path).unwrap();
        let at = bad.windows(3).position(|w| w == b"t-b").unwrap();
        bad[at] = 0xFF;
        // As an editor saves: a new file renamed over the old one.
        fs::write(dir.path().join("edited"), &bad).unwrap();
        fs::rename(dir.path().join("edited"), &path).unwrap();
        let fresh = StoreFile::new(&path);
        assert!(
            fresh
                .insert(
                    SessionRecord::new("d", "t", None, SessionOptions::default()),
                    false
                )
                .is_err()
        );
        assert_eq!(fs::read(&path).unwrap(), bad);
    }

    #[test]
    fn a_file_changed_after_our_write_is_checked_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreFile::new(dir.path().join("sessions.json"));
        store
            .insert(
                SessionRecord::new("a", "t", None, SessionOptions::default()),
                false,
            )
            .unwrap();
        // Our own version carries the stamp, so the next write skips the whole-file check.
        let id = store.current_id().unwrap().unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("sessions.json.lock")).unwrap(),
            id.stamp()
        );
        store
            .insert(
                SessionRecord::new("b", "t", None, SessionOptions::default()),
                false,
            )
            .unwrap();
        // Damaged by hand afterwards (same layout): refused, and left as it is.
        let damaged = fs::read_to_string(store.path())
            .unwrap()
            .replace("{\"name\":\"a\"", "{name:a");
        fs::write(store.path(), &damaged).unwrap();
        let fresh = StoreFile::new(dir.path().join("sessions.json"));
        assert!(
            fresh
                .insert(
                    SessionRecord::new("c", "t", None, SessionOptions::default()),
                    false
                )
                .is_err()
        );
        assert_eq!(fs::read_to_string(store.path()).unwrap(), damaged);
    }

    #[test]
    fn refuses_corrupt_and_newer_files_without_touching_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        for content in [
            &b"{not json"[..],
            b"{\"format\":\"spawncodex-sessions\",\"version\":1,\"sessions\":{\n\"a\":{this is not json}\n}}\n",
            br#"{"format":"spawncodex-sessions","version":99,"sessions":{}}"#,
            br#"{"a":"b"}"#,
        ] {
            fs::write(&path, content).unwrap();
            let store = StoreFile::new(&path);
            let err = store.insert(
                SessionRecord::new("x", "t", None, SessionOptions::default()),
                false,
            );
            assert!(matches!(
                err,
                Err(StoreError::Unreadable { .. } | StoreError::NewerVersion { .. })
            ));
            assert_eq!(fs::read(&path).unwrap(), content);
        }
    }
}
