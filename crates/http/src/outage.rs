//! Every API request answers within the deadline while the database is failing or coming back
//! (see `app`'s `deadline.rs`): a request's steps (a look-up, a command, a read) each wait for a
//! connection on their own, so only a bound on the whole keeps its 503 within a second.

use crate::error::ApiError;
use app::Deadline;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Its state is the deadline alone: the API's whole state would be cloned for every request.
pub async fn answer_in_time(
    State(deadline): State<Deadline>,
    request: Request,
    next: Next,
) -> Response {
    match deadline.run(next.run(request)).await {
        Ok(response) => response,
        Err(error) => ApiError::from(error).into_response(),
    }
}
