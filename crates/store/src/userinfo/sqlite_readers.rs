//! Read-only SQLite connections used on the calling thread, for the hottest read (UserInfo).
//!
//! sqlx runs each SQLite connection on a thread of its own: a query is a message to that thread, a
//! wake-up there and another back. Under load that hop cost far more than the query: profiling
//! UserInfo at 256 connections put a third of the server's CPU in the connection threads and their
//! futex wake-ups, and under 3 % in SQLite itself. An indexed read of a few rows takes microseconds
//! of CPU, so it is cheaper to run it where the request already is.
//!
//! Safe to run on an async worker because, in WAL mode, a reader never waits for the writer. The
//! rare moments when SQLite still answers "busy" (a checkpoint restarting the log, recovery after a
//! crash) are not waited out on the worker: the caller gets [`ReadError::Busy`] and runs the query
//! through the async pool instead. Each query is its own read transaction, so it sees every write
//! committed before it, from this process or another.

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How long one of these reads may wait on a lock before giving up to the async pool.
const BUSY_TIMEOUT: Duration = Duration::from_millis(20);

/// How much of the database file the read connections map into memory. A page read through the
/// map is a memory access; without it, every page not in the connection's own 2 MiB cache is a
/// `pread` system call and a copy. On a database of many tenants (tens of megabytes, so most
/// pages miss that cache) this is the suspected cause of UserInfo costing about 8 µs more per
/// request (bench/README.md, "Tenants"; not yet confirmed on a quiet machine). Mapped pages are
/// the kernel's page cache, shared by every connection, so resident memory grows only by the
/// pages actually read. SQLite remaps when its own writers grow the file.
const MMAP_SIZE: i64 = 1 << 30;

/// Idle connections kept for reuse. Queries run on the calling thread and never across an
/// `.await`, so at most one connection per server worker thread is in use at a time.
const MAX_IDLE: usize = 8;

/// Why a read did not complete here.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// SQLite was busy or the connection could not be opened: run the query elsewhere.
    #[error("SQLite is busy: {0}")]
    Busy(rusqlite::Error),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// A small pool of read-only connections to one SQLite file.
#[derive(Debug)]
pub(crate) struct SqliteReaders {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteReaders {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on an idle connection (opening one when none is idle) on this thread.
    pub(crate) fn read<R>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> Result<R, ReadError> {
        let conn = match self.take() {
            Some(conn) => conn,
            None => self.open().map_err(ReadError::Busy)?,
        };
        match read(&conn) {
            Ok(value) => {
                self.put_back(conn);
                Ok(value)
            }
            Err(e) if is_busy(&e) => {
                self.put_back(conn);
                Err(ReadError::Busy(e))
            }
            // Dropped: a connection that failed otherwise is not trusted again.
            Err(e) => Err(ReadError::Sqlite(e)),
        }
    }

    /// Connections waiting for the next read.
    #[cfg(test)]
    pub(crate) fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn take(&self) -> Option<Connection> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "mmap_size", MMAP_SIZE)?;
        // The server's queries are few and fixed; keep every one of them prepared.
        conn.set_prepared_statement_cache_capacity(16);
        Ok(conn)
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);",
        )
        .expect("schema");
        (dir, path)
    }

    #[test]
    fn reads_reuse_one_connection_and_see_later_commits() {
        let (_dir, path) = database();
        let readers = SqliteReaders::new(&path);
        let count = |r: &SqliteReaders| {
            r.read(|c| c.query_row("SELECT count(*) FROM t", [], |row| row.get::<_, i64>(0)))
                .expect("read")
        };
        assert_eq!(count(&readers), 1);
        let writer = Connection::open(&path).expect("writer");
        writer
            .execute("INSERT INTO t VALUES (2)", [])
            .expect("insert");
        assert_eq!(count(&readers), 2, "each read is a fresh snapshot");
        assert_eq!(readers.idle(), 1);
    }

    #[test]
    fn connections_are_read_only() {
        let (_dir, path) = database();
        let readers = SqliteReaders::new(&path);
        let err = readers
            .read(|c| c.execute("INSERT INTO t VALUES (3)", []))
            .expect_err("a write through a reader");
        assert!(matches!(err, ReadError::Sqlite(_)), "{err:?}");
        assert_eq!(readers.idle(), 0, "not reused");
    }

    #[test]
    fn a_locked_database_is_reported_busy_not_waited_for() {
        let (_dir, path) = database();
        // A writer holding an exclusive lock in rollback-journal mode blocks readers.
        let writer = Connection::open(&path).expect("writer");
        writer
            .execute_batch("PRAGMA journal_mode=DELETE; BEGIN EXCLUSIVE; INSERT INTO t VALUES (4);")
            .expect("lock");
        let readers = SqliteReaders::new(&path);
        let started = std::time::Instant::now();
        let err = readers
            .read(|c| c.query_row("SELECT count(*) FROM t", [], |row| row.get::<_, i64>(0)))
            .expect_err("locked");
        assert!(matches!(err, ReadError::Busy(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
