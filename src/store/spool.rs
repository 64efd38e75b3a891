//! The on-disk spool: what the database could not take (audit events during an outage, usage
//! counts when the server stops during one) waits here as JSON lines, fsynced before anyone is
//! told it is safe, and is written to the database when it is back — also after a restart.
//!
//! Bounded: past `max_bytes` an append is refused, and the caller refuses the work that would
//! have produced the record (503) rather than lose the record.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpoolFile {
    Audit,
    Usage,
}

impl SpoolFile {
    fn name(self) -> &'static str {
        match self {
            Self::Audit => "audit.jsonl",
            Self::Usage => "usage.jsonl",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the spool is full ({0} bytes)")]
    Full(u64),
    #[error("spool i/o: {0}")]
    Io(#[from] io::Error),
}

#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    max_bytes: u64,
    /// Serialises appends, reads and clears of both files.
    lock: Mutex<()>,
}

impl Spool {
    /// Opens (creating it if need be) the spool directory, only readable by its owner.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                max_bytes,
                lock: Mutex::new(()),
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Bytes waiting in the spool, both files together.
    pub fn bytes(&self) -> u64 {
        [SpoolFile::Audit, SpoolFile::Usage]
            .iter()
            .filter_map(|f| std::fs::metadata(self.inner.dir.join(f.name())).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Appends `items` as lines and fsyncs: when this returns Ok they survive a crash.
    pub async fn append<T: Serialize>(
        &self,
        file: SpoolFile,
        items: &[T],
    ) -> Result<(), SpoolError> {
        let mut text = Vec::new();
        for item in items {
            serde_json::to_writer(&mut text, item).map_err(io::Error::other)?;
            text.push(b'\n');
        }
        let spool = self.clone();
        blocking(move || {
            let inner = &spool.inner;
            let _held = inner
                .lock
                .lock()
                .map_err(|_| io::Error::other("spool lock poisoned"))?;
            let used = spool.bytes();
            if used + text.len() as u64 > inner.max_bytes {
                return Err(SpoolError::Full(used));
            }
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(inner.dir.join(file.name()))?;
            f.write_all(&text)?;
            f.sync_data()?;
            Ok(())
        })
        .await
    }

    /// Everything in `file`. A last line cut short by a crash mid-append is skipped (it was
    /// never reported as written).
    pub async fn read<T: DeserializeOwned + Send + 'static>(
        &self,
        file: SpoolFile,
    ) -> io::Result<Vec<T>> {
        let spool = self.clone();
        blocking(move || {
            let _held = spool
                .inner
                .lock
                .lock()
                .map_err(|_| io::Error::other("spool lock poisoned"))?;
            let f = match File::open(spool.inner.dir.join(file.name())) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let mut out = Vec::new();
            for line in BufReader::new(f).lines() {
                match serde_json::from_str(&line?) {
                    Ok(item) => out.push(item),
                    Err(e) => tracing::warn!(error = %e, "skipping a torn spool line"),
                }
            }
            Ok(out)
        })
        .await
    }

    /// Empties `file` once its contents are in the database.
    pub async fn clear(&self, file: SpoolFile) -> io::Result<()> {
        let spool = self.clone();
        blocking(move || {
            let _held = spool
                .inner
                .lock
                .lock()
                .map_err(|_| io::Error::other("spool lock poisoned"))?;
            match std::fs::remove_file(spool.inner.dir.join(file.name())) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
        .await
    }

    pub fn has(&self, file: SpoolFile) -> bool {
        std::fs::metadata(self.inner.dir.join(file.name())).is_ok_and(|m| m.len() > 0)
    }
}

/// File work off the async workers: an fsync can take milliseconds.
async fn blocking<T: Send + 'static, E: From<io::Error> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| E::from(io::Error::other(e)))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> PathBuf {
        std::env::temp_dir().join(format!("tollgate-spool-test-{}", uuid::Uuid::new_v4()))
    }

    #[tokio::test]
    async fn appends_survive_reopening_and_clear_empties() {
        let dir = temp();
        let spool = Spool::open(&dir, 1 << 20).unwrap();
        spool.append(SpoolFile::Usage, &[1, 2]).await.unwrap();
        spool.append(SpoolFile::Usage, &[3]).await.unwrap();
        let again = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(
            again.read::<i32>(SpoolFile::Usage).await.unwrap(),
            [1, 2, 3]
        );
        assert!(
            again
                .read::<i32>(SpoolFile::Audit)
                .await
                .unwrap()
                .is_empty()
        );
        again.clear(SpoolFile::Usage).await.unwrap();
        assert!(!again.has(SpoolFile::Usage));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_full_spool_refuses_and_keeps_what_it_has() {
        let dir = temp();
        let spool = Spool::open(&dir, 10).unwrap();
        spool.append(SpoolFile::Audit, &["abc"]).await.unwrap();
        assert!(matches!(
            spool.append(SpoolFile::Audit, &["0123456789"]).await,
            Err(SpoolError::Full(6))
        ));
        assert_eq!(
            spool.read::<String>(SpoolFile::Audit).await.unwrap(),
            ["abc"]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_torn_last_line_is_skipped() {
        let dir = temp();
        let spool = Spool::open(&dir, 1 << 20).unwrap();
        spool.append(SpoolFile::Audit, &[7]).await.unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join("audit.jsonl"))
            .unwrap();
        f.write_all(b"{\"trunc").unwrap();
        assert_eq!(spool.read::<i32>(SpoolFile::Audit).await.unwrap(), [7]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
