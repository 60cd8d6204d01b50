//! Waits Kratos asks for with `Retry-After` (on a 429 or 503).
//!
//! A command (backfill, reconcile, the write-back worker) waits as asked, at
//! most [`MAX_WAIT`] per wait. A request runs [`within`] its time budget: it
//! waits only when the wait and one more attempt fit in what is left, and
//! otherwise gives up at once, handing the asked wait back to the caller.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// The longest single wait a command honours.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

struct Budget {
    deadline: Instant,
    /// The last wait Kratos asked for that was not waited.
    refused: Mutex<Option<Duration>>,
}

tokio::task_local! {
    static BUDGET: Budget;
}

/// Runs `work` as a request that must end by `deadline`; returns its output
/// and, when Kratos asked for a wait the budget could not hold, that wait.
pub async fn within<F: Future>(deadline: Instant, work: F) -> (F::Output, Option<Duration>) {
    let budget = Budget {
        deadline,
        refused: Mutex::new(None),
    };
    BUDGET
        .scope(budget, async {
            let output = work.await;
            let refused = BUDGET.with(|budget| {
                *budget
                    .refused
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
            });
            (output, refused)
        })
        .await
}

/// How long to wait before the next attempt when Kratos asked for `asked`,
/// or `None` to give up now.
pub(super) fn wait(asked: Duration, attempt_timeout: Duration) -> Option<Duration> {
    match BUDGET.try_with(|budget| budget.deadline) {
        Ok(deadline) => {
            if Instant::now() + asked + attempt_timeout <= deadline {
                Some(asked)
            } else {
                refuse(Some(asked));
                None
            }
        }
        Err(_) => Some(asked.min(MAX_WAIT)),
    }
}

/// Records (or, with `None`, forgets) a wait that will not be waited.
pub(super) fn refuse(asked: Option<Duration>) {
    let _ = BUDGET.try_with(|budget| {
        *budget
            .refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = asked;
    });
}

/// `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = httpdate::parse_http_date("Mon, 30 Nov 2026 16:00:00 GMT").unwrap();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Mon, 30 Nov 2026 16:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Mon, 30 Nov 2026 15:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[tokio::test]
    async fn outside_a_request_waits_are_capped_at_a_minute() {
        let second = Duration::from_secs(1);
        assert_eq!(
            wait(Duration::from_secs(5), second),
            Some(Duration::from_secs(5))
        );
        assert_eq!(wait(Duration::from_secs(600), second), Some(MAX_WAIT));
    }

    #[tokio::test]
    async fn a_request_waits_only_when_the_wait_and_an_attempt_fit_its_budget() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let ((fits, too_long), refused) = within(deadline, async {
            (
                wait(Duration::from_secs(2), Duration::from_secs(1)),
                wait(Duration::from_secs(9), Duration::from_secs(2)),
            )
        })
        .await;
        assert_eq!(fits, Some(Duration::from_secs(2)));
        assert_eq!(too_long, None);
        assert_eq!(refused, Some(Duration::from_secs(9)));
    }
}
