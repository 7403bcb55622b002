//! Named sessions: a [`SessionStore`] trait, an in-memory store, and the JSON file store the CLI
//! uses, which never loses a session.

pub mod file;
pub mod import;
pub mod record;
pub mod sharded;
pub mod turn_lock;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use record::last_change_ms;

pub use record::{
    SessionOptions, SessionRecord, SessionSummary, TurnInput, TurnRecord, validate_name,
};
pub use sharded::FileStore;

/// The store format this build writes (and the newest it reads): 2 is a manifest and shard files
/// (see [`sharded`]); 1 was one file holding every session, still read and split on a change.
pub const FORMAT_VERSION: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "session store {path} cannot be read ({reason}); it was left untouched: fix or move it, or use --store FILE"
    )]
    Unreadable { path: PathBuf, reason: String },
    /// One record that does not decode; the file and its other sessions are still usable.
    #[error(
        "session {name:?} in {path} is malformed ({reason}); it was left as it is: fix it by hand, or remove it with `spawncodex sessions rm {name}`"
    )]
    Malformed {
        path: PathBuf,
        name: String,
        reason: String,
    },
    #[error(
        "session store {path} has format version {found}, newer than this spawncodex understands ({supported}); it was left untouched: upgrade spawncodex or use --store FILE"
    )]
    NewerVersion {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error(
        "session store {path} is locked by another spawncodex for more than {secs}s; try again"
    )]
    Locked { path: PathBuf, secs: u64 },
    #[error("session store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "session {0:?} already exists: continue it with `spawncodex resume --session {0}`, or start over with --replace"
    )]
    Exists(String),
    #[error(
        "session {0:?} is in use: another spawncodex is running a turn in it; wait for that turn to end, or use another session"
    )]
    Busy(String),
}

/// One session as `sessions list` reads it: its summary, or the error of a record that does not
/// decode ([`StoreError::Malformed`]).
pub type Listed = Result<SessionSummary, StoreError>;

/// Every session a store lists: the ones that decode, most recently used first, and the
/// malformed ones by name, so one bad record does not hide the others.
#[derive(Debug, Default)]
pub struct Listing {
    pub sessions: Vec<SessionSummary>,
    pub malformed: Vec<StoreError>,
}

impl Listing {
    fn from_listed(all: Vec<Listed>) -> Self {
        let mut listing = Listing::default();
        for listed in all {
            match listed {
                Ok(summary) => listing.sessions.push(summary),
                Err(e) => listing.malformed.push(e),
            }
        }
        listing.sessions.sort_by(|a, b| {
            last_change_ms(b.updated_at, b.updated_ms)
                .cmp(&last_change_ms(a.updated_at, a.updated_ms))
                .then_with(|| a.name.cmp(&b.name))
        });
        listing
            .malformed
            .sort_by(|a, b| a.session_name().cmp(&b.session_name()));
        listing
    }
}

/// The session a listed entry is about, decoded or not.
fn listed_name(listed: &Listed) -> &str {
    match listed {
        Ok(summary) => &summary.name,
        Err(e) => e.session_name().unwrap_or_default(),
    }
}

impl StoreError {
    /// The session this error is about, when it is about one.
    pub fn session_name(&self) -> Option<&str> {
        match self {
            StoreError::Malformed { name, .. }
            | StoreError::Exists(name)
            | StoreError::Busy(name) => Some(name),
            _ => None,
        }
    }
}

/// What [`SessionStore::remove`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal {
    /// Every name was there and is gone (each once, in the order given).
    Removed(Vec<String>),
    /// These names were not there, so nothing was removed.
    Missing(Vec<String>),
}

/// The all-or-nothing rule of [`SessionStore::remove`], given what is there.
fn plan_removal(names: &[String], is_there: impl Fn(&str) -> bool) -> Removal {
    // Each name once, in the order given.
    let mut seen = std::collections::HashSet::new();
    let once: Vec<String> = names
        .iter()
        .filter(|n| seen.insert(n.as_str()))
        .cloned()
        .collect();
    let missing: Vec<String> = once.iter().filter(|n| !is_there(n)).cloned().collect();
    if missing.is_empty() {
        Removal::Removed(once)
    } else {
        Removal::Missing(missing)
    }
}

/// Where sessions live. A reader never sees half a write, and two writers never lose each
/// other's changes. A change to one session is one consistent step; a change to many (`remove`,
/// `clear`, `merge`) may be made in several, one per part of the store (a shard of a
/// [`FileStore`]), so a crash can leave some of them done.
pub trait SessionStore {
    fn get(&self, name: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Every record, most recently updated first.
    fn list(&self) -> Result<Vec<SessionRecord>, StoreError>;
    /// Add a record; an existing name is an error unless `replace`.
    fn insert(&self, record: SessionRecord, replace: bool) -> Result<(), StoreError>;
    /// Change one record in place; `None` if there is no such name.
    fn update(
        &self,
        name: &str,
        change: &mut dyn FnMut(&mut SessionRecord),
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Remove these names, all or nothing: when one of them is not there, nothing is removed
    /// and the missing ones come back (see [`Removal`]).
    fn remove(&self, names: &[String]) -> Result<Removal, StoreError>;
    /// Remove everything; returns how many.
    fn clear(&self) -> Result<usize, StoreError>;
    /// Merge records. Without `force`, a name that exists already merges nothing at all (all or
    /// nothing) and comes back as skipped; with it, existing records are overwritten. Returns
    /// (added, skipped).
    fn merge(
        &self,
        records: Vec<SessionRecord>,
        force: bool,
    ) -> Result<(Vec<String>, Vec<String>), StoreError>;
}

/// A store in memory, for library users and tests.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<BTreeMap<String, SessionRecord>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SessionRecord>> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl SessionStore for MemoryStore {
    fn get(&self, name: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.lock().get(name).cloned())
    }

    fn list(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let mut all: Vec<SessionRecord> = self.lock().values().cloned().collect();
        sort_newest_first(&mut all);
        Ok(all)
    }

    fn insert(&self, record: SessionRecord, replace: bool) -> Result<(), StoreError> {
        let mut map = self.lock();
        if map.contains_key(&record.name) && !replace {
            return Err(StoreError::Exists(record.name));
        }
        map.insert(record.name.clone(), record);
        Ok(())
    }

    fn update(
        &self,
        name: &str,
        change: &mut dyn FnMut(&mut SessionRecord),
    ) -> Result<Option<SessionRecord>, StoreError> {
        let mut map = self.lock();
        Ok(map.get_mut(name).map(|r| {
            change(r);
            r.clone()
        }))
    }

    fn remove(&self, names: &[String]) -> Result<Removal, StoreError> {
        let mut map = self.lock();
        let removal = plan_removal(names, |n| map.contains_key(n));
        if let Removal::Removed(gone) = &removal {
            for name in gone {
                map.remove(name);
            }
        }
        Ok(removal)
    }

    fn clear(&self) -> Result<usize, StoreError> {
        let mut map = self.lock();
        let n = map.len();
        map.clear();
        Ok(n)
    }

    fn merge(
        &self,
        records: Vec<SessionRecord>,
        force: bool,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let mut map = self.lock();
        let taken: Vec<String> = records
            .iter()
            .filter(|r| map.contains_key(&r.name))
            .map(|r| r.name.clone())
            .collect();
        if !force && !taken.is_empty() {
            return Ok((Vec::new(), taken));
        }
        let added = records.iter().map(|r| r.name.clone()).collect();
        for r in records {
            map.insert(r.name.clone(), r);
        }
        Ok((added, Vec::new()))
    }
}

pub(crate) fn sort_newest_first(records: &mut [SessionRecord]) {
    records.sort_by(|a, b| {
        last_change_ms(b.updated_at, b.updated_ms)
            .cmp(&last_change_ms(a.updated_at, a.updated_ms))
            .then_with(|| a.name.cmp(&b.name))
    });
}
