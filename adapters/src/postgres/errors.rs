//! Driver errors in the store's terms: what is the database being
//! unavailable (503 `database_unavailable`), what a fresh session may get
//! past, and which unique constraint a statement violated.

use deadpool_postgres::PoolError;
use identity_link_ports::StoreError;
use tokio_postgres::error::SqlState;

/// SQLSTATEs that say the session, not the statement, failed: a fresh
/// session may succeed. Class 08 (connection exceptions) is matched by prefix.
const SESSION_CODES: [SqlState; 6] = [
    // The server shuts down, crashed, or is starting (a restart, a failover).
    SqlState::ADMIN_SHUTDOWN,
    SqlState::CRASH_SHUTDOWN,
    SqlState::CANNOT_CONNECT_NOW,
    // A write reached a read-only server: after a failover the address now
    // leads to a standby (or the old primary, demoted).
    SqlState::READ_ONLY_SQL_TRANSACTION,
    // The server aborted the transaction to let others through.
    SqlState::T_R_SERIALIZATION_FAILURE,
    SqlState::T_R_DEADLOCK_DETECTED,
];

/// Whether `code` says the session failed rather than the statement.
pub(crate) fn is_session_code(code: &SqlState) -> bool {
    code.code().starts_with("08") || SESSION_CODES.contains(code)
}

/// Whether `error` is the session failing (see [`SESSION_CODES`]) or the
/// connection being gone (closed, reset, timed out): worth one more attempt
/// on a fresh connection where the work is safe to repeat.
pub(crate) fn session_failed(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        Some(code) => is_session_code(code),
        None => {
            error.is_closed()
                || std::error::Error::source(error)
                    .is_some_and(|source| source.is::<std::io::Error>())
        }
    }
}

fn is_unavailable(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        None => true,
        Some(code) => {
            is_session_code(code)
                || *code == SqlState::TOO_MANY_CONNECTIONS
                || *code == SqlState::QUERY_CANCELED
        }
    }
}

/// Maps a driver error to the store's failure kinds.
pub fn store_error(error: tokio_postgres::Error) -> StoreError {
    if is_unavailable(&error) {
        StoreError::Unavailable(error.to_string())
    } else {
        StoreError::Unknown(anyhow::Error::new(error).context("database query failed"))
    }
}

/// Maps a pool error to the store's failure kinds.
pub fn pool_error(error: PoolError) -> StoreError {
    match error {
        PoolError::Backend(error) => store_error(error),
        PoolError::Timeout(_) => {
            StoreError::Unavailable("timed out waiting for a connection".into())
        }
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// The unique index of the normalised email (`users.email_normalized`): "email taken".
pub const EMAIL_KEY: &str = "users_email_key";
/// The unique constraint of `users.auth_id`: "identity linked elsewhere".
pub const AUTH_ID_KEY: &str = "users_auth_id_key";

/// The name of the unique constraint a statement violated, if that is how it failed.
pub fn violated_constraint(error: &tokio_postgres::Error) -> Option<&str> {
    (error.code() == Some(&SqlState::UNIQUE_VIOLATION))
        .then(|| error.as_db_error().and_then(|db| db.constraint()))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failovers_deadlocks_serialization_failures_and_shutdowns_are_session_failures() {
        for code in [
            "25006", "40001", "40P01", "57P01", "57P02", "57P03", "08000", "08003", "08006",
            "08001", "08004", "08P01",
        ] {
            assert!(
                is_session_code(&SqlState::from_code(code)),
                "{code} is a failure of the session"
            );
        }
    }

    #[test]
    fn statement_errors_are_not_session_failures() {
        for code in [
            "23505", "23503", "42P01", "42703", "22P02", "53300", "57014", "25P02",
        ] {
            assert!(
                !is_session_code(&SqlState::from_code(code)),
                "{code} is the statement's own failure"
            );
        }
    }
}
