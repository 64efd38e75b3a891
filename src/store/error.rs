//! What a failed database call means for the caller, decided in one place. A failure to reach
//! or use the database that is not the request's fault is `Unavailable` (the HTTP layer answers
//! 503 with `Retry-After`), whatever form it takes: a refused connection, a terminated
//! session, a read-only server after a failover, a database dropped or not yet migrated.
//! Only what is our own doing (bad SQL, a decode error, a missing column) is a `Query` error,
//! answered 500 and logged as a bug. Errors are classified by what their code means (the
//! SQLSTATE class, PostgreSQL's appendix A; SQLite's primary result code), not by a short list.

/// A database call that failed, as the layers above see it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or used right now: callers answer 503 and try again later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("database error: {0}")]
    Query(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("unsupported database URL (expected postgres://… or sqlite:…)")]
    UnsupportedUrl,
}

/// Whose fault a failed call is, and whether the connection it ran on can be trusted again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// Our query, our rows or the request's data: a bug or a conflict, not an outage.
    Ours,
    /// The database cannot serve right now; the session it ran on is sound.
    Unavailable,
    /// The database cannot serve on this session, and other sessions opened as long ago are
    /// suspect too: the pools retire them (see `recycle`).
    BadSession,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return Self::Conflict(db.constraint().unwrap_or("row").to_owned());
        }
        match fault(&e) {
            Fault::Unavailable | Fault::BadSession => Self::Unavailable(e.to_string()),
            Fault::Ours => Self::Query(e.to_string()),
        }
    }
}

pub(super) fn fault(e: &sqlx::Error) -> Fault {
    use sqlx::Error as E;
    match e {
        E::Database(db) => {
            let code = db.code().unwrap_or_default();
            // The `Any` driver hands the backend's own error through.
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                sqlite_fault(&code)
            } else {
                postgres_fault(&code)
            }
        }
        // The link broke (reset, EOF, broken pipe, TLS), or the bytes on it stopped making
        // sense (`Protocol`: an unexpected message or length, a cut or desynchronised stream);
        // nothing more can be sent on that connection. A crashed SQLite worker is its
        // connection's thread.
        E::Io(_) | E::Tls(_) | E::Protocol(_) | E::WorkerCrashed => Fault::BadSession,
        // No connection in time (the server is down, slow or full), or the pool is shutting
        // down with the process.
        E::PoolTimedOut | E::PoolClosed => Fault::Unavailable,
        // The rest describe our query or our rows: Configuration, RowNotFound, TypeNotFound,
        // ColumnIndexOutOfBounds, ColumnNotFound, ColumnDecode, Encode, Decode,
        // AnyDriverError, Migrate, InvalidArgument, BeginFailed.
        _ => Fault::Ours,
    }
}

/// A PostgreSQL SQLSTATE, by class (its first two characters) where the whole class has one
/// meaning for us, by code where a class mixes outages with our own mistakes.
fn postgres_fault(sqlstate: &str) -> Fault {
    let class = sqlstate.get(..2).unwrap_or_default();
    match (class, sqlstate) {
        // 08 connection exception: the connection failed or was never made.
        ("08", _) => Fault::BadSession,
        // 57P01 admin_shutdown (pg_terminate_backend, a fast shutdown), 57P02 crash_shutdown,
        // 57P04 database_dropped, 57P05 idle_session_timeout: the server ended the session.
        (_, "57P01" | "57P02" | "57P04" | "57P05") => Fault::BadSession,
        // The rest of 57 operator intervention: 57P03 cannot_connect_now (starting up, in
        // recovery), 57014 query_canceled (a statement timeout or a cancel): the session lives.
        ("57", _) => Fault::Unavailable,
        // 25006 read_only_sql_transaction: the session was opened read-only (a standby, or
        // `default_transaction_read_only` after a failover) and stays so after the server is
        // writable again. 25P02 in_failed_sql_transaction, 25P03
        // idle_in_transaction_session_timeout: the session's transaction is broken or ended.
        // The rest of 25 (a transaction begun twice, …) is our own sequencing.
        (_, "25006" | "25P02" | "25P03") => Fault::BadSession,
        // 3D000 invalid_catalog_name: the database is gone (dropped, perhaps to be re-created
        // under its name); sessions to the old one are dead.
        (_, "3D000") => Fault::BadSession,
        // 28 invalid authorization specification: the server refuses our role (a rotated
        // password, pg_hba.conf on a new primary). Not the request's doing, and it heals when
        // the operator fixes it; start-up still fails loudly on it.
        ("28", _) => Fault::Unavailable,
        // 53 insufficient resources: disk full, out of memory, too many connections.
        ("53", _) => Fault::Unavailable,
        // 55 object not in prerequisite state: 55000 the database does not accept connections
        // (ALLOW_CONNECTIONS false), 55006 object in use, 55P03 lock not available. Each is a
        // state of the server that passes.
        ("55", _) => Fault::Unavailable,
        // 40002 transaction_integrity_constraint_violation is a deferred constraint: the data's
        // doing, like class 23.
        (_, "40002") => Fault::Ours,
        // 40 transaction rollback: serialization failure, deadlock, statement completion
        // unknown. Transient by definition: the same call again succeeds.
        ("40", _) => Fault::Unavailable,
        // 58 system error: an I/O error or a file missing under the server.
        ("58", _) => Fault::Unavailable,
        // 42P01 undefined_table: the schema is migrated at start-up, so a missing table later
        // means the database was replaced under us (re-created, restored empty) and its
        // migrations have not run yet. Other class-42 errors (syntax, undefined column) are bugs.
        (_, "42P01") => Fault::Unavailable,
        // Everything else (23 integrity, 22 data, 42 syntax, XX internal, …) is about the query
        // or the data, or is not transient: 500, logged.
        _ => Fault::Ours,
    }
}

/// A SQLite extended result code, as sqlx reports it (`code()` is its decimal string); the low
/// byte is the primary code.
fn sqlite_fault(code: &str) -> Fault {
    let Ok(extended) = code.parse::<i32>() else {
        return Fault::Ours;
    };
    match extended & 0xff {
        // SQLITE_BUSY, SQLITE_LOCKED: another connection or process held the lock past
        // busy_timeout. SQLITE_PROTOCOL: a race in the file-locking protocol.
        5 | 6 | 15 => Fault::Unavailable,
        // SQLITE_NOMEM, SQLITE_FULL: out of memory or disk.
        7 | 13 => Fault::Unavailable,
        // SQLITE_READONLY (incl. READONLY_DBMOVED: the file was replaced), SQLITE_IOERR,
        // SQLITE_CANTOPEN: the file under this connection changed or failed; a new connection
        // opens it afresh.
        8 | 10 | 14 => Fault::BadSession,
        // SQLITE_CONSTRAINT (other than unique), SQLITE_ERROR (our SQL), SQLITE_CORRUPT, …
        _ => Fault::Ours,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_outages_are_unavailable_by_class() {
        for code in [
            "08000", "08001", "08003", "08006", "08P01", // connection exception
            "57P01", "57P02", "57P04", "57P05", // the server ended the session
            "25006", "25P02", "25P03", // read-only or broken session
            "3D000", // the database is gone
        ] {
            assert_eq!(postgres_fault(code), Fault::BadSession, "{code}");
        }
        for code in [
            "57000", "57014", "57P03", // operator intervention
            "28000", "28P01", // our role refused
            "53000", "53100", "53200", "53300", "53400", // insufficient resources
            "55000", "55006", "55P03", // not in prerequisite state
            "40000", "40001", "40003", "40P01", // transaction rollback
            "58000", "58030", "58P01", // system error
            "42P01", // the schema is not there (yet)
        ] {
            assert_eq!(postgres_fault(code), Fault::Unavailable, "{code}");
        }
    }

    #[test]
    fn postgres_errors_of_our_own_making_stay_ours() {
        for code in [
            "23505", "23503", "23502", // integrity (unique is told apart before)
            "22P02", "22001", // data exceptions
            "42601", "42703", "42883", // syntax, undefined column, undefined function
            "25001", "25P01", // transaction sequencing
            "40002", // a deferred constraint
            "XX000", "XX001", // internal error, corruption: not transient
            "P0001", "0A000", "", "4",
        ] {
            assert_eq!(postgres_fault(code), Fault::Ours, "{code:?}");
        }
    }

    #[test]
    fn sqlite_outages_are_unavailable_by_primary_code() {
        // BUSY, BUSY_SNAPSHOT, LOCKED, LOCKED_SHAREDCACHE, NOMEM, FULL, PROTOCOL
        for code in ["5", "517", "6", "262", "7", "13", "15"] {
            assert_eq!(sqlite_fault(code), Fault::Unavailable, "{code}");
        }
        // READONLY, READONLY_DBMOVED, IOERR, IOERR_READ, IOERR_SHORT_READ, CANTOPEN
        for code in ["8", "1032", "10", "266", "522", "14"] {
            assert_eq!(sqlite_fault(code), Fault::BadSession, "{code}");
        }
        // ERROR, CORRUPT, CONSTRAINT_NOTNULL, CONSTRAINT_UNIQUE (told apart before), NOTADB
        for code in ["1", "11", "1299", "2067", "26", "", "x"] {
            assert_eq!(sqlite_fault(code), Fault::Ours, "{code:?}");
        }
    }

    #[test]
    fn broken_links_are_bad_sessions_and_our_mistakes_are_queries() {
        let io = || sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into());
        assert_eq!(fault(&io()), Fault::BadSession);
        assert_eq!(
            fault(&sqlx::Error::Protocol("unexpected message".into())),
            Fault::BadSession
        );
        assert_eq!(fault(&sqlx::Error::PoolTimedOut), Fault::Unavailable);
        assert_eq!(fault(&sqlx::Error::PoolClosed), Fault::Unavailable);
        assert!(matches!(StoreError::from(io()), StoreError::Unavailable(_)));
        for ours in [
            sqlx::Error::RowNotFound,
            sqlx::Error::ColumnNotFound("x".into()),
            sqlx::Error::Decode("not an integer".into()),
        ] {
            assert_eq!(fault(&ours), Fault::Ours);
            assert!(matches!(StoreError::from(ours), StoreError::Query(_)));
        }
    }
}
