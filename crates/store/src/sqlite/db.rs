//! SQLite plumbing: one writer thread with group commit, and a pool of readers.
//!
//! SQLite allows one writer at a time. Rather than let request tasks fight for
//! the write lock, every write is a job sent to a single writer thread. The
//! thread takes whatever jobs are queued (up to `MAX_BATCH`), runs each inside
//! its own savepoint of one `BEGIN IMMEDIATE` transaction, commits once with
//! `synchronous=FULL`, and only then answers each job. Concurrent requests
//! therefore share one fsync (group commit) while each keeps its own
//! all-or-nothing semantics: a job that fails is rolled back to its savepoint
//! and nothing it wrote survives. No caller learns of success before the
//! commit is durable.
//!
//! Reads run on a small pool of connections in `spawn_blocking`; WAL mode lets
//! them proceed while the writer commits.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex};

use hookd_core::store::StoreError;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::hub::Hub;

const MAX_BATCH: usize = 512;

/// One queued write: run inside the batch transaction, then told how the commit went.
trait WriteJob: Send {
    /// Runs the job; `false` means it failed and its savepoint is rolled back.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Delivers the outcome once the batch commit is known.
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
}

struct TypedJob<T, F> {
    f: Option<F>,
    result: Option<Result<T, StoreError>>,
    tx: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> WriteJob for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else { return false };
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(conn)))
            .unwrap_or_else(|_| Err(StoreError::backend("write job panicked")));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let outcome = match (commit, self.result) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(r)) => r,
            (Ok(()), None) => Err(StoreError::backend("write job did not run")),
        };
        let _ = self.tx.send(outcome);
    }
}

type Job = Box<dyn WriteJob>;

/// Handle to the database; cheap to clone. Every operation goes through
/// [`Db::read`] or [`Db::write`], which time it for the hub's observer.
#[derive(Clone)]
pub struct Db {
    writer: mpsc::UnboundedSender<Job>,
    readers: Arc<ReaderPool>,
    pub(crate) hub: Arc<Hub>,
}

struct ReaderPool {
    conns: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::backend_from("SQLite", e)
}

fn open(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags).map_err(db_err)?;
    // busy_timeout matters when another process (the `hookd token` CLI) writes
    // to the same file while the server runs.
    conn.execute_batch(
        "PRAGMA busy_timeout = 10000;
         PRAGMA foreign_keys = ON;
         PRAGMA synchronous = FULL;",
    )
    .map_err(db_err)?;
    Ok(conn)
}

impl Db {
    /// Opens (creating if needed) the database file, applies migrations,
    /// runs `prepare` on the writer connection (start-up work before any
    /// request) and starts the writer thread. Must be called inside a Tokio runtime.
    pub(crate) fn open(
        path: &Path,
        readers: usize,
        hub: Hub,
        prepare: impl FnOnce(&Connection, &Hub) -> Result<(), StoreError>,
    ) -> Result<Db, StoreError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::backend_from(format!("cannot create directory {}", dir.display()), e)
            })?;
        }
        let writer_conn = open(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        writer_conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(db_err)?;
        super::migrations::apply(&writer_conn)?;
        prepare(&writer_conn, &hub)?;

        let mut conns = Vec::with_capacity(readers);
        for _ in 0..readers.max(1) {
            let c = open(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
            conns.push(c);
        }
        let n = conns.len();
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("hookd-sqlite-writer".into())
            .spawn(move || writer_loop(writer_conn, rx))
            .map_err(|e| StoreError::backend_from("cannot start the writer thread", e))?;
        Ok(Db {
            hub: Arc::new(hub),
            writer: tx,
            readers: Arc::new(ReaderPool {
                conns: Mutex::new(conns),
                permits: Semaphore::new(n),
            }),
        })
    }

    /// Runs `f` inside the shared write transaction; its effects are durable
    /// when this returns `Ok`, and absent entirely when it returns `Err`.
    pub async fn write<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.hub.timed(op, self.write_untimed(f)).await
    }

    async fn write_untimed<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(TypedJob {
            f: Some(f),
            result: None,
            tx,
        });
        self.writer
            .send(job)
            .map_err(|_| StoreError::unavailable("the database writer has stopped"))?;
        rx.await
            .map_err(|_| StoreError::unavailable("the database writer has stopped"))?
    }

    /// Runs `f` on a reader connection, off the async runtime.
    pub async fn read<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.hub.timed(op, self.read_untimed(f)).await
    }

    async fn read_untimed<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        let _permit = pool
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::unavailable("reader pool closed"))?;
        let pool2 = pool.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool2
                .conns
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()
                .ok_or_else(|| StoreError::backend("reader pool empty"))?;
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(&conn)))
                .unwrap_or_else(|_| Err(StoreError::backend("read job panicked")));
            pool2
                .conns
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
            result
        })
        .await
        .map_err(|e| StoreError::backend_from("read task failed", e))?
    }
}

fn writer_loop(conn: Connection, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, &mut batch);
    }
}

fn run_batch(conn: &Connection, batch: &mut Vec<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let err = db_err(e);
        for job in batch.drain(..) {
            job.finish(Err(err.clone()));
        }
        return;
    }
    let mut done: Vec<Job> = Vec::with_capacity(batch.len());
    for mut job in batch.drain(..) {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            tracing::error!(error = %e, "savepoint failed");
            done.push(job);
            continue;
        }
        let ok = job.run(conn);
        let end = if ok {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        if let Err(e) = conn.execute_batch(end) {
            tracing::error!(error = %e, "savepoint release failed");
        }
        done.push(job);
    }
    let commit = conn.execute_batch("COMMIT").map_err(db_err);
    if commit.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for job in done {
        job.finish(commit.clone());
    }
}
